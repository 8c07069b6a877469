"""bert_edu.train.common and bert_edu.train.device: the schedule equals transformers', mixed precision is
chosen as documented (bf16 only where native), random states (CUDA included) round-trip, every process
gets its own stream, checkpoints are written atomically, and the command-line helpers."""

import argparse
import random

import pytest
import torch

from bert_edu.train import common, device as device_module


def test_schedule_is_transformers_linear_schedule_with_warmup():
    from transformers import get_linear_schedule_with_warmup

    for warmup, total in [(0, 10), (3, 10), (10, 10), (7, 100), (1, 2)]:
        ours_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
        theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
        ours = common.linear_warmup_decay(ours_opt, warmup, total)
        theirs = get_linear_schedule_with_warmup(theirs_opt, warmup, total)
        lrs = []
        for _ in range(total + 2):
            assert ours.get_last_lr() == theirs.get_last_lr(), (warmup, total, len(lrs))
            lrs.append(ours.get_last_lr()[0])
            ours_opt.step(), theirs_opt.step(), ours.step(), theirs.step()
        assert lrs[warmup] == pytest.approx(0.5 if warmup < total else 0.0) and lrs[total] == 0.0  # peak, end
    with pytest.raises(ValueError, match="warmup_steps"):
        common.linear_warmup_decay(ours_opt, 11, 10)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Pretend to have a CUDA GPU of a given compute capability (the dtype choice only asks for that)."""
    def use(capability):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: f"a GPU {capability}")
    return use


def test_bf16_only_where_native(fake_gpu):
    cuda, dtype = torch.device("cuda"), device_module.autocast_dtype
    fake_gpu((8, 0))  # A100, H100, RTX 30xx: bf16 tensor cores
    assert dtype(cuda) == dtype(cuda, "bf16") == torch.bfloat16
    assert dtype(cuda, "fp16") == torch.float16 and dtype(cuda, "no") is None
    fake_gpu((7, 5))  # T4 (V100 is 7.0): bf16 only emulated, so auto picks fp16 (+ a grad scaler)
    assert dtype(cuda) == dtype(cuda, "fp16") == torch.float16
    with pytest.raises(ValueError, match="no native bf16"):
        dtype(cuda, "bf16")


def test_no_mixed_precision_off_cuda():
    for name in ("cpu", "mps"):
        assert device_module.autocast_dtype(torch.device(name)) is None
        assert device_module.autocast_dtype(torch.device(name), "no") is None
        with pytest.raises(ValueError, match="needs a CUDA GPU"):
            device_module.autocast_dtype(torch.device(name), "fp16")
    with pytest.raises(ValueError, match="must be one of"):
        device_module.autocast_dtype(torch.device("cpu"), "fp8")
    assert not common.make_grad_scaler("cpu").is_enabled()
    assert isinstance(common.autocast("cpu", "no"), type(common.autocast("cpu")))


def test_each_rank_draws_its_own_stream():
    draws = []
    for rank in (0, 1, 0):
        common.set_seed(7, rank)
        draws.append((torch.rand(3), random.random()))
    assert torch.equal(draws[0][0], draws[2][0]) and draws[0][1] == draws[2][1]  # reproducible
    assert not torch.equal(draws[0][0], draws[1][0]) and draws[0][1] != draws[1][1]  # rank 1: other masks
    common.set_seed(7)
    assert torch.equal(torch.rand(3), draws[0][0])  # rank 0 is the plain seed: one process is unchanged


def test_random_state_round_trip_includes_cuda(monkeypatch):
    common.set_seed(3)
    state = common.rng_state("cpu")
    assert "cuda" not in state
    expected = (torch.rand(2), random.random())
    torch.rand(5), random.random()  # move on
    common.set_rng_state(state, "cpu")
    assert torch.equal(torch.rand(2), expected[0]) and random.random() == expected[1]
    # on a GPU the device's generator is saved and restored too (it draws the dropout masks there)
    calls = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: torch.tensor([1, 2, 3], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: calls.append((s.tolist(), str(device))))
    gpu_state = common.rng_state("cuda:1")
    assert gpu_state["cuda"].tolist() == [1, 2, 3]
    common.set_rng_state(gpu_state, "cuda:1")
    assert calls == [([1, 2, 3], "cuda:1")]


def test_atomic_folder_never_leaves_a_mixed_checkpoint(tmp_path):
    out = tmp_path / "ckpt"
    with common.atomic_folder(out) as tmp:
        (tmp / "weights").write_text("step 1")
        (tmp / "state").write_text("step 1")
    (out / "notes.txt").write_text("the learner's own file")
    with pytest.raises(RuntimeError):
        with common.atomic_folder(out) as tmp:
            (tmp / "weights").write_text("step 2")
            raise RuntimeError("killed while writing the optimiser state")
    assert (out / "weights").read_text() == (out / "state").read_text() == "step 1"  # the old save, whole
    with common.atomic_folder(out) as tmp:
        (tmp / "weights").write_text("step 3")
        (tmp / "state").write_text("step 3")
    assert (out / "weights").read_text() == (out / "state").read_text() == "step 3"
    assert (out / "notes.txt").read_text() == "the learner's own file"  # files we did not write are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary folder left behind


def test_skip_input_checks_switches_every_bert_off_and_on():
    from bert_edu import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16, num_labels=2))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[1, 25]]))
    common.skip_input_checks(model)
    assert model.bert.check_inputs is False
    common.skip_input_checks(model, False)
    assert model.bert.check_inputs is True


def test_help_shows_every_default():
    p = argparse.ArgumentParser(formatter_class=common.HelpFormatter)
    p.add_argument("--lr", type=float, default=1e-3)  # no help text: still shows its default
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", help="output folder")  # default None: nothing to show
    p.add_argument("--fast", action="store_true", help="go fast")
    common.add_mixed_precision_argument(p)
    text = " ".join(p.format_help().split())
    assert "--lr LR (default: 0.001)" in text and "random seed (default: 0)" in text
    assert "(default: auto)" in text and "{auto,no,fp16,bf16}" in text
    assert "default: None" not in text and "default: False" not in text
    assert p.parse_args(["--mixed-precision", "bf16"]).mixed_precision == "bf16"


def test_the_suite_limits_torch_threads():
    """tests/conftest.py's promise: torch uses at most 4 threads here, unless OMP_NUM_THREADS decides."""
    import os

    limit = int(os.environ.get("OMP_NUM_THREADS", 4))
    assert torch.get_num_threads() <= limit
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"


def test_make_optimizer_is_fused_only_on_cuda(monkeypatch):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    optimizer = common.make_optimizer(model, 1e-3)
    assert not optimizer.defaults.get("fused"), "CPU parameters: the default foreach AdamW"
    assert [len(g["params"]) for g in optimizer.param_groups] == [1, 3]
    seen = {}
    monkeypatch.setattr(torch.optim, "AdamW", lambda groups, **kw: seen.update(kw))
    common.make_optimizer(model, 1e-3, fused=True)
    assert seen.get("fused") is True

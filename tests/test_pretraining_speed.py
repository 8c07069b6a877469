"""The fast path of the package's training step (issue 28), on the CPU: the loss all-reduce stays on the run's
device, gradient accumulation changes nothing (one process and torchrun), no host sync between log steps, a
fixed number of MLM slots per sequence, one permutation per epoch, and prefetching changes no batch."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert_edu.data import pretraining as data_mod  # noqa: E402
from bert_edu.data.corpus import corpus_path, read_corpus, write_corpus  # noqa: E402
from bert_edu.text.wordpiece import train_tokenizer  # noqa: E402
from bert_edu.train import pretrain  # noqa: E402
from bert_edu.train.pretrain import PretrainConfig, setup, train_step  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PACKAGE = str(REPO / "bert_edu")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain-speed")
    docs = read_corpus(corpus_path())[:200]
    corpus = write_corpus(docs, folder / "corpus.txt")
    train_tokenizer([s for d in docs for s in d], vocab_size=600).save_pretrained(folder / "vocab")
    return folder, corpus, folder / "vocab"


def config(small, name, **kw):
    folder, corpus, vocab = small
    base = dict(corpus=str(corpus), vocab=str(vocab), out=str(folder / name), size="tiny", seq_len=32,
                batch_size=16, max_steps=8, lr=2e-3, eval_every=0, eval_sequences=64, device="cpu", dropout=0.0)
    base.update(kw)
    return PretrainConfig(**base)


def steps(cfg, n):
    torch.set_num_threads(1)
    run = setup(cfg)
    rows = [train_step(run) for _ in range(n)]
    pretrain.flush(run)
    return run, rows


def test_the_loss_all_reduce_runs_on_the_runs_device(small, monkeypatch):
    """NCCL reduces CUDA tensors only: the reduced tensor must be the run's (here 'meta' stands in for a GPU)."""
    seen = []
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda t, *a, **k: seen.append((t.device, t.shape)))
    values = torch.zeros(3, 2, device="meta")
    assert pretrain._all_reduce_sum(values, 2) is values
    assert seen == [(torch.device("meta"), (3, 2))]
    # and through the loop: two processes' worth of flush on a CPU run reduces the (steps, 2) losses there
    seen.clear()
    run, _ = steps(config(small, "reduce", log_every=100), 3)
    rows = [train_step(run) for _ in range(2)]
    run.world_size = 2  # pretend: only the reduction is looked at (mocked above)
    pretrain.flush(run)
    assert seen == [(run.device, (2, 2))] and all(r["loss"] is not None for r in rows)
    assert pretrain.setup_device.__doc__ and "cuda:nccl" in Path(pretrain.__file__).read_text()


def test_grad_accum_two_equals_one_on_twice_the_batch(small):
    """2 micro-batches of 8 = 1 batch of 16: same losses and gradient norms at every step."""
    _, one = steps(config(small, "accum1", grad_accum=1), 6)
    _, two = steps(config(small, "accum2", grad_accum=2), 6)
    for key in ("mlm_loss", "nsp_loss", "grad_norm"):
        torch.testing.assert_close(torch.tensor([r[key] for r in two]), torch.tensor([r[key] for r in one]),
                                   atol=1e-5, rtol=1e-4, msg=key)
    # the comparison can fail: half the batch is another step
    _, half = steps(config(small, "half", batch_size=8), 6)
    assert any(abs(a["mlm_loss"] - b["mlm_loss"]) > 1e-3 for a, b in zip(half, one))


def test_grad_accum_under_torchrun_matches_one_process(small):
    """2 CPU processes (gloo) x 2 micro-batches of 4 = 1 process with 16: same losses and gradient norms."""
    folder, corpus, vocab = small
    args = ["-m", "bert_edu.pretrain", "--corpus", str(corpus), "--vocab", str(vocab), "--size", "tiny",
            "--seq-len", "32", "--batch-size", "16", "--max-steps", "5", "--lr", "2e-3", "--dropout", "0",
            "--eval-every", "0", "--device", "cpu", "--no-progress", "--log-every", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    single, double = folder / "ga-single", folder / "ga-ddp"
    subprocess.run([sys.executable, *args, "--out", str(single)], check=True, env=env, cwd=REPO,
                   capture_output=True, timeout=180)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *args, "--grad-accum", "2", "--out", str(double)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads((single / "metrics.json").read_text())["history"]
    two = json.loads((double / "metrics.json").read_text())["history"]
    assert len(one) == len(two) == 5
    for key in ("mlm_loss", "nsp_loss", "grad_norm"):
        torch.testing.assert_close(torch.tensor([r[key] for r in two]), torch.tensor([r[key] for r in one]),
                                   atol=1e-4, rtol=1e-4, msg=key)


def test_no_host_sync_between_log_steps(small, monkeypatch):
    """Mocks .item(), .tolist(), bool(), float() and int() of tensors and counts the calls the package makes in
    the training thread, step by step: none except at the log steps (every 4th here, and the last)."""
    calls, step_of_call = [], [0]
    main = threading.main_thread()

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if threading.current_thread() is main and caller.startswith(PACKAGE):
                calls.append((step_of_call[0], name, caller))
            return original(self, *args, **kwargs)
        return wrapper

    cfg = config(small, "syncs", log_every=4, max_steps=10)
    torch.set_num_threads(1)
    run = setup(cfg)
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    for step in range(1, 11):
        step_of_call[0] = step
        train_step(run)
    monkeypatch.undo()
    run.loader.close()
    assert {s for s, _, _ in calls} <= {4, 8, 10}, [c for c in calls if c[0] not in (4, 8, 10)]
    assert {4, 8, 10} <= {s for s, _, _ in calls}, "the log steps read the losses: the count must see them"
    assert all(r["loss"] is not None for r in run.history)


def test_masked_positions_are_the_labels_in_a_fixed_shape(small):
    run = setup(config(small, "slots"))
    batch, counts = run.data.train_batch(3)
    labels = batch["labels"]
    P = data_mod.max_predictions_per_seq(32)
    assert batch["masked_lm_positions"].shape == (16, P) == batch["masked_lm_ids"].shape
    assert data_mod.max_predictions_per_seq(128) == 19 and data_mod.max_predictions_per_seq(64) == 9
    used = batch["masked_lm_weights"].bool()
    assert torch.equal(batch["masked_lm_ids"][used], labels[labels != -100])  # same order as labels
    rows = torch.arange(16)[:, None].expand(-1, P)
    assert torch.equal(labels[rows[used], batch["masked_lm_positions"][used]], labels[labels != -100])
    assert counts["n_predictions"] == int((labels != -100).sum()) and counts["n_sequences"] == 16
    assert counts["tokens"] == int(batch["attention_mask"].sum())
    assert counts["padded"] == (not bool(batch["attention_mask"].all()))
    # the gathered logits give the loss of the boolean-indexed ones
    model = run.model.eval()
    with torch.no_grad():
        slow = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], labels=labels)
        fast = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                     labels=batch["masked_lm_ids"], masked_lm_positions=batch["masked_lm_positions"])
    assert fast.prediction_logits.shape == (16, P, run.model_config["vocab_size"])
    torch.testing.assert_close(fast.prediction_logits[used], slow.prediction_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.mlm_loss, slow.mlm_loss, atol=1e-6, rtol=1e-5)


def test_the_epoch_permutation_is_drawn_once(small, monkeypatch):
    run = setup(config(small, "perm"))
    drawn = []
    real = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda *a, **k: drawn.append(a) or real(*a, **k))
    first = [run.data.batch(s)["input_ids"] for s in range(run.data.steps_per_epoch)]
    assert drawn == [], "epoch 0's order is cached: no new permutation per step"
    run.data.batch(run.data.steps_per_epoch)
    assert len(drawn) == 1, "a new epoch draws its order once"
    assert torch.equal(run.data.batch(0)["input_ids"], first[0]) and len(drawn) == 2  # back to epoch 0: same


def test_prefetching_changes_no_step(small):
    _, ahead = steps(config(small, "prefetch2", prefetch=2), 5)
    _, inline = steps(config(small, "prefetch0", prefetch=0), 5)
    assert [r["mlm_loss"] for r in ahead] == [r["mlm_loss"] for r in inline]
    assert [r["grad_norm"] for r in ahead] == [r["grad_norm"] for r in inline]


def test_log_every_and_compile_are_options():
    cfg, args = pretrain.parse_args(["--log-every", "25", "--compile", "--prefetch", "0"])
    assert (cfg.log_every, cfg.compile, cfg.prefetch) == (25, True, 0)
    assert pretrain.PretrainConfig().log_every == 10 and not pretrain.PretrainConfig().compile
    with pytest.raises(SystemExit):
        pretrain.parse_args(["--log-every", "0"])

"""The GPU-minded parts of the pretraining loop that a CPU can show: a crash while saving never leaves a
checkpoint that --resume would accept with mixed steps; every process draws its own random stream and
resumes it (2 processes with dropout: interrupted + resumed = uninterrupted); the loop does not check token
ids at every step (each check would make the CPU wait for the GPU); bad input ends in one error line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert_edu.data.corpus import corpus_path, read_corpus, write_corpus  # noqa: E402
from bert_edu.text.wordpiece import train_tokenizer  # noqa: E402
from bert_edu.train import pretrain  # noqa: E402
from bert_edu.train.pretrain import STATE_FILE, PretrainConfig, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 120-document corpus file and a 500-token WordPiece vocabulary trained on it."""
    folder = tmp_path_factory.mktemp("pretrain-robust")
    docs = read_corpus(corpus_path())[:120]
    corpus = write_corpus(docs, folder / "corpus.txt")
    train_tokenizer([s for d in docs for s in d], vocab_size=500).save_pretrained(folder / "vocab")
    return folder, corpus, folder / "vocab"


def config(small, name, **kw):
    folder, corpus, vocab = small
    base = dict(corpus=str(corpus), vocab=str(vocab), out=str(folder / name), size="tiny", seq_len=32,
                batch_size=8, max_steps=6, lr=1e-3, eval_every=0, device="cpu", dropout=0.1)
    base.update(kw)
    return PretrainConfig(**base)


def test_a_crash_while_saving_keeps_the_previous_checkpoint_whole(small, monkeypatch):
    torch.set_num_threads(1)
    cfg = config(small, "crash")
    whole = run(config(small, "crash-whole"), progress=False)
    run(cfg, stop_at=2, progress=False)
    out = Path(cfg.out)
    weights_at_2 = (out / "model.safetensors").read_bytes()

    real_save = torch.save

    def dying_save(obj, path, *args, **kwargs):  # the weights are written, then the process dies
        raise KeyboardInterrupt("killed while writing the training state")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, resume=True, stop_at=4, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert (out / "model.safetensors").read_bytes() == weights_at_2  # not step 4's weights
    assert torch.load(out / STATE_FILE, weights_only=False)["step"] == 2
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".crash")] == []  # no debris
    resumed = run(cfg, resume=True, progress=False)  # so the run continues from step 2, exactly
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]


def test_the_loop_does_not_check_token_ids_every_step(small, monkeypatch):
    import bert_edu.model.bert as bert

    calls = []
    real = bert.check_input_ids
    monkeypatch.setattr(bert, "check_input_ids", lambda *a, **k: calls.append(1) or real(*a, **k))
    run(config(small, "nocheck", max_steps=3, eval_every=3, eval_sequences=16), progress=False)
    assert calls == []  # ids come from the run's own tokenizer, whose size built the model


def test_two_processes_resume_their_own_random_streams(small):
    """With dropout, 2 processes: stopped at step 3 and resumed = never stopped. Each process restores
    its own random state (a single shared state would give rank 1 rank 0's dropout masks), and the
    two saved states differ (each rank seeds seed + rank)."""
    folder, corpus, vocab = small
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "bert_edu.pretrain",
            "--corpus", str(corpus), "--vocab", str(vocab), "--size", "tiny", "--seq-len", "32",
            "--batch-size", "8", "--max-steps", "6", "--dropout", "0.1", "--eval-every", "0",
            "--device", "cpu", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")

    def torchrun(out, *extra):
        proc = subprocess.run([sys.executable, *args, "--out", str(out), *extra], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((out / "metrics.json").read_text())

    whole = torchrun(folder / "ddp-whole")
    torchrun(folder / "ddp-cut", "--stop-at", "3")
    rng = torch.load(folder / "ddp-cut" / STATE_FILE, weights_only=False)["rng"]
    assert len(rng) == 2 and not torch.equal(rng[0]["cpu"], rng[1]["cpu"])
    resumed = torchrun(folder / "ddp-cut", "--resume")
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]
    assert [h["grad_norm"] for h in resumed["history"]] == [h["grad_norm"] for h in whole["history"]]


@pytest.mark.parametrize("problem", ["missing vocabulary", "empty corpus", "one document", "not UTF-8",
                                     "fp16 on a CPU"])
def test_bad_input_is_one_error_line(small, tmp_path, problem, capsys):
    folder, corpus, vocab = small
    args = ["--corpus", str(corpus), "--vocab", str(vocab), "--out", str(tmp_path / "out"), "--size", "tiny",
            "--max-steps", "1", "--device", "cpu", "--no-progress"]
    if problem == "missing vocabulary":
        args[3] = str(tmp_path / "no-such-vocab")
    elif problem == "empty corpus":
        (tmp_path / "empty.txt").write_text("")
        args[1] = str(tmp_path / "empty.txt")
    elif problem == "one document":
        (tmp_path / "one.txt").write_text("a single sentence.\nand another.\n")
        args[1] = str(tmp_path / "one.txt")
    elif problem == "not UTF-8":
        (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me.\n\nna\xefve.\n".encode("latin-1"))
        args[1] = str(tmp_path / "latin1.txt")
    else:
        args += ["--mixed-precision", "fp16"]
    assert pretrain.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err

"""The training loop end to end, on a small slice of the course corpus: it learns, its checkpoint loads in
transformers, resume is exact, and 2 processes (torchrun, gloo) match 1 process with the same batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert_edu.data.corpus import corpus_path, read_corpus, write_corpus  # noqa: E402
from bert_edu.train.pretrain import PretrainConfig, main, run  # noqa: E402
from bert_edu.text.tokenizer import BertTokenizer  # noqa: E402
from bert_edu.text.wordpiece import train_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 200-document corpus file and a 600-token WordPiece vocabulary trained on it."""
    folder = tmp_path_factory.mktemp("pretrain-run")
    docs = read_corpus(corpus_path())[:200]
    corpus = write_corpus(docs, folder / "corpus.txt")
    train_tokenizer([s for d in docs for s in d], vocab_size=600).save_pretrained(folder / "vocab")
    return folder, corpus, folder / "vocab"


def config(small, name, **kw):
    folder, corpus, vocab = small
    base = dict(corpus=str(corpus), vocab=str(vocab), out=str(folder / name), size="tiny", seq_len=32,
                batch_size=16, max_steps=12, lr=1e-3, eval_every=6, eval_sequences=64, device="cpu")
    base.update(kw)
    return PretrainConfig(**base)


def losses(metrics):
    return [h["loss"] for h in metrics["history"]]


def test_run_learns_and_writes_a_transformers_checkpoint(small):
    torch.set_num_threads(1)
    metrics = run(config(small, "learn", max_steps=40, lr=2e-3), progress=False)
    out = Path(metrics["out"])
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "metrics.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["step"] == 40 and len(saved["history"]) == 40
    assert saved["evals"][0]["step"] == 0 and saved["evals"][-1]["step"] == 40
    first, last = saved["evals"][0], saved["evals"][-1]
    assert last["mlm_loss"] < first["mlm_loss"] - 0.4, "the held-out MLM loss did not fall"
    assert {"mlm_accuracy", "nsp_accuracy", "mlm_unigram_loss"} <= set(saved["baselines"])

    # the checkpoint loads in transformers and gives our outputs
    import transformers

    from bert_edu.model.heads import BertForPreTraining

    theirs = transformers.BertForPreTraining.from_pretrained(out).eval()
    ours = BertForPreTraining.from_pretrained(out, verbose=False).eval()
    tok = transformers.BertTokenizer.from_pretrained(out)
    enc = tok("the film is a [MASK] mess .", "it was fun .", return_tensors="pt")
    with torch.no_grad():
        a, b = ours(**enc), theirs(**enc)
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.seq_relationship_logits, b.seq_relationship_logits, atol=1e-5, rtol=0)
    # and our tokenizer reads the same vocabulary back
    assert BertTokenizer.from_pretrained(out)("a film")["input_ids"] == tok("a film")["input_ids"]


def test_resume_reproduces_the_uninterrupted_run(small):
    torch.set_num_threads(1)
    whole = run(config(small, "whole", dropout=0.1), progress=False)
    cut = config(small, "cut", dropout=0.1)
    first = run(cut, stop_at=5, progress=False)
    assert first["step"] == 5
    resumed = run(cut, resume=True, progress=False)
    assert resumed["step"] == 12
    # bit-for-bit: same weights, optimiser moments, schedule, dropout random state, batches
    assert losses(resumed) == losses(whole)
    assert resumed["evals"] == whole["evals"]


def test_resume_refuses_other_settings(small):
    cut = config(small, "cut2")
    run(cut, stop_at=2, progress=False)
    with pytest.raises(ValueError, match="lr"):
        run(config(small, "cut2", lr=5e-4), resume=True, progress=False)


def test_command_line(small, capsys):
    folder, corpus, vocab = small
    out = folder / "cli"
    main(["--corpus", str(corpus), "--vocab", str(vocab), "--out", str(out), "--max-steps", "4",
          "--size", "tiny", "--seq-len", "32", "--batch-size", "8", "--eval-every", "2", "--device", "cpu",
          "--no-progress"])
    printed = capsys.readouterr()
    assert "held-out MLM accuracy" in printed.err and str(out) in printed.err
    assert json.loads(printed.out)["out"] == str(out)  # one line of JSON on stdout
    assert json.loads((out / "metrics.json").read_text())["step"] == 4
    with pytest.raises(SystemExit):
        main(["--max-steps", "0"])


def test_torchrun_two_processes_match_one(small):
    """2 CPU processes (gloo), 8 sequences each = 1 process with 16: same losses, same weights."""
    folder, corpus, vocab = small
    args = ["-m", "bert_edu.pretrain", "--corpus", str(corpus), "--vocab", str(vocab), "--size", "tiny",
            "--seq-len", "32", "--batch-size", "16", "--max-steps", "6", "--lr", "2e-3", "--dropout", "0",
            "--eval-every", "0", "--device", "cpu", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    single, double = folder / "single", folder / "ddp"
    subprocess.run([sys.executable, *args, "--out", str(single)], check=True, env=env, cwd=REPO,
                   capture_output=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *args, "--out", str(double)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = json.loads((single / "metrics.json").read_text())
    two = json.loads((double / "metrics.json").read_text())
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert losses(one)[-1] < losses(one)[0]
    # only the order of floating-point sums differs
    torch.testing.assert_close(torch.tensor(losses(two)), torch.tensor(losses(one)), atol=1e-4, rtol=1e-4)
    # and the gradient norm before clipping: a gradient off by a constant factor (e.g. a missing
    # `* world_size`) leaves the losses above equal, and AdamW and clipping nearly hide it in the weights
    norms = lambda m: torch.tensor([h["grad_norm"] for h in m["history"]])  # noqa: E731
    torch.testing.assert_close(norms(two), norms(one), atol=1e-5, rtol=1e-4)
    from safetensors.torch import load_file

    w1, w2 = load_file(single / "model.safetensors"), load_file(double / "model.safetensors")
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], atol=1e-4, rtol=1e-3)

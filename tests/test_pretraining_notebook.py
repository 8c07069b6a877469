"""Notebook 07's own training loop (its ``#| export`` cells: the learner's model, MLM head, loss, step and loop) and
the package's loop behind ``python -m bert_edu.pretrain`` take the same steps: same batches and starting weights ->
the same losses, held-out metrics and weights (issue 13)."""

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bert_edu.course.learner import export_cells  # noqa: E402
from bert_edu.data.corpus import corpus_path, read_corpus, write_corpus  # noqa: E402
from bert_edu.model.config import BertConfig  # noqa: E402
from bert_edu.text.wordpiece import train_tokenizer  # noqa: E402
from bert_edu.train.pretrain import PretrainConfig, evaluate_pretraining, setup, train_step  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_pretraining.ipynb"


@pytest.fixture(scope="module")
def notebook():
    """The notebook's exported cells, run in a fresh namespace (as bert_edu.course.learner does)."""
    namespace = {}
    cells = export_cells(NOTEBOOK)
    assert len(cells) >= 4, "notebook 07 lost its #| export cells (head, loss, model, loop)"
    for index, source in cells:
        exec(compile(source, f"<07_pretraining cell {index}>", "exec"), namespace)
    for name in ("MLMHead", "masked_lm_loss", "MyBertForPreTraining", "train_step", "evaluate", "pretrain"):
        assert name in namespace, f"notebook 07 no longer exports {name}"
    return namespace


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain-notebook")
    docs = read_corpus(corpus_path())[:200]
    corpus = write_corpus(docs, folder / "corpus.txt")
    train_tokenizer([s for d in docs for s in d], vocab_size=600).save_pretrained(folder / "vocab")
    return PretrainConfig(corpus=str(corpus), vocab=str(folder / "vocab"), out=str(folder / "out"), size="tiny",
                          seq_len=32, batch_size=16, max_steps=8, lr=2e-3, eval_every=4, eval_sequences=64,
                          dropout=0.0, device="cpu")


def test_notebook_loop_takes_the_package_steps(notebook, small):
    torch.set_num_threads(1)
    run = setup(small)  # the package's run: data, held-out batches, model, AdamW, schedule
    model = notebook["MyBertForPreTraining"](BertConfig(**run.model_config))
    missing, unexpected = model.load_state_dict(run.model.state_dict(), strict=False)
    assert not unexpected and not [k for k in missing if "position_ids" not in k], (missing, unexpected)
    start = {k: v.clone() for k, v in model.state_dict().items()}

    history, evals, _ = notebook["pretrain"](model, run.data, run.held, small, "cpu", log=None)
    package = [train_step(run) for _ in range(small.max_steps)]

    for mine, theirs in zip(history, package, strict=True):
        assert mine["mlm_loss"] == pytest.approx(theirs["mlm_loss"], rel=1e-5)
        assert mine["nsp_loss"] == pytest.approx(theirs["nsp_loss"], rel=1e-5)
    weights = model.state_dict()
    moved = 0
    for name, value in run.model.state_dict().items():
        if name in weights:
            torch.testing.assert_close(weights[name], value, atol=2e-5, rtol=1e-4, msg=name)
            moved += not torch.equal(weights[name], start[name])
    assert moved > 10, "the weights did not train: the comparison would be empty"
    held_out = evaluate_pretraining(run.model, run.held)
    for key, value in held_out.items():
        assert evals[-1][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert [e["step"] for e in evals] == [0, 4, 8]


def test_a_different_step_is_caught(notebook, small):
    """The comparison can fail: the notebook's loop without gradient clipping takes other steps."""
    torch.set_num_threads(1)
    run = setup(small)
    model = notebook["MyBertForPreTraining"](BertConfig(**run.model_config))
    model.load_state_dict(run.model.state_dict(), strict=False)
    no_clip = PretrainConfig(**{**vars(small), "max_grad_norm": 1e9, "max_steps": small.max_steps})
    history, _, _ = notebook["pretrain"](model, run.data, run.held, no_clip, "cpu", log=None)
    package = [train_step(run) for _ in range(small.max_steps)]
    assert any(abs(m["mlm_loss"] - p["mlm_loss"]) > 1e-4 for m, p in zip(history, package))

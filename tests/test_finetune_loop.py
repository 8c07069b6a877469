"""Notebook 08's fine-tuning loop (`fine_tune`, written in the notebook) and the package's
`finetune.train_classifier` do exactly the same thing: same seed and data -> the same loss at every step, the
same evaluation history and the same weights. And the comparison can fail: a loop that differs in one piece
(clipping, the parameter groups, the schedule) does not pass it."""

import json
import math
import random
from pathlib import Path

import pytest
import torch

from bert_edu import BertConfig, BertForSequenceClassification
from bert_edu.exercises.finetune import reference_lr_factor, reference_parameter_groups
from bert_edu.train import common, finetune

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "08_finetune_sentiment.ipynb"


def notebook_source(marker: str = "def fine_tune(") -> str:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    found = [s for s in sources if marker in s]
    assert len(found) == 1, f"notebook 08 must define {marker!r} in exactly one code cell"
    return found[0]


def notebook_loop(source: str | None = None, make_groups=reference_parameter_groups, schedule=reference_lr_factor):
    """The notebook's `fine_tune`, run with the reference exercise solutions (what use_or_reference gives)."""
    namespace = {"torch": torch, "math": math, "random": random, "finetune": finetune, "training": common,
                 "make_groups": make_groups, "schedule": schedule}
    exec(compile(source or notebook_source(), str(NOTEBOOK), "exec"), namespace)
    return namespace["fine_tune"]


def features(n, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        length = int(torch.randint(2, 14, (1,), generator=g))
        ids = torch.randint(5, 60, (length,), generator=g).tolist()
        out.append({"input_ids": [2, *ids, 3], "label": int(7 in ids or 8 in ids)})
    return out


CONFIG = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
              max_position_embeddings=32, num_labels=2)
# max_grad_norm 0.05 so that clipping acts on most steps, and a lr high enough for every piece to matter
RECIPE = dict(epochs=3, lr=3e-2, batch_size=8, warmup_ratio=0.2, weight_decay=0.1, max_grad_norm=0.05, seed=3)


def run_both(loop):
    train, val = features(48, 0), features(24, 1)
    common.set_seed(0)
    ours = BertForSequenceClassification(BertConfig(**CONFIG))
    common.set_seed(0)
    theirs = BertForSequenceClassification(BertConfig(**CONFIG))
    common.set_seed(1)
    fit = loop(ours, train, val, log=None, **RECIPE)
    common.set_seed(1)
    result = finetune.train_classifier(theirs, train, val, device="cpu", progress=False, log=None, **RECIPE)
    same_weights = all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    return fit, result, same_weights


def test_notebook_loop_equals_package_loop():
    fit, result, same_weights = run_both(notebook_loop())
    assert len(fit["losses"]) == result.steps == 3 * math.ceil(48 / 8)
    assert fit["losses"] == result.losses, "the loss of every step must be identical"
    assert [h["eval_accuracy"] for h in fit["history"]] == [h["eval_accuracy"] for h in result.history]
    assert [h["eval_loss"] for h in fit["history"]] == [h["eval_loss"] for h in result.history]
    assert fit["best_epoch"] == result.best_epoch
    assert same_weights


@pytest.mark.parametrize("change", ["no clipping", "one parameter group", "no warmup", "no restore"])
def test_a_changed_loop_fails_the_comparison(change):
    source, groups, schedule = notebook_source(), reference_parameter_groups, reference_lr_factor
    if change == "no clipping":
        line = "torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)"
        assert line in source
        source = source.replace(line, "pass")
    elif change == "one parameter group":
        groups = lambda model, wd: [{"params": list(model.parameters()), "weight_decay": wd}]  # noqa: E731
    elif change == "no warmup":
        schedule = lambda s, w, t: max(0.0, (t - s) / t)  # noqa: E731
    else:  # keep the last epoch instead of the best
        line = 'model.load_state_dict(best["state"])'
        assert line in source
        source = source.replace(line, "pass")
    fit, result, same_weights = run_both(notebook_loop(source, groups, schedule))
    if change == "no restore":
        assert result.best_epoch != 3, "the test data must make a middle epoch the best one"
        assert not same_weights
    else:
        assert fit["losses"] != result.losses and not same_weights


def test_package_loop_records_every_step_loss():
    _, result, _ = run_both(notebook_loop())
    assert len(result.losses) == result.steps and all(math.isfinite(x) for x in result.losses)

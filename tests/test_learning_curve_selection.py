"""benchmarks/learning_curve.py --lrs: the rate of each arm is chosen on validation, and collapsed runs are named."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curve.py"


@pytest.fixture(scope="module")
def lc():
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(model, lr, seed, val, test):
    return {"model": model, "n": 300, "seed": seed, "lr": lr, "validation_accuracy": val, "test_accuracy": test,
            "collapsed": abs(test - 737 / 1275) < 1e-6}


def test_the_rate_is_chosen_on_validation_not_on_test(lc):
    runs = [_run("scratch", 5e-4, s, 0.58, 0.70) for s in range(3)]  # best on test, worst on validation
    runs += [_run("scratch", 2e-3, s, 0.65, 0.64 + 0.01 * s) for s in range(3)]
    (row,) = lc.lr_selection(runs, [5e-4, 2e-3])
    assert row["chosen_lr"] == 2e-3
    assert row["test_accuracy"] == pytest.approx([0.64, 0.65, 0.66])
    assert row["grid"] == [5e-4, 2e-3] and row["seeds"] == [0, 1, 2]
    assert row["mean_validation_accuracy"] == {"0.0005": pytest.approx(0.58), "0.002": pytest.approx(0.65)}
    assert row["test_half_interval"] > 0


def test_collapsed_runs_are_reported_with_their_rate_and_seed(lc):
    majority = 737 / 1275
    runs = [_run("pretrained", 5e-4, 0, 0.578, majority), _run("pretrained", 5e-4, 1, 0.60, 0.61),
            _run("pretrained", 1e-3, 0, 0.62, 0.63), _run("pretrained", 1e-3, 1, 0.63, 0.64)]
    (row,) = lc.lr_selection(runs, [5e-4, 1e-3])
    assert row["collapsed_runs"] == [{"lr": 5e-4, "seed": 0, "test_accuracy": majority}]
    assert lc.collapsed(majority) and lc.collapsed(538 / 1275) and not lc.collapsed(0.6)


def test_the_committed_selection_is_the_one_its_runs_give(lc):
    """benchmarks/results/learning_curve.json: its lr_selection is recomputed from its own runs, and every BERT arm
    and label count was chosen from at least 3 rates with 3 seeds each."""
    import json

    data = json.loads((SCRIPT.parent / "results" / "learning_curve.json").read_text())
    assert data["lr_grid"] and len(data["lr_grid"]) >= 3
    for row in data["lr_selection"]:
        if row["model"] in ("pretrained", "scratch"):
            assert len(row["grid"]) >= 4 and len(row["seeds"]) == 3, row
    assert {(r["model"], r["n"]) for r in data["lr_selection"] if r["model"] != "minilm"} == {
        (m, n) for m in ("pretrained", "scratch") for n in ("100", "300", "1000", "3000", "all")}
    minilm = [r for r in data["lr_selection"] if r["model"] == "minilm"]
    assert {r["n"] for r in minilm} == {"100", "300", "1000"}, "MiniLM's rate is chosen at every count it was run at"
    for row in minilm:
        assert len(row["grid"]) >= 3 and len(row["seeds"]) == 3, row
        assert min(row["grid"]) < row["chosen_lr"] < max(row["grid"]), \
            f"MiniLM's choice at {row['n']} labels is at the edge of its grid: widen it"
    assert data["lr_selection"] == json.loads(json.dumps(lc.lr_selection(data["runs"], data["lr_grid"])))
    for run in data["runs"]:
        assert run["collapsed"] == lc.collapsed(run["test_accuracy"])


def test_the_command_line_defaults_follow_the_committed_sweep(lc):
    """A small model's default rate, for each start, is the rate with the best validation accuracy averaged over the
    curve's label counts (bert_edu.train.classify's comment; issue 26: defaults follow the fair rule)."""
    import json

    from bert_edu.train import finetune

    data = json.loads((SCRIPT.parent / "results" / "learning_curve.json").read_text())
    for model, default in (("pretrained", finetune.SMALL_PRETRAINED_LR), ("scratch", finetune.SMALL_MODEL_RECIPE["lr"])):
        rows = [r for r in data["lr_selection"] if r["model"] == model]
        common = set.intersection(*(set(r["mean_validation_accuracy"]) for r in rows))
        mean = {lr: sum(r["mean_validation_accuracy"][lr] for r in rows) / len(rows) for lr in common}
        assert float(max(mean, key=mean.get)) == default, (model, mean)


def test_minilm_s_default_is_the_rate_chosen_at_the_largest_label_count_swept(lc):
    """MiniLM's sweep reaches 1,000 labels, and its best rate grows with the labels; the command line's default
    (finetune.DEFAULTS, also the rate of every full-data run in the README) is the one chosen at the largest count.
    Below that count the notebook and the --lr help name the smaller rate."""
    import json

    from bert_edu.train import finetune

    data = json.loads((SCRIPT.parent / "results" / "learning_curve.json").read_text())
    rows = sorted((r for r in data["lr_selection"] if r["model"] == "minilm"), key=lambda r: int(r["n"]))
    assert rows[-1]["chosen_lr"] == finetune.DEFAULTS["lr"]
    assert [r["chosen_lr"] for r in rows] == sorted(r["chosen_lr"] for r in rows), "the best rate grows with labels"
    assert min(r["chosen_lr"] for r in rows) == finetune.MINILM_FEW_LABELS_LR
    import dataclasses

    lr_help = {f.name: f for f in dataclasses.fields(finetune.ClassifyConfig)}["lr"].metadata["help"]
    assert f"{finetune.MINILM_FEW_LABELS_LR:g}" in lr_help, "the --lr help names the rate for a few hundred labels"

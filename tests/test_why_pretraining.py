"""benchmarks/why_pretraining.py: what fine-tuning does to the pretrained and the random start (issue 26)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "why_pretraining.json"


@pytest.fixture(scope="module")
def why():
    spec = importlib.util.spec_from_file_location("why_pretraining", ROOT / "benchmarks" / "why_pretraining.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relative_change_is_per_part(why):
    start = {"a.w": torch.ones(4), "a.b": torch.zeros(2), "c.w": torch.full((1,), 2.0)}
    end = {"a.w": torch.ones(4) * 1.5, "a.b": torch.zeros(2), "c.w": torch.full((1,), 2.0)}
    change = why.relative_change(start, end, {"a": ["a.w", "a.b"], "c": ["c.w"]})
    assert change["a"] == pytest.approx(0.5) and change["c"] == 0.0


def _run(arm, frozen, seed, acc):
    zero = {"nearest": {}, "pair_cosine": {"good / bad": 0.5}}
    return {"arm": arm, "freeze_word_embeddings": frozen, "seed": seed, "test_accuracy": acc,
            "relative_change": {"word embeddings": 0.1}, "epoch_train_loss": [0.7, 0.5],
            "neighbours_before": zero, "neighbours_after": zero}


def test_the_summary_pairs_by_seed(why):
    runs = [_run("pretrained", False, s, 0.60 + 0.01 * s) for s in range(3)]
    runs += [_run("scratch", False, s, 0.65 + 0.01 * s) for s in range(3)]
    summary = why.summarise(runs)
    diff = summary["paired"]["pretrained minus scratch"]
    assert diff["mean"] == pytest.approx(-0.05) and diff["half_interval"] == pytest.approx(0, abs=1e-9)
    assert diff["beyond_noise"] and summary["paired"]["pretrained, word embeddings frozen minus trained"] is None
    assert summary["arms"]["pretrained"]["epoch_train_loss"] == pytest.approx([0.7, 0.5])


def test_a_label_count_without_a_chosen_rate_is_refused(why, capsys):
    assert why.main(["--labels", "123", "--out", "/nonexistent/x.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--labels 123" in err[0] and "pick one of" in err[0]


def test_the_committed_result_is_what_its_runs_give(why):
    data = json.loads(RESULT.read_text())
    curve = json.loads((ROOT / "benchmarks" / "results" / "learning_curve.json").read_text())
    chosen = {r["model"]: r["chosen_lr"] for r in curve["lr_selection"] if r["n"] == str(data["labels"])}
    assert data["rates"] == {k: chosen[k] for k in ("pretrained", "scratch")}, "the learning curve's chosen rates"
    assert data["checkpoint"] == curve["checkpoint"]["name"]
    assert sorted((r["arm"], r["freeze_word_embeddings"], r["seed"]) for r in data["runs"]) == sorted(
        (arm, frozen, seed) for arm in ("pretrained", "scratch") for frozen in (False, True) for seed in (0, 1, 2))
    assert json.loads(json.dumps(why.summarise(data["runs"]))) == data["summary"]
    # the unfrozen runs are the learning curve's own runs at this count: the same sentences, seeds and rates
    lc = {(r["model"], r["seed"]): r["test_accuracy"] for r in curve["runs"]
          if str(r["n"]) == str(data["labels"]) and r.get("lr") == chosen.get(r["model"])}
    for run in data["runs"]:
        if not run["freeze_word_embeddings"]:
            assert run["test_accuracy"] == pytest.approx(lc[run["arm"], run["seed"]], abs=0.01)

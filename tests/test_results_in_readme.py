"""The README's full-data and GPU figures are the ones in benchmarks/results/*.json (the runs that made them)."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RESULTS = ROOT / "benchmarks" / "results"


def _in_readme(text: str) -> None:
    assert text in README, f"README.md does not show {text!r} (from benchmarks/results)"


def test_full_data_ner_figures():
    full = json.loads((RESULTS / "ner_qa.json").read_text())["ner_full"]
    assert [run["seed"] for run in full["runs"]] == [0, 1]
    assert all(run["n_train_sentences"] == 14041 and run["n_test_sentences"] == 3453 for run in full["runs"])
    for run in full["runs"]:
        _in_readme(f"{100 * run['f1']:.2f}")
    mean = sum(run["f1"] for run in full["runs"]) / len(full["runs"])
    _in_readme(f"test entity F1 {100 * mean:.1f}%")
    for kind, f1 in full["runs"][0]["per_type"].items():
        _in_readme(f"{kind} {100 * f1:.1f}")


def test_full_data_qa_figures():
    full = json.loads((RESULTS / "ner_qa.json").read_text())["qa_full"]
    assert all(run["n_train_questions"] == 10565 and run["n_test_questions"] == 10056 for run in full["runs"])
    for run in full["runs"]:
        _in_readme(f"**{100 * run['f1']:.1f} ± ")
        _in_readme(f"/ {100 * run['exact_match']:.1f}")
    for seed, splits in full["shifts"].items():
        for name, row in splits.items():
            if name != "squad_dev":
                _in_readme(f"{100 * row['f1']:.1f} ± {100 * row['f1_half_interval']:.1f}")
    _in_readme(f"{100 * full['shifts']['seed 0']['squad_dev']['f1']:.1f} F1: a fit, not a test")


def test_gpu_check_figures():
    bench = json.loads((RESULTS / "gpu_check.json").read_text())["steps"]["3 pretraining benchmark"]
    _in_readme(f"{bench['ours_tokens_per_second']:,d} vs `transformers` {bench['transformers_tokens_per_second']:,d}")
    _in_readme(f"({bench['ratio']:.2f}x, MFU {100 * bench['ours_mfu']:.1f}% vs {100 * bench['transformers_mfu']:.1f}%)")
    sentiment = json.loads((RESULTS / "gpu_check.json").read_text())["steps"]["4 full-data sentiment"]
    _in_readme(f"{100 * sentiment['test_accuracy']:.1f}% (validation {100 * sentiment['validation_accuracy']:.1f}%) "
               f"in {sentiment['train_seconds']} s")


def test_qa_learning_rate_figures_and_the_default():
    from bert_edu.train.qa import DEFAULTS

    runs = json.loads((RESULTS / "ner_qa.json").read_text())["qa_lr"]["runs"]
    _in_readme(" / ".join(f"{100 * run['eval_f1']:.1f}" for run in runs) + "% at lr "
               + " / ".join(f"{run['lr']:.0e}".replace("e-0", "e-") for run in runs))
    best = max(runs, key=lambda run: run["eval_f1"])
    assert best["lr"] == DEFAULTS["lr"], "the QA command line's default lr is not the best one measured"

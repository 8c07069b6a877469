"""Learning curve for notebook 08: test accuracy against the number of labelled sentences (issue 16).

Four classifiers, each fine-tuned/trained on the first N sentences of a seed-shuffled copy of the training
split (so each seed sees different sentences, and the sets grow with N), chosen on 500 validation
sentences, scored once on the whole test split:

* ``pretrained``: the learner's checkpoint (``--pretrained``: notebook 07's, or ``python -m bert_edu.pretrain``'s);
* ``scratch``:    the same network and vocabulary from random weights;
* ``minilm``:     all-MiniLM-L6-v2 (distilled, then trained on ~1B sentence pairs, some labelled);
* ``bow``:        a bag-of-words logistic regression (``bert_edu.evaluation.baselines``).

Too slow for a notebook (about an hour of one CPU core); run it in the background and commit the JSON::

    OMP_NUM_THREADS=1 nice python benchmarks/learning_curve.py --pretrained DIR \\
        --out benchmarks/results/learning_curve.json

The JSON is written after every run and finished runs are skipped, so an interrupted run resumes; delete the
file (or pass ``--fresh``) after changing the checkpoint or a recipe. Notebook 08 plots it.

Pieces of one sweep can run in parallel, each with its own ``--out``; ``--merge`` then gathers them into one file
(``FILE:models`` takes only those arms' runs from FILE, e.g. ``old.json:minilm,bow``: arms that do not depend on
the checkpoint), recomputes ``lr_selection`` and keeps every piece's command::

    python benchmarks/learning_curve.py --pretrained DIR --lrs 5e-4,1e-3 --out FINAL --merge a.json b.json

A fair recipe for every arm (issue 26): ``--lrs 5e-4,1e-3,2e-3,4e-3`` runs each BERT arm at every rate of the grid,
at the real step budget and with every seed, and records in the JSON's ``lr_selection`` the grid, the mean
validation accuracy of each rate, the rate chosen on validation (per arm and label count), the test accuracies at
that rate, and the runs that collapsed to one class (a constant prediction), which are reported, not averaged away::

    OMP_NUM_THREADS=1 nice python benchmarks/learning_curve.py --pretrained DIR --models scratch,pretrained \\
        --sizes 300 --seeds 0,1,2 --lrs 5e-4,1e-3,2e-3,4e-3 --out runs/lr-300.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch

from bert_edu.data import sentiment
from bert_edu.train import common, finetune
from bert_edu.evaluation.baselines import BagOfWords, bow_accuracy, fit_logistic_regression

SIZES = (100, 300, 1000, 3000, "all")
MODELS = ("bow", "scratch", "pretrained", "minilm")
# The command line's recipes (finetune.recipe_for: by the model's width), with small training sets repeated
# up to finetune.MIN_EPOCH_EXAMPLES sentences per epoch; bucketed batches (faster on a CPU).
EVAL_EXAMPLES = 500


def subset(train, n, seed):
    """The first n sentences of the training split shuffled with ``seed`` (nested: 100 within 300 ...)."""
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return [train[i] for i in order[: len(train) if n == "all" else n]]


def run_bow(train, val, test) -> dict:
    texts, labels = [e.text for e in train], [e.label for e in train]
    bow = BagOfWords.fit(texts)
    model, info = fit_logistic_regression(bow, texts, labels, [e.text for e in val], [e.label for e in val])
    return {"test_accuracy": bow_accuracy(model, bow, [e.text for e in test], [e.label for e in test]),
            "validation_accuracy": info["validation_accuracy"], "l2": info["l2"], "vocab": len(bow.vocab)}


def build(model_name, pretrained):
    if model_name == "minilm":
        return finetune.build_classifier("minilm", sentiment.LABELS, verbose=False)
    if model_name == "scratch":
        return finetune.scratch_classifier(pretrained, sentiment.LABELS)
    return finetune.pretrained_classifier(pretrained, sentiment.LABELS, verbose=False)


# The sentiment test split holds 737 positive and 538 negative sentences: a run that predicts one class for every
# test sentence scores exactly one of these shares.
ONE_CLASS_SHARES = (737 / 1275, 538 / 1275)


def collapsed(test_accuracy: float) -> bool:
    """Whether a run scored exactly what a constant prediction scores on the test split."""
    return any(abs(test_accuracy - share) < 1e-6 for share in ONE_CLASS_SHARES)


def run_bert(model_name, pretrained, train, val, test, seed, lr=None) -> dict:
    common.set_seed(seed)
    model, tok = build(model_name, pretrained)
    recipe = finetune.recipe_for(model.config)
    if lr is not None:
        recipe = {**recipe, "lr": lr}
    train_f, repeats = finetune.repeat_to(finetune.encode(tok, train))
    val_f, test_f = finetune.encode(tok, val), finetune.encode(tok, test)
    fit = finetune.train_classifier(model, train_f, val_f, seed=seed, device="cpu", pad_token_id=tok.pad_token_id,
                                    bucket=True, progress=False, log=None, **recipe)
    test_m = finetune.evaluate(model, test_f, pad_token_id=tok.pad_token_id)
    return {"test_accuracy": test_m["accuracy"], "validation_accuracy": fit.best["accuracy"],
            "best_epoch": fit.best_epoch, "repeats": repeats, "steps": fit.steps, **recipe,
            "collapsed": collapsed(test_m["accuracy"])}


def lr_selection(runs, grid) -> list[dict]:
    """Per arm and label count: each rate's mean validation accuracy over the seeds, the rate chosen on validation,
    the test accuracies at that rate, and every collapsed run."""
    from bert_edu.analysis.stats import mean_interval

    rows = []
    arms = sorted({(r["model"], str(r["n"])) for r in runs if r.get("lr") in grid and r["model"] != "bow"})
    for model, n in arms:
        at = {lr: [r for r in runs if r["model"] == model and str(r["n"]) == n and r.get("lr") == lr] for lr in grid}
        at = {lr: rs for lr, rs in at.items() if rs}
        mean_val = {lr: sum(r["validation_accuracy"] for r in rs) / len(rs) for lr, rs in at.items()}
        chosen = max(mean_val, key=mean_val.get)
        test = [r["test_accuracy"] for r in sorted(at[chosen], key=lambda r: r["seed"])]
        row = {"model": model, "n": n, "grid": sorted(at), "seeds": sorted({r["seed"] for r in at[chosen]}),
               "mean_validation_accuracy": {f"{lr:g}": v for lr, v in sorted(mean_val.items())},
               "chosen_lr": chosen, "test_accuracy": test,
               "collapsed_runs": [{"lr": r["lr"], "seed": r["seed"], "test_accuracy": r["test_accuracy"]}
                                  for rs in at.values() for r in rs if r.get("collapsed")]}
        if len(test) >= 2:
            row["test_mean"], row["test_half_interval"] = mean_interval(test)
        rows.append(row)
    return rows


def checkpoint_info(folder) -> dict:
    """What the pretrained checkpoint is: its size and the metrics its pretraining run recorded."""
    folder = Path(folder)
    info = {"name": folder.name, "config": {k: v for k, v in json.loads((folder / "config.json").read_text()).items()
                                            if k in ("hidden_size", "num_hidden_layers", "vocab_size")}}
    metrics = folder / "metrics.json"
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        info["pretraining"] = {"final": m.get("final"),  # the recipe, without this machine's paths
                               "config": {k: v for k, v in m.get("config", {}).items() if k not in ("out", "device")}}
    return info


def _portable(arg: str) -> str:
    """A path as anyone can type it: relative to the repository, or under ~ (no machine-specific prefix)."""
    for root, shown in ((Path.cwd(), ""), (Path.home(), "~/")):
        if arg.startswith(str(root) + os.sep):
            return shown + arg[len(str(root)) + 1:]
    return arg


def save(results, path):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def merge(args, argv) -> int:
    """--merge: the runs of several pieces in one file, each (model, n, seed, lr) once (the first piece wins)."""
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() and not args.fresh else {"runs": []}
    seen = {(r["model"], r["n"], r["seed"], r.get("lr")) for r in results["runs"]}
    for spec in args.merge:
        path, _, models = spec.partition(":")
        if not Path(path).is_file():
            print(f"error: --merge {path}: no such file; pass JSON files written by this script", file=sys.stderr)
            return 2
        piece = json.loads(Path(path).read_text())
        keep = set(models.split(",")) if models else None
        for run in piece["runs"]:
            key = (run["model"], run["n"], run["seed"], run.get("lr"))
            if (keep is None or run["model"] in keep) and key not in seen:
                run.setdefault("collapsed", collapsed(run["test_accuracy"]))  # runs written before the flag
                results["runs"].append(run)
                seen.add(key)
        for key in ("recipes", "min_epoch_examples", "eval_examples", "torch", "machine", "lr_grid"):
            results.setdefault(key, piece.get(key))
        if keep is None or keep & {"pretrained", "scratch"}:
            results.setdefault("checkpoint", piece.get("checkpoint"))
        results["commands"] = results.get("commands", []) + [c for c in piece.get("commands", [])
                                                             if c not in results.get("commands", [])]
    grid = [float(x) for x in args.lrs.split(",")] if args.lrs else results.get("lr_grid")
    if grid:
        results["lr_grid"] = grid
        results["lr_selection"] = lr_selection(results["runs"], grid)
    command = "python benchmarks/learning_curve.py " + " ".join(map(_portable, argv or sys.argv[1:]))
    results["commands"].append(command)
    save(results, out)
    print(f"{out}: {len(results['runs'])} runs")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pretrained", help="folder of the learner's pretrained checkpoint (models pretrained, scratch)")
    p.add_argument("--out", default="benchmarks/results/learning_curve.json")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--fresh", action="store_true", help="start a new file instead of resuming")
    p.add_argument("--lrs", default=None, help="comma-separated grid of learning rates for the BERT arms: each "
                   "(arm, label count, seed) runs at every rate and the JSON records the choice on validation")
    p.add_argument("--merge", nargs="+", metavar="FILE[:models]", help="gather the runs of these JSON files (pieces "
                   "of one sweep run in parallel) into --out instead of running anything")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args, argv)
    if args.pretrained and not (Path(args.pretrained) / "config.json").is_file():
        print(f"error: --pretrained {args.pretrained}: no config.json there; pass a checkpoint folder", file=sys.stderr)
        return 2
    if not args.pretrained and {"pretrained", "scratch"} & set(args.models.split(",")):
        print("error: models pretrained and scratch need --pretrained DIR", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() and not args.fresh else {"runs": []}
    command = "OMP_NUM_THREADS=1 python benchmarks/learning_curve.py " + " ".join(map(_portable, argv or sys.argv[1:]))
    results["commands"] = [c for c in results.get("commands", []) if c != command] + [command]
    results.update(recipes={"small": finetune.SMALL_MODEL_RECIPE, "default": finetune.DEFAULTS},
                   min_epoch_examples=finetune.MIN_EPOCH_EXAMPLES, eval_examples=EVAL_EXAMPLES,
                   torch=torch.__version__, machine=platform.machine())
    if args.pretrained:
        results["checkpoint"] = checkpoint_info(args.pretrained)
    grid = [float(x) for x in args.lrs.split(",")] if args.lrs else [None]
    done = {(r["model"], r["n"], r["seed"], r.get("lr") if args.lrs else None) for r in results["runs"]}
    splits = sentiment.sentiment_splits()
    val, test = splits["validation"][:EVAL_EXAMPLES], splits["test"]
    sizes = [s if s == "all" else int(s) for s in args.sizes.split(",")]
    for n in sizes:
        for seed in map(int, args.seeds.split(",")):
            train = subset(splits["train"], n, seed)
            for model_name in args.models.split(","):
                for lr in ([None] if model_name == "bow" else grid):
                    if (model_name, n, seed, lr) in done or (model_name == "bow" and (model_name, n, seed, None)
                                                             in {d[:3] + (None,) for d in done}):
                        continue
                    start = time.perf_counter()
                    if model_name == "bow":
                        row = run_bow(train, val, test)
                    else:
                        row = run_bert(model_name, args.pretrained, train, val, test, seed, lr=lr)
                    row = {"model": model_name, "n": n, "train_examples": len(train), "seed": seed, **row,
                           "seconds": round(time.perf_counter() - start, 1)}
                    results["runs"].append(row)
                    if args.lrs:
                        results["lr_grid"] = grid
                        results["lr_selection"] = lr_selection(results["runs"], grid)
                    save(results, out)
                    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

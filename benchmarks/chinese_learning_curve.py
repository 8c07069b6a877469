"""Learning curve for notebook 13: a Chinese BERT pretrained on the unlabelled train reviews vs the same network
from random weights vs a character n-gram bag of words, at 100 / 300 / 1,000 / all labels (issue 29).

* ``pretrained``: a tiny BERT with a character-level vocabulary (``chinese_reviews.character_vocabulary``),
  pretrained with MLM only (``python -m bert_edu.pretrain``'s run, ``nsp_weight=0``) on the train reviews without
  their labels (``chinese_reviews.pretraining_documents``), for ``--pretrain-steps`` steps; or ``--pretrained DIR``;
* ``scratch``: the same network and vocabulary from random weights;
* ``ngrams``: a logistic regression on the character 1- and 2-grams (``chinese_reviews.CharNgramBag``).

Each arm trains on the first N reviews of a seed-shuffled copy of the train split (3 seeds), with its learning rate
(or L2 penalty) chosen on the 1,000 validation reviews at seed 0 for each N, and is scored once on all 2,000 test
reviews. Takes hours on one CPU core; run it in the background and commit the JSON::

    OMP_NUM_THREADS=1 nice python benchmarks/chinese_learning_curve.py \\
        --out benchmarks/results/chinese_learning_curve.json

``--dry-run`` runs every code path on a few reviews and steps (a minute) and writes to a temporary file unless
``--out`` is given. Notebook 13 plots the committed JSON when it exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from bert_edu.analysis.stats import mean_interval
from bert_edu.data import chinese_reviews as cr
from bert_edu.data.assets import checkpoint_dir
from bert_edu.text.tokenizer import BertTokenizer
from bert_edu.train import common, finetune
from bert_edu.evaluation.baselines import bow_accuracy, fit_logistic_regression
from bert_edu.train.pretrain import PretrainConfig, run

SIZES = (100, 300, 1000, "all")
SEEDS = (0, 1, 2)
LR_GRID = (3e-4, 1e-3, 3e-3)  # about half a decade apart, around 08's tiny-model optimum (2e-3)
ARMS = ("ngrams", "scratch", "pretrained")
PRETRAIN = dict(max_steps=3000, batch_size=128, seq_len=64, lr=2e-3, nsp_weight=0.0, eval_every=500,
                eval_sequences=1024)
DRY = dict(sizes=(16, 32), seeds=(0, 1), lrs=(5e-4,), pretrain=dict(max_steps=4, batch_size=16, eval_every=2,
                                                                      eval_sequences=32), eval_n=32, epochs=1)


def subset(train, n, seed):
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return [train[i] for i in order[: len(train) if n == "all" else n]]


def pretrain(out: Path, steps_override: dict, train_texts) -> dict:
    tokenizer = BertTokenizer(cr.character_vocabulary(train_texts))
    cfg = PretrainConfig(corpus=str(cr.corpus_path()), out=str(out), device="cpu", **{**PRETRAIN, **steps_override})
    metrics = run(cfg, tokenizer=tokenizer, progress=False)
    return {"final": metrics["final"], "baselines": metrics["baselines"], "steps": metrics["step"],
            "vocab_size": tokenizer.vocab_size, "config": {k: v for k, v in metrics["config"].items()
                                                           if k not in ("out", "device", "corpus")}}


def run_ngrams(train, val, test) -> dict:
    texts, labels = [r.text for r in train], [r.label for r in train]
    bag = cr.CharNgramBag.fit(texts, min_count=2)  # as notebook 13
    model, info = fit_logistic_regression(bag, texts, labels, [r.text for r in val], [r.label for r in val], steps=100)
    return {"test_accuracy": bow_accuracy(model, bag, [r.text for r in test], [r.label for r in test]),
            "validation_accuracy": info["validation_accuracy"], "l2": info["l2"]}


def run_bert(arm, checkpoint, train, val, test, seed, lr, epochs) -> dict:
    t0 = time.perf_counter()
    common.set_seed(seed)
    if arm == "scratch":
        model, tok = finetune.scratch_classifier(checkpoint, cr.LABEL_NAMES)
    else:
        model, tok = finetune.pretrained_classifier(checkpoint, cr.LABEL_NAMES, verbose=False)
    recipe = {**finetune.SMALL_MODEL_RECIPE, "lr": lr, **({"epochs": epochs} if epochs else {})}
    train_f, repeats = finetune.repeat_to(finetune.encode(tok, train))
    fit = finetune.train_classifier(model, train_f, finetune.encode(tok, val), seed=seed, device="cpu",
                                    pad_token_id=tok.pad_token_id, progress=False, log=None, **recipe)
    test_m = finetune.evaluate(model, finetune.encode(tok, test), pad_token_id=tok.pad_token_id)
    predicted = test_m["probs"].argmax(-1)
    return {"test_accuracy": test_m["accuracy"], "validation_accuracy": fit.best["accuracy"],
            # a collapsed run predicts one class for every test review: reported as such, not hidden in a mean
            "collapsed": bool((predicted == predicted[0]).all()),
            "best_epoch": fit.best_epoch, "repeats": repeats, **recipe,
            "seconds": round(time.perf_counter() - t0, 1)}


def summarise(runs: list[dict]) -> list[dict]:
    """Per arm and size: test accuracy over seeds (mean, 95% t-interval half-width); pretrained minus scratch
    paired by seed."""
    rows = []
    keys = sorted({(r["arm"], str(r["n"])) for r in runs})
    for arm, n in keys:
        acc = [r["test_accuracy"] for r in runs if r["arm"] == arm and str(r["n"]) == n]
        mean, half = mean_interval(acc) if len(acc) > 1 else (acc[0], float("nan"))
        collapsed = sum(bool(r.get("collapsed")) for r in runs if r["arm"] == arm and str(r["n"]) == n)
        rows.append({"arm": arm, "n": n, "seeds": len(acc), "mean": mean, "half_width": half, "collapsed": collapsed})
    for n in sorted({str(r["n"]) for r in runs}):
        by = {(r["arm"], r["seed"]): r["test_accuracy"] for r in runs if str(r["n"]) == n}
        diffs = [by[("pretrained", s)] - by[("scratch", s)] for (a, s) in by if a == "pretrained" and ("scratch", s) in by]
        if len(diffs) > 1:
            mean, half = mean_interval(diffs)
            rows.append({"arm": "pretrained-scratch", "n": n, "seeds": len(diffs), "mean": mean, "half_width": half})
    return rows


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="the result JSON (default: benchmarks/results/chinese_learning_curve.json; "
                                 "a temporary file with --dry-run)")
    p.add_argument("--pretrained", help="a pretrained checkpoint folder instead of pretraining here")
    p.add_argument("--pretrain-steps", type=int, default=PRETRAIN["max_steps"])
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--dry-run", action="store_true", help="every code path on a few reviews and steps")
    args = p.parse_args(argv)
    if args.pretrained and not (Path(args.pretrained) / "config.json").is_file():
        p.error(f"--pretrained {args.pretrained}: no config.json there; pass a checkpoint folder")
    unknown = set(args.arms.split(",")) - set(ARMS)
    if unknown:
        p.error(f"--arms: unknown {sorted(unknown)}; choose from {','.join(ARMS)}")
    return args


def main(argv=None) -> int:
    args = _parse(argv)
    dry = args.dry_run
    out = Path(args.out or (Path(tempfile.gettempdir()) / "chinese_learning_curve.dry.json" if dry
                            else "benchmarks/results/chinese_learning_curve.json"))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    splits = cr.load_splits()
    val, test = splits["validation"], splits["test"]
    if dry:
        val, test = val[:DRY["eval_n"]], test[:DRY["eval_n"]]
    sizes, seeds = (DRY["sizes"], DRY["seeds"]) if dry else (SIZES, SEEDS)
    lrs = DRY["lrs"] if dry else LR_GRID
    arms = args.arms.split(",")
    command = "OMP_NUM_THREADS=1 python benchmarks/chinese_learning_curve.py " + " ".join(argv or sys.argv[1:])
    results = {"description": __doc__.split("\n\n")[0], "command": command.strip(), "dry_run": dry,
               "torch": torch.__version__, "machine": platform.machine(),
               "data": {k: len(v) for k, v in splits.items()}, "runs": []}
    start = time.perf_counter()
    checkpoint = args.pretrained
    if checkpoint is None and {"pretrained", "scratch"} & set(arms):
        checkpoint = checkpoint_dir("pretrain-chinese-curve" + ("-dry" if dry else ""))
        steps = DRY["pretrain"] if dry else {"max_steps": args.pretrain_steps}
        results["pretraining"] = pretrain(checkpoint, steps, [r.text for r in splits["train"]])
        print(json.dumps({"pretraining": results["pretraining"]["final"]}), flush=True)
    for n in sizes:
        for arm in arms:
            chosen = None
            if arm != "ngrams":  # the learning rate, on validation, at the first seed
                trials = {lr: run_bert(arm, checkpoint, subset(splits["train"], n, seeds[0]), val, test, seeds[0], lr,
                                       DRY["epochs"] if dry else None) for lr in lrs}
                chosen = max(lrs, key=lambda lr: (trials[lr]["validation_accuracy"], -lr))
                results.setdefault("lr_choice", []).append(
                    {"arm": arm, "n": n, "validation": {str(lr): t["validation_accuracy"] for lr, t in trials.items()},
                     "chosen": chosen})
            for seed in seeds:
                train = subset(splits["train"], n, seed)
                t0 = time.perf_counter()
                if arm == "ngrams":
                    row = run_ngrams(train, val, test)
                elif seed == seeds[0]:
                    row = trials[chosen]
                else:
                    row = run_bert(arm, checkpoint, train, val, test, seed, chosen, DRY["epochs"] if dry else None)
                row = {"arm": arm, "n": n, "seed": seed, "train_examples": len(train),
                       "seconds": round(time.perf_counter() - t0, 1), **row}
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    results["summary"] = summarise(results["runs"])
    results["seconds"] = round(time.perf_counter() - start, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

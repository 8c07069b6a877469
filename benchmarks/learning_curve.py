"""Learning curve for notebook 08: test accuracy against the number of labelled sentences (issue 16).

Four classifiers, each fine-tuned/trained on the first N sentences of a seed-shuffled copy of the training
split (so each seed sees different sentences, and the sets grow with N), chosen on 500 validation
sentences, scored once on the whole test split:

* ``pretrained``: the learner's checkpoint (``--pretrained``: notebook 07's, or ``python -m bert_edu.pretrain``'s);
* ``scratch``:    the same network and vocabulary from random weights;
* ``minilm``:     all-MiniLM-L6-v2 (distilled, then trained on ~1B sentence pairs, some labelled);
* ``bow``:        a bag-of-words logistic regression (``bert_edu.train.baselines``).

Too slow for a notebook (about an hour of one CPU core); run it in the background and commit the JSON::

    OMP_NUM_THREADS=1 nice python benchmarks/learning_curve.py --pretrained DIR \\
        --out benchmarks/results/learning_curve.json

The JSON is written after every run and finished runs are skipped, so an interrupted run resumes; delete the
file (or pass ``--fresh``) after changing the checkpoint or a recipe. Notebook 08 plots it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch

from bert_edu import datasets, finetune, training  # old names; aliases of bert_edu.data / bert_edu.train
from bert_edu.train.baselines import BagOfWords, bow_accuracy, fit_logistic_regression

SIZES = (100, 300, 1000, 3000, "all")
MODELS = ("bow", "scratch", "pretrained", "minilm")
# Fine-tuning recipes. A small training set is repeated so that one "epoch" sees at least ROUND sentences:
# 100 sentences x 1 epoch would be 3 optimiser steps, too few to move any weights.
RECIPES = {
    "tiny": dict(lr=5e-4, batch_size=32, epochs=5),  # notebook 08's recipe for its tiny models
    "minilm": dict(lr=1e-4, batch_size=16, epochs=3),  # the command line's defaults
}
ROUND = 1000
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
        return finetune.build_classifier("minilm", datasets.LABELS, verbose=False)
    if model_name == "scratch":
        return finetune.scratch_classifier(pretrained, datasets.LABELS)
    return finetune.pretrained_classifier(pretrained, datasets.LABELS, verbose=False)


def run_bert(model_name, pretrained, train, val, test, seed, recipe) -> dict:
    training.set_seed(seed)
    model, tok = build(model_name, pretrained)
    repeats = math.ceil(ROUND / len(train))
    train_f = finetune.encode(tok, train) * repeats
    val_f, test_f = finetune.encode(tok, val), finetune.encode(tok, test)
    fit = finetune.train_classifier(model, train_f, val_f, seed=seed, device="cpu", pad_token_id=tok.pad_token_id,
                                    bucket=True, progress=False, log=None, **recipe)
    test_m = finetune.evaluate(model, test_f, pad_token_id=tok.pad_token_id)
    return {"test_accuracy": test_m["accuracy"], "validation_accuracy": fit.best["accuracy"],
            "best_epoch": fit.best_epoch, "repeats": repeats, "steps": fit.steps, **recipe}


def checkpoint_info(folder) -> dict:
    """What the pretrained checkpoint is: its size and the metrics its pretraining run recorded."""
    folder = Path(folder)
    info = {"name": folder.name, "config": {k: v for k, v in json.loads((folder / "config.json").read_text()).items()
                                            if k in ("hidden_size", "num_hidden_layers", "vocab_size")}}
    metrics = folder / "metrics.json"
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        info["pretraining"] = {k: m[k] for k in ("config", "final") if k in m}
    return info


def save(results, path):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)  # atomic: a reader never sees half a file


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pretrained", help="folder of the learner's pretrained checkpoint (models pretrained, scratch)")
    p.add_argument("--out", default="benchmarks/results/learning_curve.json")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--fresh", action="store_true", help="start a new file instead of resuming")
    args = p.parse_args(argv)
    if args.pretrained and not (Path(args.pretrained) / "config.json").is_file():
        print(f"error: --pretrained {args.pretrained}: no config.json there; pass a checkpoint folder", file=sys.stderr)
        return 2
    if not args.pretrained and {"pretrained", "scratch"} & set(args.models.split(",")):
        print("error: models pretrained and scratch need --pretrained DIR", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() and not args.fresh else {"runs": []}
    results.update(command="OMP_NUM_THREADS=1 python benchmarks/learning_curve.py " + " ".join(argv or sys.argv[1:]),
                   recipes=RECIPES, round=ROUND,
                   eval_examples=EVAL_EXAMPLES, torch=torch.__version__, machine=platform.machine())
    if args.pretrained:
        results["checkpoint"] = checkpoint_info(args.pretrained)
    done = {(r["model"], r["n"], r["seed"]) for r in results["runs"]}
    splits = datasets.sentiment_splits()
    val, test = splits["validation"][:EVAL_EXAMPLES], splits["test"]
    sizes = [s if s == "all" else int(s) for s in args.sizes.split(",")]
    for n in sizes:
        for seed in map(int, args.seeds.split(",")):
            train = subset(splits["train"], n, seed)
            for model_name in args.models.split(","):
                if (model_name, n, seed) in done:
                    continue
                start = time.perf_counter()
                if model_name == "bow":
                    row = run_bow(train, val, test)
                else:
                    recipe = RECIPES["minilm" if model_name == "minilm" else "tiny"]
                    row = run_bert(model_name, args.pretrained, train, val, test, seed, recipe)
                row = {"model": model_name, "n": n, "train_examples": len(train), "seed": seed, **row,
                       "seconds": round(time.perf_counter() - start, 1)}
                results["runs"].append(row)
                save(results, out)
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

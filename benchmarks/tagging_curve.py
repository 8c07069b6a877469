"""Does the learner's pretraining help TAGGING, where it does not help sentiment? (issue 26; notebook 08, part 2)

Notebook 08 explains why the course's own pretrained tiny model does not beat random weights on sentiment: masked
language modelling learns which word fits a slot (its part of speech, its kind), not its polarity. That
explanation predicts that the same checkpoint DOES help a tagging task. This script measures it, with the fair
recipe of the sentiment learning curve:

* tasks: part-of-speech tagging (word accuracy; CoNLL-2003's second column, 45 Penn Treebank tags) and named
  entities (entity F1; its last column), from the asset ``conll2003`` (Reuters news; the pretraining corpus has
  no news, so this is also a change of domain);
* arms: ``pretrained`` (the checkpoint given by ``--pretrained``) and ``scratch`` (the same architecture and
  vocabulary from random weights), and the most-frequent-tag baseline (the CoNLL shared task's);
* the first N training sentences of a seed-shuffled copy (N = 100, 300, 1,000; each seed sees other sentences),
  repeated up to 1,000 sentences per epoch, 5 epochs, batch 32 (the sentiment recipe for the tiny model);
* every learning rate of ``--lrs`` for every arm, size and seed; the best epoch and the rate are chosen on 500
  validation sentences (per arm and size: best mean over the seeds), the test file (3,453 sentences) is scored
  once per run. Collapsed runs (every word the same tag) are listed.

    OMP_NUM_THREADS=1 python benchmarks/tagging_curve.py --pretrained benchmarks/results/checkpoints/pretrain-5600

writes ``benchmarks/results/tagging_curve.json`` after every run (an interrupted run resumes; ``--fresh`` starts
over). About 30 minutes on one CPU thread.
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

ROOT = Path(__file__).resolve().parent.parent
SIZES = (100, 300, 1000)
TASKS = ("pos", "ner")
ARMS = ("pretrained", "scratch")
EVAL_SENTENCES = 500
DEFAULT_OUT = "benchmarks/results/tagging_curve.json"


def with_pos_tags(sentences):
    """The same sentences with their part-of-speech tags as the labels."""
    from bert_edu.data.conll import Sentence

    return [Sentence(s.words, list(s.pos), s.columns, s.line) for s in sentences]


def data(task: str) -> dict:
    from bert_edu.data.conll import conll2003_path, read_conll

    splits = {k: read_conll(conll2003_path(k)) for k in ("train", "validation", "test")}
    if task == "pos":
        splits = {k: with_pos_tags(v) for k, v in splits.items()}
    splits["validation"] = random.Random(0).sample(splits["validation"], EVAL_SENTENCES)
    return splits


def labels_of(task: str, sentences) -> list[str]:
    from bert_edu.data.conll import label_list

    if task == "ner":
        return label_list(sentences)
    return sorted({t for s in sentences for t in s.tags})


def word_accuracy(gold, predicted) -> float:
    pairs = [(g, p) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)]
    return sum(g == p for g, p in pairs) / len(pairs)


def score(task, sentences, predicted) -> float:
    """The task's metric: word accuracy (POS) or entity F1 (NER)."""
    from bert_edu.evaluation.entities import entity_scores

    gold = [s.tags for s in sentences]
    return word_accuracy(gold, predicted) if task == "pos" else entity_scores(gold, predicted)["f1"]


def subset(train, n, seed):
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    return [train[i] for i in order[:n]]


def run_tagger(task, arm, checkpoint, train, val, test, labels, seed, lr) -> dict:
    from bert_edu.data.conll import encode_sentences
    from bert_edu.train import common, finetune, ner
    from bert_edu.train.classify import repeat_to
    from bert_edu.train.loop import fit

    common.set_seed(seed)
    if arm == "pretrained":
        model, tok = ner.build_tagger(str(checkpoint), labels, verbose=False)
    else:
        model, tok = ner.build_tagger("scratch", labels, like=str(checkpoint), verbose=False)
    label2id = {t: i for i, t in enumerate(labels)}
    train_f, repeats = repeat_to(encode_sentences(tok, train, label2id))
    val_f, test_f = encode_sentences(tok, val, label2id), encode_sentences(tok, test, label2id)

    def evaluate(model, device, mixed_precision):
        predicted, loss = ner.predict_tags(model, val_f, [len(s.words) for s in val], device=device,
                                           pad_token_id=tok.pad_token_id, mixed_precision=mixed_precision)
        return {"score": score(task, val, predicted), "loss": loss}

    recipe = {k: v for k, v in finetune.SMALL_MODEL_RECIPE.items() if k != "lr"}
    result = fit(model, train_f, lambda fs: ner.collate_tags(fs, tok.pad_token_id), evaluate=evaluate,
                 metric="score", epochs=recipe["epochs"], lr=lr, batch_size=recipe["batch_size"], seed=seed,
                 device="cpu", bucket=True, progress=False, log=None)
    predicted, _ = ner.predict_tags(model, test_f, [len(s.words) for s in test], pad_token_id=tok.pad_token_id)
    tags_used = {t for sentence in predicted for t in sentence}
    return {"test_score": score(task, test, predicted), "validation_score": result.best["score"],
            "best_epoch": result.best_epoch, "repeats": repeats, "steps": result.steps, "lr": lr, **recipe,
            "collapsed": len(tags_used) == 1}


def baseline(task, train, test) -> float:
    from bert_edu.evaluation.baselines import most_frequent_tag_baseline

    predicted = most_frequent_tag_baseline(train, test)
    if task == "pos":  # an unseen word: the most frequent tag of the training words instead of "O"
        from collections import Counter

        common_tag = Counter(t for s in train for t in s.tags).most_common(1)[0][0]
        seen = {w for s in train for w in s.words}
        predicted = [[p if w in seen else common_tag for w, p in zip(s.words, ps)] for s, ps in zip(test, predicted)]
    return score(task, test, predicted)


def selection(runs, grid) -> list[dict]:
    """Per task, arm and size: the rate with the best mean validation score, its test scores, the collapsed runs;
    and per task and size the paired difference pretrained - scratch (each at its own chosen rate)."""
    from bert_edu.analysis.stats import mean_interval

    rows = []
    for task in TASKS:
        for n in SIZES:
            chosen = {}
            for arm in ARMS:
                at = {lr: [r for r in runs if (r["task"], r["arm"], r["n"], r["lr"]) == (task, arm, n, lr)]
                      for lr in grid}
                at = {lr: rs for lr, rs in at.items() if rs}
                if not at:
                    continue
                mean_val = {lr: sum(r["validation_score"] for r in rs) / len(rs) for lr, rs in at.items()}
                lr = max(mean_val, key=mean_val.get)
                best = sorted(at[lr], key=lambda r: r["seed"])
                row = {"task": task, "arm": arm, "n": n, "grid": sorted(at), "seeds": [r["seed"] for r in best],
                       "mean_validation_score": {f"{k:g}": v for k, v in sorted(mean_val.items())},
                       "chosen_lr": lr, "test_score": [r["test_score"] for r in best],
                       "collapsed_runs": [{"lr": r["lr"], "seed": r["seed"]} for rs in at.values() for r in rs
                                          if r["collapsed"]]}
                if len(best) >= 2:
                    row["test_mean"], row["test_half_interval"] = mean_interval(row["test_score"])
                chosen[arm] = row
                rows.append(row)
            if len(chosen) == 2:
                a, b = chosen["pretrained"], chosen["scratch"]
                seeds = sorted(set(a["seeds"]) & set(b["seeds"]))
                diff = [a["test_score"][a["seeds"].index(s)] - b["test_score"][b["seeds"].index(s)] for s in seeds]
                if len(diff) >= 2:
                    mean, half = mean_interval(diff)
                    rows.append({"task": task, "n": n, "paired_pretrained_minus_scratch": diff, "mean": mean,
                                 "half_interval": half, "beyond_noise": abs(mean) > half})
    return rows


def save(results, path):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)  # atomic


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pretrained", required=True, help="folder of the learner's pretrained checkpoint")
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--sizes", default=",".join(map(str, SIZES)))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--lrs", default="5e-4,1e-3,2e-3,4e-3")
    p.add_argument("--fresh", action="store_true")
    args = p.parse_args(argv)
    if not (Path(args.pretrained) / "config.json").is_file():
        print(f"error: --pretrained {args.pretrained}: no config.json there; pass a checkpoint folder", file=sys.stderr)
        return 2
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() and not args.fresh else {"runs": [], "baselines": []}
    grid = [float(x) for x in args.lrs.split(",")]
    command = ("OMP_NUM_THREADS=1 python benchmarks/tagging_curve.py "
               + " ".join(a.replace(str(ROOT) + "/", "") for a in (argv or sys.argv[1:])))
    results["commands"] = [c for c in results.get("commands", []) if c != command] + [command]
    from bert_edu.train import finetune

    results.update(recipe={k: v for k, v in finetune.SMALL_MODEL_RECIPE.items() if k != "lr"},
                   lr_grid=grid, eval_sentences=EVAL_SENTENCES, checkpoint=args.pretrained.replace(str(ROOT) + "/", ""),
                   metrics={"pos": "word accuracy", "ner": "entity F1"}, torch=torch.__version__,
                   machine=platform.machine())
    done = {(r["task"], r["arm"], r["n"], r["seed"], r["lr"]) for r in results["runs"]}
    for task in args.tasks.split(","):
        splits = data(task)
        labels = labels_of(task, splits["train"])
        for n in map(int, args.sizes.split(",")):
            for seed in map(int, args.seeds.split(",")):
                train = subset(splits["train"], n, seed)
                if not any((b["task"], b["n"], b["seed"]) == (task, n, seed) for b in results["baselines"]):
                    results["baselines"].append({"task": task, "n": n, "seed": seed,
                                                 "test_score": baseline(task, train, splits["test"])})
                for arm in ARMS:
                    for lr in grid:
                        if (task, arm, n, seed, lr) in done:
                            continue
                        start = time.perf_counter()
                        row = run_tagger(task, arm, args.pretrained, train, splits["validation"], splits["test"],
                                         labels, seed, lr)
                        row = {"task": task, "arm": arm, "n": n, "seed": seed, **row,
                               "seconds": round(time.perf_counter() - start, 1)}
                        results["runs"].append(row)
                        results["selection"] = selection(results["runs"], grid)
                        save(results, out)
                        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

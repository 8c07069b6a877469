"""What compute buys: the same pretraining recipe at several budgets, each fine-tuned at a few label counts (issue 16).

Every number comes from the two command lines, run exactly as a user would run them:

    python -m bert_edu.pretrain --out WORK/pretrain-STEPS --max-steps STEPS --no-progress   # defaults otherwise
    python -m bert_edu.finetune --train SUBSET.csv --eval validation.csv --test test.csv \\
        --init WORK/pretrain-STEPS --out WORK/ft/... --seed SEED --no-progress             # defaults otherwise

Budget 0 is the same network and vocabulary from random weights (``--init scratch --like`` the smallest budget's
checkpoint). SUBSET.csv is the first N sentences of the training split shuffled with SEED, so each seed sees other
sentences and the sets grow with N. Too slow for a notebook; run it in the background:

    OMP_NUM_THREADS=1 nice python benchmarks/exchange_rate.py --out benchmarks/results/exchange_rate.json

The JSON is rewritten after every run, and finished runs are skipped, so
an interrupted run resumes (``--fresh`` starts over). Notebook 08 plots it. Keys: ``budgets`` (steps,
cpu_minutes, tokens, checkpoint, held-out mlm/nsp accuracy), ``runs`` (steps, labels, seed, accuracy = validation,
test_accuracy), ``summary`` (steps, cpu_minutes, labels, mean, ci95 = half-width of the 95% t-interval, n), ``commands``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def command(args: list[str], log) -> dict:
    """Run ``python -m ...`` and return the JSON of its last stdout line (both command lines print one)."""
    cmd = [sys.executable, *args]
    log("$ " + " ".join(["python", *args]))
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def subset_file(data: Path, n: int, seed: int) -> Path:
    """The first n rows of train.csv shuffled with ``seed``, as a CSV the fine-tuning command line reads."""
    path = data / f"train_{n}_seed{seed}.csv"
    if not path.is_file():
        with open(data / "train.csv", newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header, rows = next(reader), list(reader)
        random.Random(seed).shuffle(rows)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows[:n])
    return path


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def summarise(results: dict) -> list[dict]:
    minutes = {b["steps"]: b["cpu_minutes"] for b in results["budgets"]}
    rows = []
    for steps in sorted(minutes):
        for n in results["label_counts"]:
            accs = [r["test_accuracy"] for r in results["runs"] if r["steps"] == steps and r["labels"] == n]
            if accs:
                mean, ci = interval(accs)
                rows.append({"steps": steps, "cpu_minutes": minutes[steps], "labels": n, "mean": mean,
                             "ci95": ci, "n": len(accs)})
    return rows


def paired(results: dict) -> list[dict]:
    """Each budget minus budget 0 (random weights), paired by (labels, seed): the same sentences, the same seed."""
    acc = {(r["steps"], r["labels"], r["seed"]): r["test_accuracy"] for r in results["runs"]}
    rows = []
    for steps in sorted({s for s, _, _ in acc if s > 0}):
        for n in results["label_counts"]:
            diffs = [acc[(steps, n, seed)] - acc[(0, n, seed)] for seed in results["seeds"]
                     if (steps, n, seed) in acc and (0, n, seed) in acc]
            if len(diffs) >= 2:
                mean, ci = interval(diffs)
                rows.append({"steps": steps, "labels": n, "mean": mean, "ci95": ci, "n": len(diffs),
                             "beyond_noise": abs(mean) > ci})
    return rows


# The longest budget's checkpoint is small (about 4 MB: config, weights, vocabulary) and is committed here, so
# notebook 07 can show what more pretraining changes without re-running it.
COMMITTED = REPO / "benchmarks" / "results" / "checkpoints"
CHECKPOINT_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def commit_checkpoint(folder: Path, budget: dict) -> str:
    """Copy the files a reader needs (not the optimiser state) and the run's metrics without machine paths."""
    import shutil

    target = COMMITTED / folder.name
    target.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        shutil.copyfile(folder / name, target / name)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["config"] = {k: v for k, v in metrics.get("config", {}).items() if k not in ("out", "device")}
    metrics.pop("history", None)  # every step's loss: 150 kB nobody reads here
    (target / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    budget["committed_checkpoint"] = relative(target)
    return relative(target)


def save(results: dict, path: Path) -> None:
    results["summary"] = summarise(results)
    results["paired"] = paired(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="benchmarks/results/exchange_rate.json")
    p.add_argument("--work", default="runs/exchange_rate", help="checkpoints, data and fine-tuned models")
    p.add_argument("--steps", default="0,175,700,2100", help="pretraining budgets in optimiser steps (0 = none)")
    p.add_argument("--labels", default="100,300,1000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--commit-checkpoint", action="store_true",
                   help=f"copy the longest budget's checkpoint to {relative(COMMITTED)} (about 4 MB)")
    args = p.parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    budgets = sorted(int(s) for s in args.steps.split(","))
    labels, seeds = [int(n) for n in args.labels.split(",")], [int(s) for s in args.seeds.split(",")]
    if not [b for b in budgets if b > 0]:
        print("error: --steps needs at least one budget > 0 (budget 0 borrows its network from it)", file=sys.stderr)
        return 2
    out, work = Path(args.out), Path(args.work).resolve()
    results = json.loads(out.read_text()) if out.is_file() and not args.fresh else {}
    results.update(description=__doc__.split("\n")[0], label_counts=labels, seeds=seeds,
                   machine=f"{platform.machine()} CPU, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
                   corpus="the course corpus (bert_edu.data.corpus.COURSE_CORPUS)",
                   minutes_note="cpu_minutes = the pretraining command's own training seconds / 60 on this machine "
                                "(1 thread; inflated when the machine is shared): compare budgets by steps and tokens",
                   pretrain_flags=["--max-steps STEPS", "--no-progress"],
                   finetune_flags=["--max-length 128", "--no-progress", "--seed SEED"],
                   script="OMP_NUM_THREADS=1 python benchmarks/exchange_rate.py " + " ".join(argv or sys.argv[1:]))
    results.setdefault("budgets", [])
    results.setdefault("runs", [])
    results.setdefault("commands", [])

    def run_logged(cmd):
        results["commands"].append("python " + " ".join(relative(Path(a)) if a.startswith("/") else a for a in cmd))
        return command(cmd, log)

    data = work / "data"
    if not (data / "test.csv").is_file():
        subprocess.run([sys.executable, "-m", "bert_edu.data", "sentiment", str(data)], cwd=REPO, check=True,
                       capture_output=True)  # prints a table, not JSON
        results["commands"].append(f"python -m bert_edu.data sentiment {relative(data)}")
    folders = {}
    done_budgets = {b["steps"]: b for b in results["budgets"]}
    for steps in [b for b in budgets if b > 0]:
        folder = work / f"pretrain-{steps}"
        folders[steps] = folder
        if steps in done_budgets and (folder / "model.safetensors").is_file():
            continue
        start = time.perf_counter()
        cmd = ["-m", "bert_edu.pretrain", "--out", str(folder), "--max-steps", str(steps), "--no-progress"]
        saved = folder / "metrics.json"
        if saved.is_file() and (folder / "model.safetensors").is_file() and \
                json.loads(saved.read_text())["step"] == steps:  # finished before an interruption: read it back
            from bert_edu.train.pretrain import summary

            m = summary({**json.loads(saved.read_text()), "out": str(folder)})
            results["commands"].append("python " + " ".join(relative(Path(a)) if a.startswith("/") else a for a in cmd))
        else:
            m = run_logged(cmd)
        results["budgets"] = [b for b in results["budgets"] if b["steps"] != steps] + [{
            "steps": steps, "cpu_minutes": round(m["seconds"] / 60, 2), "wall_minutes":
            round((time.perf_counter() - start) / 60, 2), "tokens": round(m["seconds"] * m["tokens_per_second"]),
            "checkpoint": relative(folder), "mlm_accuracy": m.get("mlm_accuracy"),
            "nsp_accuracy": m.get("nsp_accuracy"), "pretrain": {**m, "out": relative(folder)}}]
        save(results, out)
    if 0 in budgets and 0 not in {b["steps"] for b in results["budgets"]}:
        results["budgets"].append({"steps": 0, "cpu_minutes": 0.0, "tokens": 0, "checkpoint": None,
                                   "mlm_accuracy": None, "nsp_accuracy": None})
    results["budgets"].sort(key=lambda b: b["steps"])
    like = folders[min(folders)]
    done = {(r["steps"], r["labels"], r["seed"]) for r in results["runs"]}
    for n in labels:
        for seed in seeds:
            train = subset_file(data, n, seed)
            for steps in budgets:
                if (steps, n, seed) in done:
                    continue
                init = ["--init", "scratch", "--like", str(like)] if steps == 0 else ["--init", str(folders[steps])]
                m = run_logged(["-m", "bert_edu.finetune", "--train", str(train), "--eval", str(data / "validation.csv"),
                                "--test", str(data / "test.csv"), *init, "--out", str(work / "ft" / f"{steps}-{n}-{seed}"),
                                "--seed", str(seed), "--no-progress"])
                results["runs"].append({"steps": steps, "labels": n, "seed": seed, "accuracy": m["accuracy"],
                                        "test_accuracy": m["test_accuracy"], "epochs": m.get("epochs"),
                                        "best_epoch": m.get("best_epoch"), "seconds": m.get("seconds")})
                save(results, out)
                log(f"steps {steps:5d}  labels {n:5d}  seed {seed}: test accuracy {m['test_accuracy']:.3f}")
    if args.commit_checkpoint:
        longest = max(results["budgets"], key=lambda b: b["steps"])
        log(f"committed checkpoint: {commit_checkpoint(folders[longest['steps']], longest)}")
    save(results, out)
    for row in results["summary"]:
        log(f"{row['steps']:5d} steps ({row['cpu_minutes']:5.1f} CPU-min)  {row['labels']:5d} labels: "
            f"{100 * row['mean']:.1f}% +- {100 * row['ci95']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

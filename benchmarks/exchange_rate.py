"""What compute buys: the same pretraining recipe at several budgets, each fine-tuned at a few label counts at its
own learning rate, chosen on validation (issues 16 and 26).

Pretraining is the command line, run exactly as a user would run it::

    python -m bert_edu.pretrain --out WORK/pretrain-STEPS --max-steps STEPS --no-progress   # defaults otherwise

Fine-tuning is ``benchmarks/learning_curve.py``'s fair sweep: the command line's recipe at every rate of ``--lrs``
with every seed, on the first N sentences of a seed-shuffled training split (sets under 1,000 sentences repeated to
1,000 per epoch), the rate chosen per budget and label count on 500 validation sentences, the test split scored
once per run::

    OMP_NUM_THREADS=1 python benchmarks/learning_curve.py --pretrained WORK/pretrain-STEPS --models pretrained \\
        --sizes N --seeds 0,1,2 --lrs 5e-4,1e-3,2e-3,4e-3 --out WORK/sweep-STEPS-N.json

Budget 0 is the same network from random weights (``learning_curve.py``'s scratch arm). Runs that the learning
curve's JSON already holds are taken from it instead of run again (``--reuse``): its scratch arm for budget 0, and
its pretrained arm for the budget whose checkpoint it used (the committed 5,600-step one), so the two files agree
run for run. Too slow for a notebook; run it in the background (the pieces resume when interrupted)::

    OMP_NUM_THREADS=1 nice python benchmarks/exchange_rate.py --out benchmarks/results/exchange_rate.json

Notebook 08 plots it. Keys: ``budgets`` (steps, cpu_minutes, tokens, checkpoint, held-out mlm/nsp accuracy),
``runs`` (steps, labels, seed, lr, accuracy = validation, test_accuracy, collapsed, source), ``lr_selection`` (per
budget and label count: the grid, each rate's mean validation accuracy, the chosen rate, the collapsed runs),
``summary`` (steps, cpu_minutes, labels, lr = the chosen rate, mean, ci95 = half-width of the 95% t-interval, n),
``paired`` (each budget minus budget 0, both at their chosen rates, paired by seed), ``commands``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
GRID = "5e-4,1e-3,2e-3,4e-3"  # the learning curve's grid for the pretrained arm


def command(args: list[str], log) -> dict:
    """Run ``python ARGS`` and return the JSON of its last stdout line (the pretraining command prints one)."""
    cmd = [sys.executable, *args]
    log("$ " + " ".join(["python", *args]))
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def select(results: dict) -> list[dict]:
    """Per budget and label count: each rate's mean validation accuracy over the seeds and the rate chosen on it
    (the best mean; the test split plays no part), with the runs that collapsed to one class."""
    rows = []
    for steps in sorted({r["steps"] for r in results["runs"]}):
        for n in results["label_counts"]:
            at = {}
            for r in results["runs"]:
                if r["steps"] == steps and r["labels"] == n:
                    at.setdefault(r["lr"], []).append(r)
            if not at:
                continue
            mean_val = {lr: statistics.fmean(r["accuracy"] for r in rs) for lr, rs in at.items()}
            chosen = max(sorted(mean_val), key=mean_val.get)  # a tie goes to the lowest rate
            rows.append({"steps": steps, "labels": n, "grid": sorted(at), "chosen_lr": chosen,
                         "mean_validation_accuracy": {f"{lr:g}": v for lr, v in sorted(mean_val.items())},
                         "seeds": sorted(r["seed"] for r in at[chosen]),
                         "collapsed_runs": [{"lr": r["lr"], "seed": r["seed"], "test_accuracy": r["test_accuracy"]}
                                            for lr in sorted(at) for r in at[lr] if r.get("collapsed")]})
    return rows


def chosen_runs(results: dict) -> dict:
    """{(steps, labels, seed): run} at each budget's chosen rate."""
    rate = {(row["steps"], row["labels"]): row["chosen_lr"] for row in results["lr_selection"]}
    return {(r["steps"], r["labels"], r["seed"]): r for r in results["runs"]
            if rate.get((r["steps"], r["labels"])) == r["lr"]}


def summarise(results: dict) -> list[dict]:
    minutes = {b["steps"]: b["cpu_minutes"] for b in results["budgets"]}
    at = chosen_runs(results)
    rows = []
    for steps in sorted(minutes):
        for n in results["label_counts"]:
            runs = [r for (s, k, _), r in sorted(at.items()) if s == steps and k == n]
            if runs:
                mean, ci = interval([r["test_accuracy"] for r in runs])
                rows.append({"steps": steps, "cpu_minutes": minutes[steps], "labels": n, "lr": runs[0]["lr"],
                             "mean": mean, "ci95": ci, "n": len(runs),
                             "collapsed": sum(bool(r.get("collapsed")) for r in runs)})
    return rows


def paired(results: dict) -> list[dict]:
    """Each budget minus budget 0 (random weights), each at its own chosen rate, paired by (labels, seed): the same
    sentences, the same seed."""
    acc = {key: r["test_accuracy"] for key, r in chosen_runs(results).items()}
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


def runs_from(curve: dict, model: str, steps: int, labels: list[int], seeds: list[int], source: str) -> list[dict]:
    """The sweep runs of one arm of a learning_curve.py JSON, as exchange-rate runs of budget ``steps``."""
    return [{"steps": steps, "labels": int(r["n"]), "seed": r["seed"], "lr": r["lr"],
             "accuracy": r["validation_accuracy"], "test_accuracy": r["test_accuracy"],
             "collapsed": bool(r.get("collapsed")), "best_epoch": r.get("best_epoch"), "seconds": r.get("seconds"),
             "source": source}
            for r in curve.get("runs", []) if r["model"] == model and r.get("lr") is not None
            and str(r["n"]).isdigit() and int(r["n"]) in labels and r["seed"] in seeds]


def reused_steps(curve: dict) -> int | None:
    """The pretraining budget of the learning curve's checkpoint, when it is one of this script's (pretrain-STEPS)."""
    info = curve.get("checkpoint") or {}
    steps = ((info.get("pretraining") or {}).get("config") or {}).get("max_steps")
    return steps if steps is not None and info.get("name") == f"pretrain-{steps}" else None


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
    results["lr_selection"] = select(results)
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


def pretrain_budget(steps: int, folder: Path, old: dict | None, run_logged, log) -> dict:
    """The budget's entry: read back from a finished run in ``folder``, kept from the JSON when the folder is gone but
    the checkpoint is committed, else pretrained now with the command line."""
    from bert_edu.train.pretrain import summary

    saved = folder / "metrics.json"
    committed = COMMITTED / f"pretrain-{steps}" / "model.safetensors"
    cmd = ["-m", "bert_edu.pretrain", "--out", str(folder), "--max-steps", str(steps), "--no-progress"]
    start = time.perf_counter()
    if saved.is_file() and (folder / "model.safetensors").is_file() and json.loads(saved.read_text())["step"] == steps:
        m = summary({**json.loads(saved.read_text()), "out": str(folder)})  # finished earlier: read it back
    elif old is not None and committed.is_file():
        log(f"budget {steps}: kept from the JSON (its checkpoint is committed: {relative(committed.parent)})")
        return {**old, "command": old.get("command") or "python " + " ".join(
            relative(Path(a)) if a.startswith("/") else a for a in cmd)}
    else:
        m = run_logged(cmd)
    return {"steps": steps, "cpu_minutes": round(m["seconds"] / 60, 2),
            "wall_minutes": round((time.perf_counter() - start) / 60, 2),
            "tokens": round(m["seconds"] * m["tokens_per_second"]), "checkpoint": relative(folder),
            "mlm_accuracy": m.get("mlm_accuracy"), "nsp_accuracy": m.get("nsp_accuracy"),
            "command": "python " + " ".join(relative(Path(a)) if a.startswith("/") else a for a in cmd),
            "pretrain": {**m, "out": relative(folder)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="benchmarks/results/exchange_rate.json")
    p.add_argument("--work", default="runs/exchange_rate", help="checkpoints and the sweeps' JSON pieces")
    p.add_argument("--steps", default="0,350,700,1400,5600", help="pretraining budgets in optimiser steps (0 = none)")
    p.add_argument("--labels", default="100,300,1000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--lrs", default=GRID, help="the fine-tuning rates each budget is run at (chosen on validation)")
    p.add_argument("--reuse", default="benchmarks/results/learning_curve.json",
                   help="a learning_curve.py JSON whose sweep runs stand for budget 0 and for its checkpoint's "
                        "budget ('' runs every budget here)")
    p.add_argument("--fresh", action="store_true", help="forget the budgets recorded in --out")
    p.add_argument("--commit-checkpoint", action="store_true",
                   help=f"copy the longest budget's checkpoint to {relative(COMMITTED)} (about 4 MB)")
    args = p.parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    budgets = sorted(int(s) for s in args.steps.split(","))
    labels, seeds = [int(n) for n in args.labels.split(",")], [int(s) for s in args.seeds.split(",")]
    if not [b for b in budgets if b > 0]:
        print("error: --steps needs at least one budget > 0 (budget 0 borrows its network from it)", file=sys.stderr)
        return 2
    if args.reuse and not Path(args.reuse).is_file():
        print(f"error: --reuse {args.reuse}: no such file; pass a learning_curve.py JSON or ''", file=sys.stderr)
        return 2
    out, work = Path(args.out), Path(args.work).resolve()
    old = json.loads(out.read_text()) if out.is_file() and not args.fresh else {}
    results = {"description": __doc__.split("\n")[0] + " " + __doc__.split("\n")[1],
               "label_counts": labels, "seeds": seeds, "lr_grid": [float(x) for x in args.lrs.split(",")],
               "machine": f"{platform.machine()} CPU, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
               "corpus": "the course corpus (bert_edu.data.corpus.COURSE_CORPUS)",
               "minutes_note": "cpu_minutes = the pretraining command's own training seconds / 60 on this machine "
                               "(1 thread; inflated when the machine is shared): compare budgets by steps and tokens",
               "pretrain_flags": ["--max-steps STEPS", "--no-progress"],
               "finetune": "benchmarks/learning_curve.py --models pretrained (budget 0: scratch) --lrs GRID: the "
                           "command line's recipe at each rate, sets under 1,000 sentences repeated to 1,000 per "
                           "epoch, the best epoch on 500 validation sentences, the test split scored once",
               "script": "OMP_NUM_THREADS=1 python benchmarks/exchange_rate.py " + " ".join(argv or sys.argv[1:]),
               "budgets": [], "runs": [], "commands": []}

    def run_logged(cmd):
        results["commands"].append("python " + " ".join(relative(Path(a)) if a.startswith("/") else a for a in cmd))
        return command(cmd, log)

    old_budgets = {b["steps"]: b for b in old.get("budgets", [])}
    folders = {}
    for steps in [b for b in budgets if b > 0]:
        folders[steps] = work / f"pretrain-{steps}"
        entry = pretrain_budget(steps, folders[steps], old_budgets.get(steps), run_logged, log)
        if not (folders[steps] / "model.safetensors").is_file():
            folders[steps] = COMMITTED / f"pretrain-{steps}"
        results["budgets"].append(entry)
        if entry.get("command") and entry["command"] not in results["commands"]:
            results["commands"].append(entry["command"])
    if 0 in budgets:
        results["budgets"].insert(0, {"steps": 0, "cpu_minutes": 0.0, "tokens": 0, "checkpoint": None,
                                      "mlm_accuracy": None, "nsp_accuracy": None})

    speeds = ", ".join(f"{b['steps']}: {b['pretrain']['tokens_per_second']:,}" for b in results["budgets"]
                       if b.get("pretrain"))
    results["minutes_note"] += f" (tokens per second of each budget's run: {speeds})"
    curve = json.loads(Path(args.reuse).read_text()) if args.reuse else {}
    reused = {0: "scratch", reused_steps(curve): "pretrained"} if curve else {}
    grid = results["lr_grid"]
    for steps in budgets:
        if steps in reused:
            runs = runs_from(curve, reused[steps], steps, labels, seeds, source=relative(Path(args.reuse)))
            if {(r["labels"], r["seed"]) for r in runs} == {(n, s) for n in labels for s in seeds}:
                results["runs"] += runs
                results["commands"].append(f"budget {steps}: the {reused[steps]} arm's runs of "
                                           f"{relative(Path(args.reuse))} (its commands say how they were made)")
                log(f"budget {steps}: {len(runs)} runs from {args.reuse} ({reused[steps]} arm)")
                continue
        for n in labels:
            piece = work / f"sweep-{steps}-{n}.json"
            model = "scratch" if steps == 0 else "pretrained"
            checkpoint = folders[min(folders)] if steps == 0 else folders[steps]
            cmd = ["benchmarks/learning_curve.py", "--pretrained", str(checkpoint), "--models", model, "--sizes",
                   str(n), "--seeds", ",".join(map(str, seeds)), "--lrs", args.lrs, "--out", str(piece)]
            shown = "OMP_NUM_THREADS=1 python " + " ".join(relative(Path(a)) if a.startswith("/") else a for a in cmd)
            have = json.loads(piece.read_text()) if piece.is_file() else {}
            done = {(r["seed"], r["lr"]) for r in have.get("runs", []) if r["model"] == model}
            if not {(s, lr) for s in seeds for lr in grid} <= done:
                log("$ " + shown)
                subprocess.run([sys.executable, *cmd], cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                               env=dict(os.environ, HF_HUB_OFFLINE="1"))
                have = json.loads(piece.read_text())
            results["commands"].append(shown)
            results["runs"] += [r for r in runs_from(have, model, steps, [n], seeds, source=relative(piece))
                                if r["lr"] in grid]
            save(results, out)
    if args.commit_checkpoint:
        longest = max(results["budgets"], key=lambda b: b["steps"])
        folder = work / f"pretrain-{longest['steps']}"
        if (folder / "model.safetensors").is_file():
            log(f"committed checkpoint: {commit_checkpoint(folder, longest)}")
    save(results, out)
    for row in results["summary"]:
        log(f"{row['steps']:5d} steps ({row['cpu_minutes']:5.1f} CPU-min)  {row['labels']:5d} labels  lr {row['lr']:g}: "
            f"{100 * row['mean']:.1f}% +- {100 * row['ci95']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

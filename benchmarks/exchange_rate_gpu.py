"""Does pretraining pay at GPU scale? The course's own pretraining loop at 1x, 16x, 128x and as many times notebook
07's tokens as the GPU time allows, then each checkpoint and random init fine-tuned at a few label counts (issue 28).

Two phases, because only the first needs the GPU:

    python benchmarks/exchange_rate_gpu.py --phase pretrain --device cuda --budget-minutes 8   # on the GPU
    OMP_NUM_THREADS=1 nice python benchmarks/exchange_rate_gpu.py --phase finetune            # later, on a CPU
    python benchmarks/exchange_rate_gpu.py --dry-run                                          # everything, tiny, CPU

Pretraining: ``python -m bert_edu.pretrain`` (the package's loop, which notebook 07's learner loop equals step for
step), the course's tiny model and recipe (``--size tiny``, 64-token pairs, lr 2e-3, no dropout) with a larger
batch on the GPU (``--batch-size``, default 1024 = 8 x notebook 07's 128); a budget of m x is m x notebook 07's
tokens (700 steps x 128 pairs x 64 positions), so m x 700 x 128 / batch steps. Each stage runs as its own process
under its own time limit, saving every quarter, so a stage that runs out of time still leaves a checkpoint and its
step count; the JSON is rewritten after every stage. The last stage takes whatever multiple the remaining budget
allows at the throughput measured so far. ``--size mini`` adds one size up.

Every stage reports tokens (positions the model read) and epochs over the training corpus: notebook 07 already
makes about 4 passes over its 1-million-word corpus, so 128x is hundreds of epochs. A data limit is not a compute
result: the epochs say which one a stage hit.

Fine-tuning: every checkpoint and random init (budget 0: the same network from random weights) at 100 / 300 /
1,000 labelled sentences (Rotten Tomatoes), 3 seeds, each arm with its learning rate chosen on validation from
``--lrs`` (mean validation accuracy over the seeds), then scored on test. ``paired`` compares each budget with
random init seed by seed; a difference beyond its 95% interval is ``beyond_noise``.

``--dry-run`` shrinks every step (a 16-pair batch, 10-step base, 2 stages, 20 labels, 1 seed, 1 epoch, CPU) so the
whole script runs here in a few minutes; its JSON goes to a temporary folder unless --out is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_07 = {"steps": 700, "batch_size": 128, "seq_len": 64}  # bert_edu.train.pretrain.course_recipe (CPU)


def _exchange_rate():
    """benchmarks/exchange_rate.py (the CPU version): its subset files, intervals and command runner."""
    spec = importlib.util.spec_from_file_location("exchange_rate", REPO / "benchmarks" / "exchange_rate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_tokens(seq_len: int = NOTEBOOK_07["seq_len"]) -> int:
    """Positions notebook 07's run reads: 700 steps x 128 pairs x 64 positions (5.7 M)."""
    return NOTEBOOK_07["steps"] * NOTEBOOK_07["batch_size"] * seq_len


def save(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def sequences_per_epoch(args) -> int:
    """Training pairs in one epoch of the run's corpus (as the pretraining command builds them)."""
    from bert_edu.train.pretrain import PretrainConfig, load_tokenizer, prepare_data

    cfg = PretrainConfig(corpus=args.corpus, vocab=args.vocab, seq_len=args.seq_len, batch_size=args.batch_size)
    _, data, _, _ = prepare_data(cfg, load_tokenizer(cfg.vocab, cfg.corpus))
    return data.steps_per_epoch * args.batch_size


def pretrain_stage(args, size: str, multiple: float, work: Path, limit: float, per_epoch: int, log) -> dict:
    """One budget: ``multiple`` x notebook 07's tokens, as its own process under ``limit`` seconds."""
    steps = max(1, round(multiple * args.base_tokens / (args.batch_size * args.seq_len)))
    folder = work / f"pretrain-{size}-{multiple:g}x"
    cmd = [sys.executable, "-m", "bert_edu.pretrain", "--size", size, "--vocab", args.vocab, "--seq-len",
           str(args.seq_len), "--batch-size", str(args.batch_size), "--max-steps", str(steps), "--lr", str(args.lr),
           "--dropout", "0", "--eval-every", str(max(1, steps // 4)), "--save-every", str(max(1, steps // 4)),
           "--device", args.device, "--log-every", "50", "--no-progress", "--out", str(folder)]
    if args.corpus:
        cmd += ["--corpus", args.corpus]
    if args.compile:
        cmd.append("--compile")
    log(f"[exchange-rate-gpu] {size} {multiple:g}x: {steps} steps of {args.batch_size} x {args.seq_len}, "
        f"at most {limit:.0f} s")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=max(limit, 1.0),
                              env=dict(os.environ, HF_HUB_OFFLINE="1"))
        status = "ok" if proc.returncode == 0 else f"FAIL (exit {proc.returncode}): {proc.stderr[-500:]}"
    except subprocess.TimeoutExpired:
        status = f"TIMEOUT ({limit:.0f} s): the last quarter saved is what it reached"
    wall = time.perf_counter() - start
    row = {"size": size, "multiple": multiple, "planned_steps": steps, "batch_size": args.batch_size,
           "seq_len": args.seq_len, "status": status, "wall_seconds": round(wall, 1),
           "checkpoint": str(folder), "command": " ".join(["python", *cmd[1:]])}
    metrics_file = folder / "metrics.json"
    if metrics_file.is_file():
        m = json.loads(metrics_file.read_text())
        done = m["step"]
        row.update(steps=done, tokens=done * args.batch_size * args.seq_len,
                   real_tokens=sum(h["tokens"] for h in m["history"]),
                   epochs=round(done * args.batch_size / per_epoch, 2),
                   multiple_reached=round(done * args.batch_size * args.seq_len / args.base_tokens, 2),
                   train_seconds=round(m["seconds"], 1), tokens_per_second=round(m["tokens_per_second"]),
                   device=m["device"], final=m["final"], baselines=m["baselines"])
    return row


def pretrain_phase(args, results: dict, out: Path, work: Path, log) -> None:
    per_epoch = sequences_per_epoch(args)
    results["sequences_per_epoch"] = per_epoch
    started, budget = time.perf_counter(), args.budget_minutes * 60
    for size in args.sizes:
        for multiple in args.multiples:
            done = {(s["size"], s["multiple"]) for s in results["stages"] if s["status"] == "ok"}
            if (size, multiple) in done:
                continue
            left = budget - (time.perf_counter() - started)
            if left < 5:
                log(f"[exchange-rate-gpu] budget spent: {size} {multiple:g}x not run")
                break
            row = pretrain_stage(args, size, multiple, work, min(args.stage_limit, left), per_epoch, log)
            results["stages"] = [s for s in results["stages"] if (s["size"], s["multiple"]) != (size, multiple)]
            results["stages"].append(row)
            save(results, out)
            log(f"[exchange-rate-gpu]   {row['status'][:60]}; {row.get('tokens', 0):,} tokens, "
                f"{row.get('epochs', 0)} epochs in {row['wall_seconds']} s")
        if args.fill and size == args.sizes[0]:  # the largest multiple the rest of the budget allows
            fast = [s for s in results["stages"] if s["size"] == size and s.get("tokens_per_second")]
            left = budget - (time.perf_counter() - started) - 30  # start-up and saving
            if fast and left > 30:
                rate = max(s["tokens_per_second"] for s in fast)
                multiple = math.floor(0.8 * left * rate / args.base_tokens)
                if multiple > max(args.multiples):
                    row = pretrain_stage(args, size, float(multiple), work, left, per_epoch, log)
                    results["stages"].append(row)
                    save(results, out)


def finetune_phase(args, results: dict, out: Path, work: Path, log) -> None:
    er = _exchange_rate()
    data = work / "data"
    if not (data / "test.csv").is_file():
        subprocess.run([sys.executable, "-m", "bert_edu.data", "sentiment", str(data)], cwd=REPO, check=True,
                       capture_output=True)
    arms = {f"{s['size']}-{s['multiple']:g}x": s["checkpoint"] for s in results["stages"]
            if s.get("steps") and Path(s["checkpoint"], "model.safetensors").is_file()}
    if not arms:
        raise SystemExit("error: no pretrained checkpoint in the results; run --phase pretrain first")
    like = next(iter(arms.values()))
    arms = {"random-init": None, **arms}
    done = {(r["arm"], r["labels"], r["seed"], r["lr"]) for r in results["runs"]}
    for n in args.labels:
        for seed in args.seeds:
            train = er.subset_file(data, n, seed)
            for arm, folder in arms.items():
                for lr in args.lrs:
                    if (arm, n, seed, lr) in done:
                        continue
                    init = ["--init", "scratch", "--like", like] if folder is None else ["--init", folder]
                    m = er.command(["-m", "bert_edu.finetune", "--train", str(train), "--eval",
                                    str(data / "validation.csv"), "--test", str(data / "test.csv"), *init,
                                    "--out", str(work / "ft" / f"{arm}-{n}-{seed}-{lr:g}"), "--seed", str(seed),
                                    "--lr", str(lr), "--max-length", str(args.max_length), "--no-progress",
                                    *(["--epochs", str(args.epochs)] if args.epochs else []),
                                    *(["--max-train-examples", str(n)])], log)
                    results["runs"].append({"arm": arm, "labels": n, "seed": seed, "lr": lr,
                                            "validation_accuracy": m["accuracy"], "test_accuracy": m["test_accuracy"]})
                    save(results, out)
    summarise(results, er)
    save(results, out)


def summarise(results: dict, er) -> None:
    """Per arm and label count: the lr with the best mean validation accuracy, its test accuracies; then each
    budget minus random init, paired by seed."""
    chosen = {}
    for arm in sorted({r["arm"] for r in results["runs"]}):
        for n in sorted({r["labels"] for r in results["runs"]}):
            by_lr = {}
            for r in results["runs"]:
                if r["arm"] == arm and r["labels"] == n:
                    by_lr.setdefault(r["lr"], []).append(r)
            if by_lr:
                lr = max(by_lr, key=lambda k: sum(r["validation_accuracy"] for r in by_lr[k]) / len(by_lr[k]))
                chosen[(arm, n)] = (lr, {r["seed"]: r["test_accuracy"] for r in by_lr[lr]})
    results["summary"] = []
    for (arm, n), (lr, tests) in chosen.items():
        mean, ci = er.interval(list(tests.values()))
        results["summary"].append({"arm": arm, "labels": n, "lr": lr, "mean": mean, "ci95": ci, "n": len(tests)})
    results["paired"] = []
    for (arm, n), (_, tests) in chosen.items():
        base = chosen.get(("random-init", n), (None, None))[1]
        if arm == "random-init" or not base:
            continue
        diffs = [tests[s] - base[s] for s in tests if s in base]
        if diffs:
            mean, ci = er.interval(diffs)
            results["paired"].append({"arm": arm, "labels": n, "mean": mean, "ci95": ci, "n": len(diffs),
                                      "beyond_noise": len(diffs) >= 2 and mean > ci})


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--phase", choices=["pretrain", "finetune", "all"], default="all")
    p.add_argument("--dry-run", action="store_true", help="shrink every step: the whole script on a CPU in minutes")
    p.add_argument("--out", help="results JSON (default: benchmarks/results/exchange_rate_gpu.json; dry run: a "
                                 "temporary folder)")
    p.add_argument("--work", help="checkpoints and fine-tuned models (default: runs/exchange_rate_gpu)")
    p.add_argument("--device", default=None, help="pretraining device (default: cuda if available, else cpu)")
    p.add_argument("--sizes", default="tiny", help="comma-separated model sizes; 'tiny,mini' adds one size up")
    p.add_argument("--multiples", default="1,16,128", help="budgets in notebook 07's tokens")
    p.add_argument("--no-fill", dest="fill", action="store_false",
                   help="do not add a last stage as large as the remaining budget allows")
    p.add_argument("--budget-minutes", type=float, default=8.0, help="for all pretraining stages together")
    p.add_argument("--stage-limit", type=float, default=300.0, help="seconds per stage at most")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--seq-len", type=int, default=NOTEBOOK_07["seq_len"])
    p.add_argument("--lr", type=float, default=2e-3, help="pretraining peak learning rate (notebook 07's)")
    p.add_argument("--vocab", default="corpus-4000")
    p.add_argument("--corpus", default=None, help="default: the course corpus")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--labels", default="100,300,1000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--lrs", default="1e-4,3e-4,1e-3", help="fine-tuning learning rates tried per arm")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the command's)")
    p.add_argument("--max-length", type=int, default=128)
    args = p.parse_args(argv)
    if args.dry_run:
        args.batch_size, args.seq_len, args.budget_minutes, args.stage_limit = 16, 32, 12.0, 300.0
        args.multiples, args.labels, args.seeds, args.lrs, args.epochs = "1,2", "20", "0", "1e-3", 1
        args.max_length, args.device, args.fill = 32, args.device or "cpu", False
        args.work = args.work or tempfile.mkdtemp(prefix="exchange-rate-gpu-dry-")
        args.out = args.out or str(Path(args.work) / "exchange_rate_gpu.json")
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.sizes = args.sizes.split(",")
    args.multiples = [float(m) for m in args.multiples.split(",")]
    args.labels = [int(n) for n in args.labels.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.lrs = [float(x) for x in args.lrs.split(",")]
    args.out = Path(args.out or REPO / "benchmarks" / "results" / "exchange_rate_gpu.json")
    args.work = Path(args.work or REPO / "runs" / "exchange_rate_gpu").resolve()
    # dry run: notebook 07's base shrunk to 10 steps of the dry batch
    args.base_tokens = 10 * args.batch_size * args.seq_len if args.dry_run else base_tokens(args.seq_len)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results.update(description=__doc__.split("\n\n")[0].replace("\n", " "), dry_run=args.dry_run,
                   base_tokens=args.base_tokens, base="notebook 07: 700 steps x 128 pairs x 64 positions",
                   machine=f"{platform.machine()}, pretraining on {args.device}",
                   script="python benchmarks/exchange_rate_gpu.py " + " ".join(argv or sys.argv[1:]))
    results.setdefault("stages", [])
    results.setdefault("runs", [])
    if args.phase in ("pretrain", "all"):
        pretrain_phase(args, results, args.out, args.work, log)
    save(results, args.out)
    if args.phase in ("finetune", "all"):
        finetune_phase(args, results, args.out, args.work, log)
    log(f"[exchange-rate-gpu] results: {args.out}")
    for s in results["stages"]:
        log(f"  {s['size']:5s} {s['multiple']:6g}x  {s['status'][:40]:40s}  {s.get('tokens', 0):>13,} tokens  "
            f"{s.get('epochs', 0):>8} epochs  {s.get('train_seconds', 0):>7} s")
    for row in results.get("paired", []):
        log(f"  {row['arm']:14s} {row['labels']:5d} labels: {100 * row['mean']:+.1f} points vs random init "
            f"+- {100 * row['ci95']:.1f} ({'beyond' if row['beyond_noise'] else 'within'} the noise)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

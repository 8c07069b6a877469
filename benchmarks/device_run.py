"""The one prepared device script of issue 28: what a short loan of a GPU should measure, in priority order.

    python benchmarks/device_run.py --out results.json            # on the GPU machine (fits one 10-minute call)
    python benchmarks/device_run.py --steps 1 2                   # only some stages
    python benchmarks/device_run.py --dry-run                     # rehearse on a CPU: every stage shrunk

Stages, each a separate process under its own time limit, results written after every stage (so a call that is
cut off still brings back what it finished), logs next to the JSON:

1. the GPU smoke suite (``pytest -m gpu tests/gpu``);
2. the speed benchmark, BERT-base bf16 256 x 128: the command's own step, ours and transformers', without
   ``--compile``;
3. the same with ``--compile``;
4. notebooks 07 + 08 under nbval (their GPU recipes);
5. the exchange-rate pretraining (benchmarks/exchange_rate_gpu.py --phase pretrain) for the time left.

``--dry-run`` runs the same stages on the CPU, shrunk: the smoke suite (it skips without CUDA: that checks it
collects), the benchmark on the tiny model (2 steps), the notebooks with ``BERT_EDU_SMOKE=1``, and the
exchange-rate script's own ``--dry-run``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 570  # one device call is at most 10 minutes; leave room to start and to copy results back


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_check", module)
    spec.loader.exec_module(module)
    return module


def stages(python: str, work: Path, dry_run: bool, budget: float) -> list:
    gc = _gpu_check()
    smoke = [python, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-rs", "-m", "gpu", "tests/gpu"]
    if dry_run:
        bench = [python, "benchmarks/bench_pretraining.py", "--size", "tiny", "--batch-size", "8", "--seq-len", "64",
                 "--steps", "2", "--rounds", "1", "--warmup", "1", "--threads", "1"]
    else:
        bench = [python, "benchmarks/bench_pretraining.py", "--device", "cuda", "--dtype", "auto", "--size", "base",
                 "--batch-size", "256", "--seq-len", "128", "--steps", "10", "--rounds", "3", "--warmup", "3"]
    nbval = [python, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
             "notebooks/07_pretraining.ipynb", "notebooks/08_finetune_sentiment.ipynb"]
    exchange = [python, "benchmarks/exchange_rate_gpu.py", "--phase", "pretrain", "--out",
                str(work / "exchange_rate_gpu.json"), "--work", str(work / "exchange-rate")]
    exchange += ["--dry-run"] if dry_run else ["--budget-minutes", f"{max(1.0, budget / 60):.1f}"]
    return [
        gc.Step("GPU smoke suite (tests/gpu)", [smoke], limit=60 if dry_run else 150),
        gc.Step("speed benchmark", [bench + ["--json", str(work / "bench.json")]], limit=300 if dry_run else 100,
                parse="bench"),
        gc.Step("speed benchmark --compile", [bench + ["--compile", "--json", str(work / "bench-compile.json")]],
                limit=900 if dry_run else 240, parse="bench"),  # compiling two models: minutes
        gc.Step("notebooks 07 + 08 (nbval)", [nbval], limit=600 if dry_run else 300),
        gc.Step("exchange-rate pretraining", [exchange], limit=900 if dry_run else budget + 30),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/device_run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="rehearse on the CPU with every stage shrunk")
    p.add_argument("--steps", type=int, nargs="+", metavar="N", help="only these stages (1 to 5)")
    p.add_argument("--budget", type=float, default=BUDGET_SECONDS, help="seconds for all stages together")
    p.add_argument("--exchange-seconds", type=float, default=150, help="the exchange-rate pretraining's budget")
    p.add_argument("--work", help="logs and results (default: a new temporary folder)")
    p.add_argument("--out", help="the results JSON (default: WORK/device_run.json)")
    args = p.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bert-edu-device-run-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else work / "device_run.json"
    plan = stages(sys.executable, work, args.dry_run, args.exchange_seconds)
    if args.steps and sorted(set(args.steps) - set(range(1, len(plan) + 1))):
        print(f"error: --steps: there are stages 1 to {len(plan)}", file=sys.stderr)
        return 2
    if not args.dry_run:
        problem = _gpu_check().cuda_problem()
        if problem:
            print(f"error: the device run needs a CUDA GPU (rehearse with --dry-run): {problem}", file=sys.stderr)
            return 2
    gc = _gpu_check()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    if args.dry_run:
        env["BERT_EDU_SMOKE"] = "1"
    else:
        env["BERT_EDU_DEVICE"] = "cuda"
    import torch

    results = {"dry_run": args.dry_run, "torch": torch.__version__,
               "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "stages": {}}
    start = time.perf_counter()
    for i, step in enumerate(plan, 1):
        if args.steps and i not in args.steps:
            continue
        log = work / f"stage{i}.log"
        print(f"[device-run] {i}/{len(plan)} {step.name} ... (log: {log})", flush=True)
        gc.run_step(step, log, args.budget - (time.perf_counter() - start), env)
        full = None
        if step.parse == "bench" and step.status == "ok":
            full = json.loads((work / ("bench-compile.json" if "--compile" in step.commands[0] else
                                       "bench.json")).read_text())
            step.figures = {"ours tokens/s": f"{full['ours']['tokens_per_second']:,.0f}",
                            "transformers tokens/s": f"{full['transformers']['tokens_per_second']:,.0f}",
                            "ratio": f"{full['ratio']:.2f}x"}
            if full["ours"]["mfu"] is not None:
                step.figures.update({"ours MFU": f"{full['ours']['mfu']:.1%}",
                                     "transformers MFU": f"{full['transformers']['mfu']:.1%}"})
        print(f"[device-run]     {step.status} in {step.seconds:.0f} s", flush=True)
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        results["stages"][f"{i} {step.name}"] = {"status": step.status, "seconds": round(step.seconds, 1),
                                                 "figures": step.figures, "result": full, "log_tail": tail}
        if (work / "exchange_rate_gpu.json").is_file():
            results["exchange_rate"] = json.loads((work / "exchange_rate_gpu.json").read_text())
        out.write_text(json.dumps(results, indent=1) + "\n")  # partial results after every stage
    ran = [s for i, s in enumerate(plan, 1) if not args.steps or i in args.steps]
    print(gc.summary(ran, results["device"]).replace(f"of a {gc.BUDGET_SECONDS} s budget", f"of {args.budget:.0f} s"))
    print(f"[device-run] results: {out}")
    return 0 if all(s.status == "ok" for s in ran) else 1


if __name__ == "__main__":
    sys.exit(main())

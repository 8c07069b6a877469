"""`make gpu-check`: every GPU path of the course in one command, on one CUDA GPU.

    python benchmarks/gpu_check.py              # what `make gpu-check` runs
    python benchmarks/gpu_check.py --dry-run    # print the plan and run nothing (works without a GPU)
    python benchmarks/gpu_check.py --steps 5 6  # only some steps (numbers as --dry-run prints them)

In order, each step a separate process (its output goes to a log file, whose end is shown if it fails):

0. the GPU smoke suite (``pytest -m gpu tests/gpu``, about 2 minutes): 50 bf16 pretraining steps through the
   command, stop and resume exact on CUDA, no host sync between log steps, an fp16 grad-scaler step, NER and QA
   evaluations in each precision, notebook 07's learner loop and notebook 08's fine-tuning loop on CUDA;
1. notebooks 07 and 08 under nbval: on CUDA they choose their GPU recipes themselves
   (bert_edu.train.pretrain.course_recipe, notebook 08's settings); ``BERT_EDU_DEVICE=cuda`` is set, so they
   cannot quietly fall back to the CPU;
2. notebooks 10 and 11 under nbval: on CUDA they train on all of CoNLL-2003 and on every SQuAD question of
   notebook 11's training pool;
3. the pretraining benchmark (benchmarks/bench_pretraining.py) at BERT-base size, batch 256 x 128, in bf16 where
   the GPU has it natively (fp16 + grad scaler elsewhere), without and then with ``--compile``: tokens/s and MFU
   of the command's own training step, our model and transformers' in the same run;
4. the README's full-data fine-tuning command for sentiment (MiniLM, the whole training split, 3 epochs):
   test accuracy;
5. the README's full-data NER command (MiniLM, all 14,041 CoNLL-2003 training sentences, 3 epochs): test F1;
6. the README's full-data QA command (MiniLM, all 10,565 SQuAD v1.1 dev questions, 2 epochs; epoch chosen on
   SQuADShifts new Wikipedia): F1 and exact match on SQuADShifts New York Times, a domain it never saw.

Then one summary table. Without a CUDA GPU it stops at once with an ``error:`` line and exit status 2: no CPU
fallback, so a finished check always means the GPU ran. A step that fails or runs out of its time makes the
exit status 1. The whole check has a budget of 35 minutes (``--budget``; several runs of at most 10 minutes
each with ``--steps``); each step gets at most its own time limit and never more than what is left.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 35 * 60


@dataclass
class Step:
    name: str
    commands: list[list[str]]  # run one after the other; the last one's stdout is parsed
    limit: float  # seconds
    parse: str = ""  # "bench" or "finetune": how to read the figures from the output
    figures: dict = field(default_factory=dict)
    status: str = "not run"
    seconds: float = 0.0


def plan(python: str, work: Path) -> list[Step]:
    """The seven steps (0 to 6), as the commands they run."""
    from bert_edu.data.assets import asset_dir

    def nbval(*notebooks):
        return [python, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
                *[f"notebooks/{name}.ipynb" for name in notebooks]]

    data, out = work / "rt", work / "rt-minilm"
    conll, squad = asset_dir("conll2003"), asset_dir("squad")
    def bench(out, *extra):
        return [python, "benchmarks/bench_pretraining.py", "--device", "cuda", "--dtype", "auto", "--size", "base",
                "--batch-size", "256", "--seq-len", "128", "--steps", "10", "--rounds", "3", *extra,
                "--json", str(work / out)]

    return [
        Step("GPU smoke suite (tests/gpu)", [[python, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-m", "gpu",
                                              "tests/gpu"]], limit=240),
        Step("notebooks 07 + 08 (GPU recipes, nbval)", [nbval("07_pretraining", "08_finetune_sentiment")],
             limit=600),
        Step("notebooks 10 + 11 (GPU recipes, nbval)", [nbval("10_named_entities", "11_question_answering")],
             limit=300),
        Step("pretraining benchmark, BERT-base, 256 x 128, bf16 (fp16 where not native), without/with --compile",
             [bench("bench.json"), bench("bench-compile.json", "--compile")], limit=300, parse="bench"),
        Step("full-data fine-tuning (MiniLM, 3 epochs)",
             [[python, "-m", "bert_edu.data", "sentiment", str(data)],
              [python, "-m", "bert_edu.finetune", "--train", str(data / "train.csv"),
               "--eval", str(data / "validation.csv"), "--test", str(data / "test.csv"), "--init", "minilm",
               "--out", str(out), "--epochs", "3", "--no-progress"]], limit=150, parse="finetune"),
        Step("full-data NER (MiniLM, CoNLL-2003, 3 epochs)",
             [[python, "-m", "bert_edu.assets", "download", "conll2003"],
              [python, "-m", "bert_edu.ner", "--train", str(conll / "train.txt"), "--eval", str(conll / "valid.txt"),
               "--test", str(conll / "test.txt"), "--init", "minilm", "--out", str(work / "ner-minilm"),
               "--epochs", "3", "--no-progress"]], limit=180, parse="ner"),
        Step("full-data QA (MiniLM, SQuAD dev -> NYT, 2 epochs)",
             [[python, "-m", "bert_edu.assets", "download", "squad"],
              [python, "-m", "bert_edu.qa", "--train", str(squad / "squaddev_v1.1.json"),
               "--eval", str(squad / "new_wiki_v1.0.json"), "--test", str(squad / "nyt_v1.0.json"),
               "--init", "minilm", "--out", str(work / "qa-minilm"), "--epochs", "2", "--no-progress"]],
             limit=300, parse="qa"),
    ]


def cuda_problem() -> str | None:
    """Why this machine cannot run the check, or None when a CUDA GPU is usable."""
    import torch

    if os.environ.get("BERT_EDU_DEVICE", "cuda").split(":")[0] != "cuda":
        return f"BERT_EDU_DEVICE={os.environ['BERT_EDU_DEVICE']} is set; unset it (the check runs on CUDA only)"
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return (f"torch {torch.__version__} is a build without CUDA. Install a CUDA build of torch "
                "(README, 'Linux with an NVIDIA GPU'), then run make gpu-check again")
    if not torch.cuda.is_available():
        return (f"no CUDA GPU is usable (torch {torch.__version__}, CUDA {torch.version.cuda}: "
                "torch.cuda.is_available() is False). Check the driver with nvidia-smi")
    return None


def run_step(step: Step, log: Path, seconds_left: float, env: dict) -> None:
    """Run the step's commands under its time limit; fill in status, seconds and figures."""
    limit = max(1.0, min(step.limit, seconds_left))
    start = time.perf_counter()
    stdout = ""
    with open(log, "w") as f:
        for cmd in step.commands:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            left = limit - (time.perf_counter() - start)
            try:
                proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=f, text=True,
                                      timeout=max(left, 1.0))
            except subprocess.TimeoutExpired as stopped:
                partial = stopped.stdout or ""  # what it printed before it was stopped: how far it got
                f.write(partial.decode(errors="replace") if isinstance(partial, bytes) else partial)
                step.status = f"TIMEOUT ({limit:.0f} s)"
                break
            stdout = proc.stdout
            f.write(stdout)
            if proc.returncode != 0:
                step.status = f"FAIL (exit {proc.returncode})"
                break
        else:
            step.status = "ok"
    step.seconds = time.perf_counter() - start
    if step.status == "ok" and step.parse:
        step.figures = read_figures(step.parse, stdout, log.parent)


def read_figures(kind: str, stdout: str, work: Path) -> dict:
    """The numbers for the summary: from the benchmark's JSON file or the fine-tuning command's JSON line."""
    if kind == "bench":
        figures = {}
        for name, suffix in (("bench.json", ""), ("bench-compile.json", " (compiled)")):
            if not (work / name).is_file():
                continue
            result = json.loads((work / name).read_text())
            ours, theirs = result["ours"], result["transformers"]
            if not suffix:
                figures["dtype"] = result["dtype"]
            figures.update({f"ours tokens/s{suffix}": f"{ours['tokens_per_second']:,.0f}",
                            f"transformers tokens/s{suffix}": f"{theirs['tokens_per_second']:,.0f}",
                            f"ratio{suffix}": f"{ours['tokens_per_second'] / theirs['tokens_per_second']:.2f}x"})
            if ours.get("mfu") is not None:
                figures.update({f"ours MFU{suffix}": f"{ours['mfu']:.1%}",
                                f"transformers MFU{suffix}": f"{theirs['mfu']:.1%}"})
        return figures
    if kind == "finetune":
        metrics = json.loads(stdout.strip().splitlines()[-1])
        return {"test accuracy": f"{metrics['test_accuracy']:.1%}", "validation": f"{metrics['accuracy']:.1%}",
                "train seconds": f"{metrics['seconds']:.0f}"}
    if kind == "ner":
        metrics = json.loads(stdout.strip().splitlines()[-1])
        return {"test F1": f"{metrics['f1']:.1%}", "precision": f"{metrics['precision']:.1%}",
                "recall": f"{metrics['recall']:.1%}", "train seconds": f"{metrics['seconds']:.0f}"}
    if kind == "qa":
        metrics = json.loads(stdout.strip().splitlines()[-1])
        return {"NYT F1": f"{metrics['f1']:.1%}", "NYT EM": f"{metrics['exact_match']:.1%}",
                "new-wiki F1": f"{metrics['eval_f1']:.1%}", "train seconds": f"{metrics['seconds']:.0f}"}
    raise ValueError(f"unknown kind {kind!r}")


def summary(steps: list[Step], device: str) -> str:
    """One table: a row per step with its status, time and figures."""
    rows = [("step", "status", "seconds", "figures")]
    for s in steps:
        figures = ", ".join(f"{k} {v}" for k, v in s.figures.items())
        rows.append((s.name, s.status, f"{s.seconds:.0f}", figures))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"gpu-check on {device}"]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    total = sum(s.seconds for s in steps)
    lines.append(f"total {total:.0f} s of a {BUDGET_SECONDS} s budget; "
                 f"{'all steps passed' if all(s.status == 'ok' for s in steps) else 'SOME STEPS FAILED'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_check.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="print the steps and their commands, run nothing")
    p.add_argument("--budget", type=float, default=BUDGET_SECONDS, help="seconds for the whole check")
    p.add_argument("--work", help="folder for logs, data and checkpoints (default: a new temporary folder)")
    p.add_argument("--steps", type=int, nargs="+", metavar="N", help="run only these steps (default: all)")
    args = p.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bert-edu-gpu-check-"))
    steps = plan(sys.executable, work)
    if args.steps:
        wrong = sorted(set(args.steps) - set(range(len(steps))))
        if wrong:
            print(f"error: --steps {' '.join(map(str, wrong))}: there are steps 0 to {len(steps) - 1}; "
                  "see them with --dry-run", file=sys.stderr)
            return 2
    numbered = [(i, step) for i, step in enumerate(steps) if not args.steps or i in args.steps]
    if args.dry_run:
        for i, step in numbered:
            print(f"{i}. {step.name} (at most {step.limit:.0f} s)")
            for cmd in step.commands:
                print("     " + " ".join(cmd))
        return 0
    problem = cuda_problem()
    if problem:
        print(f"error: make gpu-check needs a CUDA GPU and does not fall back to the CPU: {problem}",
              file=sys.stderr)
        return 2
    import torch

    device = f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BERT_EDU_DEVICE="cuda", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    for i, step in numbered:
        log = work / f"step{i}.log"
        print(f"[gpu-check] {i}/{len(steps) - 1} {step.name} ... (log: {log})", flush=True)
        run_step(step, log, args.budget - (time.perf_counter() - start), env)
        print(f"[gpu-check]     {step.status} in {step.seconds:.0f} s", flush=True)
        if step.status != "ok":
            tail = log.read_text(errors="replace").strip().splitlines()[-20:]
            print("\n".join("    | " + line for line in tail), flush=True)
    ran = [step for _, step in numbered]
    print(summary(ran, device))
    return 0 if all(s.status == "ok" for s in ran) else 1


if __name__ == "__main__":
    sys.exit(main())

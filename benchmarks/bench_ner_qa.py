"""Quality at equal budget: the course's command lines vs the plain `transformers` recipe (issue 15).

    python benchmarks/bench_ner_qa.py ner                       # 2,000 CoNLL sentences x 2 epochs, 1 thread
    python benchmarks/bench_ner_qa.py ner --train-sentences 14041 --epochs 3 --seeds 0
    python benchmarks/bench_ner_qa.py ner-lr --lrs 1e-4 2e-4 4e-4   # how the command line's default lr was chosen

NER: `python -m bert_edu.ner` against transformers' BertForTokenClassification fine-tuned by hand with
torch.optim.AdamW and get_linear_schedule_with_warmup (10% warmup), from the same MiniLM weights, on the same
first N CoNLL-2003 training sentences, for the same epochs, batch size and learning rate, labels on the first
piece of each word. Both are scored on the CoNLL-2003 TEST set (never seen in training or model selection)
with the same entity-level F1 (bert_edu.evaluation.entities, tested equal to seqeval). The command line keeps
the epoch with the best validation F1, which is part of its recipe; the transformers recipe keeps the last.
Each seed runs both; the table shows every run and the mean difference.

    python benchmarks/bench_ner_qa.py qa                        # 2,000 SQuAD questions x 1 epoch, 1 thread
    python benchmarks/bench_ner_qa.py qa --train-questions 10565 --epochs 2 --test-questions 0   # full data

QA: `python -m bert_edu.qa` against transformers' BertForQuestionAnswering fine-tuned by hand (AdamW,
get_linear_schedule_with_warmup with 10% warmup, gradient norm clipped at 1; the windows, labels and decoding of
transformers' run_qa.py example: max length 384, stride 128, 20 best starts x 20 best ends, answers of at most
30 tokens), from the same MiniLM weights, on the same random sample of SQuAD v1.1 dev questions (seed 0), for
the same epochs, batch size and learning rate. Both are scored with the same SQuAD metric on questions of
ANOTHER domain: a random sample of SQuADShifts New York Times (``--test-questions 0``: all 10,056).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent


def start_command_line(args, seed: int, train_file: Path, dev_file: Path, test_file: Path, out: Path):
    """`python -m bert_edu.ner` as a user runs it, started in the background (it runs while the transformers
    recipe runs here, so a noisy machine slows both alike); finish_command_line reads its JSON line."""
    cmd = [sys.executable, "-m", "bert_edu.ner", "--train", str(train_file), "--eval", str(dev_file),
           "--test", str(test_file), "--init", "minilm", "--out", str(out), "--epochs", str(args.epochs),
           "--lr", str(args.lr), "--batch-size", str(args.batch_size), "--seed", str(seed), "--no-progress",
           "--device", args.device]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT), \
        time.perf_counter()


def finish_command_line(started) -> dict:
    process, start = started
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the command line failed:\n{stderr[-2000:]}")
    metrics = json.loads(stdout.strip().splitlines()[-1])
    return {"f1": metrics["f1"], "precision": metrics["precision"], "recall": metrics["recall"],
            "best_epoch": metrics["best_epoch"], "seconds": time.perf_counter() - start}


def write_conll(path: Path, sentences) -> Path:
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in zip(s.words, s.tags)) + "\n" for s in sentences))
    return path


def run_transformers(args, seed: int, train, test) -> dict:
    """The plain recipe, written the way the transformers token-classification example does it."""
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification, get_linear_schedule_with_warmup

    from bert_edu.data.assets import minilm_path
    from bert_edu.data.conll import label_list
    from bert_edu.evaluation.entities import entity_scores

    torch.set_num_threads(args.threads)
    torch.manual_seed(seed)
    random.seed(seed)
    labels = label_list(train)
    label2id = {t: i for i, t in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    model = BertForTokenClassification.from_pretrained(minilm_path(), num_labels=len(labels),
                                                       id2label=dict(enumerate(labels)), label2id=label2id)

    def encode(sentences, with_labels=True):
        enc = tokenizer([s.words for s in sentences], is_split_into_words=True, truncation=True, max_length=128)
        rows = []
        for i, s in enumerate(sentences):
            word_ids, previous, tags = enc.word_ids(i), None, []
            for w in word_ids:
                tags.append(-100 if w is None or w == previous else label2id[s.tags[w]])
                previous = w
            rows.append({"input_ids": enc["input_ids"][i], "labels": tags, "word_ids": word_ids})
        return rows

    def pad(rows):
        n = max(len(r["input_ids"]) for r in rows)
        ids = torch.tensor([r["input_ids"] + [0] * (n - len(r["input_ids"])) for r in rows])
        lab = torch.tensor([r["labels"] + [-100] * (n - len(r["labels"])) for r in rows])
        return ids, (ids != 0).long(), lab

    start = time.perf_counter()
    rows = encode(train)
    steps = math.ceil(len(rows) / args.batch_size) * args.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    model.train()
    for _ in range(args.epochs):
        random.shuffle(rows)
        for b in range(0, len(rows), args.batch_size):
            ids, mask, lab = pad(rows[b:b + args.batch_size])
            loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    model.eval()
    predicted = []
    test_rows = encode(test)
    with torch.no_grad():
        for b in range(0, len(test_rows), 64):
            chunk = test_rows[b:b + 64]
            ids, mask, _ = pad(chunk)
            best = model(input_ids=ids, attention_mask=mask).logits.argmax(-1).tolist()
            for r, row in zip(chunk, best):
                n_words = len(test[len(predicted)].words)
                tags, previous = ["O"] * n_words, None  # words cut off by max_length stay O
                for pos, w in enumerate(r["word_ids"]):
                    if w is not None and w != previous:
                        tags[w] = labels[row[pos]]
                    previous = w
                predicted.append(tags)
    scores = entity_scores([s.tags for s in test], predicted)
    return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
            "seconds": time.perf_counter() - start}


def bench_ner(args) -> None:
    from bert_edu.data.conll import conll2003_path, read_conll

    train = read_conll(conll2003_path("train"))[: args.train_sentences]
    dev = read_conll(conll2003_path("validation"))[: args.eval_sentences]
    test = read_conll(conll2003_path("test"))[: args.test_sentences]
    print(f"NER: {len(train)} CoNLL-2003 training sentences x {args.epochs} epochs, lr {args.lr}, batch "
          f"{args.batch_size}, {args.threads} thread(s) each; the command line picks its epoch on {len(dev)} "
          f"validation sentences; both scored on {len(test)} test sentences", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = [write_conll(Path(tmp) / f"{name}.txt", data) for name, data in
                 (("train", train), ("dev", dev), ("test", test))]
        for seed in args.seeds:
            started = start_command_line(args, seed, *files, Path(tmp) / f"run{seed}")
            theirs = run_transformers(args, seed, train, test)
            ours = finish_command_line(started)
            rows.append((seed, ours, theirs))
            print(f"  seed {seed}: python -m bert_edu.ner F1 {100 * ours['f1']:.2f} ({ours['seconds']:.0f} s)  |  "
                  f"transformers recipe F1 {100 * theirs['f1']:.2f} ({theirs['seconds']:.0f} s)", flush=True)
    diffs = [o["f1"] - t["f1"] for _, o, t in rows]
    mean = lambda key, i: statistics.mean(r[i][key] for r in rows)  # noqa: E731
    print(f"mean test F1: command line {100 * mean('f1', 1):.2f}, transformers {100 * mean('f1', 2):.2f}; "
          f"difference {100 * statistics.mean(diffs):+.2f} points"
          + (f" (per seed: {', '.join(f'{100 * d:+.2f}' for d in diffs)})" if len(diffs) > 1 else ""))
    print(json.dumps({"task": "ner", "train_sentences": len(train), "test_sentences": len(test),
                      "epochs": args.epochs, "lr": args.lr, "threads": args.threads,
                      "runs": [{"seed": s, "cli": o, "transformers": t} for s, o, t in rows],
                      "cli_minus_transformers": statistics.mean(diffs),
                      "cli_at_least_transformers": statistics.mean(diffs) >= 0}))


def sweep_ner_lr(args) -> None:
    """The command line at several learning rates (same data and seed): validation entity F1 of each."""
    from bert_edu.data.conll import conll2003_path, read_conll

    train = read_conll(conll2003_path("train"))[: args.train_sentences]
    dev = read_conll(conll2003_path("validation"))[: args.eval_sentences]
    print(f"NER learning rates: {len(train)} training sentences x {args.epochs} epochs, validation F1 on "
          f"{len(dev)} sentences, {args.threads} thread(s)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_conll(Path(tmp) / "train.txt", train)
        write_conll(Path(tmp) / "dev.txt", dev)
        for lr in args.lrs:
            for seed in args.seeds:
                cmd = [sys.executable, "-m", "bert_edu.ner", "--train", f"{tmp}/train.txt", "--eval", f"{tmp}/dev.txt",
                       "--init", "minilm", "--out", f"{tmp}/run", "--epochs", str(args.epochs), "--lr", str(lr),
                       "--seed", str(seed), "--no-progress", "--device", args.device]
                result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                        env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
                if result.returncode != 0:
                    raise SystemExit(f"the command line failed:\n{result.stderr[-2000:]}")
                f1 = json.loads(result.stdout.strip().splitlines()[-1])["f1"]
                rows.append({"lr": lr, "seed": seed, "eval_f1": f1})
                print(f"  lr {lr:g}, seed {seed}: validation F1 {100 * f1:.2f}", flush=True)
    print(json.dumps({"task": "ner-lr", "runs": rows}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="task", required=True)
    ner = sub.add_parser("ner", help="named entities: CoNLL-2003")
    ner.add_argument("--train-sentences", type=int, default=2000)
    ner.add_argument("--eval-sentences", type=int, default=1000, help="validation sentences (epoch choice)")
    ner.add_argument("--test-sentences", type=int, default=None, help="default: the whole test set")
    ner.add_argument("--epochs", type=int, default=2)
    ner.add_argument("--lr", type=float, default=None, help="default: the command line's default")
    ner.add_argument("--batch-size", type=int, default=16)
    ner.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ner.add_argument("--threads", type=int, default=1)
    ner.add_argument("--device", default="cpu")
    sweep = sub.add_parser("ner-lr", help="the NER command line at several learning rates (validation F1)")
    sweep.add_argument("--train-sentences", type=int, default=2000)
    sweep.add_argument("--eval-sentences", type=int, default=1000)
    sweep.add_argument("--epochs", type=int, default=2)
    sweep.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 2e-4, 4e-4])
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0])
    sweep.add_argument("--threads", type=int, default=1)
    sweep.add_argument("--device", default="cpu")
    qa = sub.add_parser("qa", help="question answering: SQuAD dev -> SQuADShifts NYT")
    qa.add_argument("--train-questions", type=int, default=2000)
    qa.add_argument("--test-questions", type=int, default=1000, help="0: all 10,056")
    qa.add_argument("--epochs", type=int, default=1)
    qa.add_argument("--lr", type=float, default=None, help="default: the command line's default")
    qa.add_argument("--batch-size", type=int, default=16)
    qa.add_argument("--seeds", type=int, nargs="+", default=[0])
    qa.add_argument("--threads", type=int, default=1)
    qa.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.task == "qa":
        from bert_edu.train.qa import DEFAULTS

        from bench_qa import bench_qa  # benchmarks/bench_qa.py

        args.lr = args.lr or DEFAULTS["lr"]
        bench_qa(args)
    if args.task == "ner-lr":
        sweep_ner_lr(args)
    if args.task == "ner":
        from bert_edu.train.ner import DEFAULTS

        args.lr = args.lr or DEFAULTS["lr"]
        bench_ner(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

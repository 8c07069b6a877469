"""Quality at equal budget: the course's command lines vs the plain `transformers` recipe (issue 15).

    python benchmarks/bench_ner_qa.py ner                       # 2,000 CoNLL sentences x 2 epochs, 1 thread
    python benchmarks/bench_ner_qa.py ner --train-sentences 14041 --epochs 3 --seeds 0
    python benchmarks/bench_ner_qa.py ner-lr --lrs 2e-4 4e-4 8e-4 --seeds 0 1 2   # how the default lr was chosen

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

    python benchmarks/bench_ner_qa.py qa-lr --lrs 1e-4 3e-4 5e-4   # how the QA default lr was checked

qa-lr: the QA command line at several learning rates on the training sample of `qa`, each scored on a random
sample of SQuADShifts new Wikipedia (its --eval set: validation, never the NYT test set).

    python benchmarks/bench_ner_qa.py qa-shifts --model DIR   # a saved QA model on SQuAD dev and every shifted set

qa-shifts: the model that `python -m bert_edu.qa --out DIR` saved, scored with the same SQuAD metric on SQuAD v1.1
dev and on each SQuADShifts set (new Wikipedia, New York Times, Reddit, Amazon reviews): what the domain shift
costs. Each F1 and EM comes with a 95% interval over its questions (mean +- 1.96 standard errors).
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


def sweep_qa_lr(args) -> None:
    """The QA command line at several learning rates (same data and seed): F1 on a new-Wikipedia sample."""
    from bert_edu.data.squad import read_squad, squad_path, write_squad

    from bench_qa import qa_samples  # benchmarks/bench_qa.py

    args.test_questions = 0
    train, _ = qa_samples(args)
    dev = random.Random(0).sample(read_squad(squad_path("new_wiki")), args.eval_questions)
    print(f"QA learning rates: {len(train)} SQuAD dev questions x {args.epochs} epoch(s), F1 on {len(dev)} "
          f"new-Wikipedia questions, {args.threads} thread(s) per run, {args.parallel} run(s) at a time", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_squad(train, Path(tmp) / "train.json")
        write_squad(dev, Path(tmp) / "dev.json")
        jobs = [(lr, seed) for lr in args.lrs for seed in args.seeds]
        running = []
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))

        def finish(job, process):
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                raise SystemExit(f"the command line failed:\n{stderr[-2000:]}")
            metrics = json.loads(stdout.strip().splitlines()[-1])
            rows.append({"lr": job[0], "seed": job[1], "eval_f1": metrics["f1"],
                         "eval_exact_match": metrics["exact_match"]})
            print(f"  lr {job[0]:g}, seed {job[1]}: new-Wikipedia F1 {100 * metrics['f1']:.2f}, "
                  f"EM {100 * metrics['exact_match']:.2f}", flush=True)

        for lr, seed in jobs:
            if len(running) == args.parallel:
                finish(*running.pop(0))
            cmd = [sys.executable, "-m", "bert_edu.qa", "--train", f"{tmp}/train.json", "--eval", f"{tmp}/dev.json",
                   "--init", "minilm", "--out", f"{tmp}/run-{lr:g}-{seed}", "--epochs", str(args.epochs),
                   "--lr", str(lr), "--seed", str(seed), "--no-progress", "--device", args.device]
            running.append(((lr, seed), subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                         text=True, env=env, cwd=ROOT)))
        for job, process in running:
            finish(job, process)
    print(json.dumps({"task": "qa-lr", "train_questions": len(train), "eval_questions": len(dev),
                      "epochs": args.epochs, "runs": sorted(rows, key=lambda r: (r["lr"], r["seed"]))}))


def qa_shifts(args) -> None:
    """A saved QA model scored on SQuAD dev and every SQuADShifts set, each with a 95% interval."""
    from bert_edu.data.cloze_qa import DOMAINS, cloze_path
    from bert_edu.data.squad import gold_answers, read_squad, squad_path, tokenize_windows
    from bert_edu.evaluation.squad import exact_match_score, f1_score
    from bert_edu.train.device import describe, get_device
    from bert_edu.train.qa import evaluate_qa, load_qa_model

    device = get_device(args.device)
    model, tokenizer = load_qa_model(args.model, device)
    print(f"QA model {args.model} on {describe(device)}", flush=True)
    rows = {}
    for split in args.splits:
        examples = read_squad(cloze_path(split) if split in DOMAINS else squad_path(split))  # cloze: notebook 11
        if args.questions:  # a random sample, the same for every model
            examples = random.Random(0).sample(examples, min(args.questions, len(examples)))
        windows = tokenize_windows(tokenizer, examples, args.max_length, args.stride)
        scored = evaluate_qa(model, examples, windows, device=device, pad_token_id=tokenizer.pad_token_id)
        golds = gold_answers(examples)
        row = {"questions": len(examples)}
        for key, score in (("exact_match", exact_match_score), ("f1", f1_score)):
            values = [score(p["answer"], golds[ex.id]) for ex, p in zip(examples, scored["predictions"])]
            mean = statistics.fmean(values)
            assert abs(mean - scored[key]) < 1e-9  # the per-question scores are the ones squad_scores averages
            row[key] = mean
            row[f"{key}_half_interval"] = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
        rows[split] = row
        print(f"  {split:>10}: {len(examples):6,d} questions  EM {100 * row['exact_match']:.1f} "
              f"+- {100 * row['exact_match_half_interval']:.1f}  F1 {100 * row['f1']:.1f} "
              f"+- {100 * row['f1_half_interval']:.1f}", flush=True)
    print(json.dumps({"task": "qa-shifts", "model": Path(args.model).name, "splits": rows}))


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
    sweep.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 2e-4, 4e-4, 8e-4])
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
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
    qa_lr = sub.add_parser("qa-lr", help="the QA command line at several learning rates (new-Wikipedia F1)")
    qa_lr.add_argument("--train-questions", type=int, default=2000)
    qa_lr.add_argument("--eval-questions", type=int, default=500)
    qa_lr.add_argument("--epochs", type=int, default=1)
    qa_lr.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4, 5e-4])
    qa_lr.add_argument("--seeds", type=int, nargs="+", default=[0])
    qa_lr.add_argument("--threads", type=int, default=1)
    qa_lr.add_argument("--parallel", type=int, default=2, help="runs at a time")
    qa_lr.add_argument("--device", default="cpu")
    shifts = sub.add_parser("qa-shifts", help="a saved QA model on SQuAD dev and every SQuADShifts set")
    shifts.add_argument("--model", required=True, help="the --out folder of python -m bert_edu.qa")
    shifts.add_argument("--splits", nargs="+", default=["squad_dev", "new_wiki", "nyt", "reddit", "amazon"],
                        help="SQuAD asset splits, or the cloze domains wiki, news, plots (bert_edu.data.cloze_qa)")
    shifts.add_argument("--questions", type=int, default=0, help="a random sample of N per set (0: all)")
    shifts.add_argument("--max-length", type=int, default=384)
    shifts.add_argument("--stride", type=int, default=128)
    shifts.add_argument("--device", default=None, help="default: the best available")
    args = parser.parse_args(argv)
    if args.task == "qa-lr":
        sweep_qa_lr(args)
    if args.task == "qa-shifts":
        qa_shifts(args)
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

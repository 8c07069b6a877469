"""The question-answering half of ``benchmarks/bench_ner_qa.py`` (``python benchmarks/bench_ner_qa.py qa``):
``python -m bert_edu.qa`` against the plain ``transformers`` recipe, same weights, data and budget.

The transformers recipe is written the way transformers' question-answering example (run_qa.py) does it:
BertForQuestionAnswering, AdamW, get_linear_schedule_with_warmup (10% warmup), gradient norm clipped at 1,
windows of 384 tokens with a stride of 128, answers labelled on the first/last token ([CLS] when a window does
not hold the answer), decoding over the 20 best starts x 20 best ends with answers of at most 30 tokens.
Both start from the MiniLM weights, train on the same random sample of SQuAD v1.1 dev questions (seed 0) with
the same epochs, batch size and learning rate, and are scored with the same SQuAD metric on a random sample of
SQuADShifts New York Times questions (another domain). The command line also gets 200 of those questions as
its --eval set (it keeps the best epoch; with one epoch there is nothing to choose).
"""

from __future__ import annotations

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


def qa_samples(args):
    """The training sample (SQuAD dev, Wikipedia) and the test sample (SQuADShifts NYT), both random, seed 0."""
    from bert_edu.data.squad import read_squad, squad_path

    train, test = read_squad(squad_path("squad_dev")), read_squad(squad_path("nyt"))
    train = random.Random(0).sample(train, min(args.train_questions, len(train)))
    if args.test_questions:
        test = random.Random(0).sample(test, min(args.test_questions, len(test)))
    return train, test


def run_qa_command_line(args, seed: int, files: dict, out: Path) -> dict:
    """`python -m bert_edu.qa` as a user runs it; its JSON line."""
    cmd = [sys.executable, "-m", "bert_edu.qa", "--train", str(files["train"]), "--eval", str(files["eval"]),
           "--test", str(files["test"]), "--init", "minilm", "--out", str(out), "--epochs", str(args.epochs),
           "--lr", str(args.lr), "--batch-size", str(args.batch_size), "--seed", str(seed), "--no-progress",
           "--device", args.device]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"the command line failed:\n{result.stderr[-2000:]}")
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    return {"exact_match": metrics["exact_match"], "f1": metrics["f1"], "seconds": time.perf_counter() - start}


def _hf_qa_windows(tokenizer, examples, labelled: bool):
    """run_qa.py's preprocessing: windows of 384 tokens, stride 128, offsets; answers labelled as it does."""
    enc = tokenizer([e.question for e in examples], [e.context for e in examples], truncation="only_second",
                    max_length=384, stride=128, return_overflowing_tokens=True, return_offsets_mapping=True)
    rows = []
    for i, sample in enumerate(enc["overflow_to_sample_mapping"]):
        seq, offsets = enc.sequence_ids(i), enc["offset_mapping"][i]
        row = {"input_ids": enc["input_ids"][i], "token_type_ids": enc["token_type_ids"][i], "example": sample,
               "offsets": [o if s == 1 else None for o, s in zip(offsets, seq)]}
        if labelled:
            e = examples[sample]
            first, last = seq.index(1), len(seq) - 1 - seq[::-1].index(1)
            if not (offsets[first][0] <= e.answer_start and offsets[last][1] >= e.answer_end):
                row["start"] = row["end"] = 0
            else:
                a, b = first, last
                while a <= last and offsets[a][0] <= e.answer_start:
                    a += 1
                while b >= first and offsets[b][1] >= e.answer_end:
                    b -= 1
                row["start"], row["end"] = a - 1, b + 1
        rows.append(row)
    return rows


def _pad(rows):
    import torch

    n = max(len(r["input_ids"]) for r in rows)
    ids = torch.tensor([r["input_ids"] + [0] * (n - len(r["input_ids"])) for r in rows])
    types = torch.tensor([r["token_type_ids"] + [0] * (n - len(r["token_type_ids"])) for r in rows])
    return ids, (ids != 0).long(), types


def _hf_decode(model, rows, examples) -> dict:
    """run_qa.py's postprocessing: the 20 best starts x 20 best ends of each window, the best valid one wins."""
    import numpy as np
    import torch

    best = {}
    with torch.no_grad():
        for b in range(0, len(rows), 64):
            chunk = rows[b:b + 64]
            ids, mask, types = _pad(chunk)
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            for r, s_log, e_log in zip(chunk, out.start_logits.numpy(), out.end_logits.numpy()):
                offsets = r["offsets"]
                for i in np.argsort(s_log)[-1:-21:-1]:
                    for j in np.argsort(e_log)[-1:-21:-1]:
                        if i >= len(offsets) or j >= len(offsets) or offsets[i] is None or offsets[j] is None:
                            continue
                        if j < i or j - i + 1 > 30:
                            continue
                        score = float(s_log[i] + e_log[j])
                        if r["example"] not in best or score > best[r["example"]][0]:
                            context = examples[r["example"]].context
                            best[r["example"]] = (score, context[offsets[i][0]:offsets[j][1]])
    return {examples[k].id: text for k, (_, text) in best.items()}


def run_qa_transformers(args, seed: int, train, test) -> dict:
    """The plain recipe, written the way transformers' question-answering example does it."""
    import torch
    from transformers import AutoTokenizer, BertForQuestionAnswering, get_linear_schedule_with_warmup

    from bert_edu.data.assets import minilm_path
    from bert_edu.evaluation.squad import squad_scores

    torch.set_num_threads(args.threads)
    torch.manual_seed(seed)
    random.seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    model = BertForQuestionAnswering.from_pretrained(minilm_path())
    start = time.perf_counter()
    rows = _hf_qa_windows(tokenizer, train, labelled=True)
    steps = math.ceil(len(rows) / args.batch_size) * args.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    model.train()
    for _ in range(args.epochs):
        random.shuffle(rows)
        for b in range(0, len(rows), args.batch_size):
            chunk = rows[b:b + args.batch_size]
            ids, mask, types = _pad(chunk)
            loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                         start_positions=torch.tensor([r["start"] for r in chunk]),
                         end_positions=torch.tensor([r["end"] for r in chunk])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    model.eval()
    predictions = _hf_decode(model, _hf_qa_windows(tokenizer, test, labelled=False), test)
    scores = squad_scores({e.id: e.answers for e in test}, predictions)
    return {"exact_match": scores["exact_match"], "f1": scores["f1"], "seconds": time.perf_counter() - start}


def bench_qa(args) -> None:
    from bert_edu.data.squad import write_squad

    train, test = qa_samples(args)
    print(f"QA: {len(train)} SQuAD v1.1 dev questions (Wikipedia) x {args.epochs} epoch(s), lr {args.lr}, batch "
          f"{args.batch_size}, {args.threads} thread(s); scored on {len(test)} SQuADShifts NYT questions", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {"train": write_squad(train, Path(tmp) / "train.json"),
                 "test": write_squad(test, Path(tmp) / "test.json"),
                 "eval": write_squad(test[:200], Path(tmp) / "eval.json")}
        for seed in args.seeds:
            ours = run_qa_command_line(args, seed, files, Path(tmp) / f"run{seed}")
            theirs = run_qa_transformers(args, seed, train, test)
            rows.append((seed, ours, theirs))
            print(f"  seed {seed}: python -m bert_edu.qa EM {100 * ours['exact_match']:.1f} F1 {100 * ours['f1']:.1f} "
                  f"({ours['seconds']:.0f} s)  |  transformers recipe EM {100 * theirs['exact_match']:.1f} "
                  f"F1 {100 * theirs['f1']:.1f} ({theirs['seconds']:.0f} s)", flush=True)
    diffs = [o["f1"] - t["f1"] for _, o, t in rows]
    print(f"mean test F1: command line {100 * statistics.mean(r[1]['f1'] for r in rows):.2f}, transformers "
          f"{100 * statistics.mean(r[2]['f1'] for r in rows):.2f}; difference {100 * statistics.mean(diffs):+.2f} points")
    print(json.dumps({"task": "qa", "train_questions": len(train), "test_questions": len(test), "epochs": args.epochs,
                      "lr": args.lr, "threads": args.threads,
                      "runs": [{"seed": s, "cli": o, "transformers": t} for s, o, t in rows],
                      "cli_minus_transformers": statistics.mean(diffs),
                      "cli_at_least_transformers": statistics.mean(diffs) >= 0}))

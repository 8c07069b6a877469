"""Fine-tuning BERT for extractive question answering (notebook 11), and its command line.

BERT's recipe for SQuAD (paper, section 4.2): the question and the context go in as one pair,
``[CLS] question [SEP] context [SEP]``; one linear layer turns every token's final vector into a start
logit and an end logit; training maximises the log-probability of the answer's first and last token; the
prediction is the best valid span (:func:`bert_edu.evaluation.squad.best_span`). A context longer than
``max_length`` is read in windows that overlap by ``stride`` tokens (:mod:`bert_edu.data.squad`); the
answer is the best span of any window, mapped back to characters through the offset mapping.

Optimiser, schedule, mixed precision and batching are those of text classification
(:mod:`bert_edu.train.common`, :mod:`bert_edu.train.finetune`); the metric is SQuAD's exact match and F1.

Command line (SQuAD v1.1 JSON files)::

    python -m bert_edu.assets download squad              # SQuAD dev + SQuADShifts (a 358 MB archive, once)
    python -m bert_edu.qa --train squad_dev.json --eval nyt.json --init minilm --out runs/qa --epochs 2
    python -m bert_edu.predict --model runs/qa --question "Who wrote Emma?" --context "Emma is a novel by ..."

It prints progress on stderr, then ONE line of JSON (``exact_match``, ``f1`` as fractions 0-1 on ``--test``
when given, else on ``--eval``; ``n_train_questions``; ...). The model is saved in the Hugging Face layout
(``transformers.AutoModelForQuestionAnswering`` loads it).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bert_edu.data.batching import pad
from bert_edu.data.classification import DataError
from bert_edu.data.squad import gold_answers, read_squad, tokenize_windows, train_features
from bert_edu.evaluation.squad import best_span, squad_scores
from bert_edu.train import common
from bert_edu.train.finetune import bucketed_batches, load_tokenizer, sorted_batches

# lr 3e-4, chosen by measurement (benchmarks/bench_ner_qa.py qa-lr: new-Wikipedia F1 30.2 / 48.7 / 46.9 at
# 1e-4 / 3e-4 / 5e-4, results in benchmarks/results/ner_qa.json): like NER, a 6-layer, 384-wide model wants a
# higher rate than BERT-base's 3e-5..5e-5. 384 tokens / stride 128 are the BERT paper's and transformers' values.
DEFAULTS = dict(epochs=2, lr=3e-4, batch_size=16, max_length=384, stride=128, max_answer_length=30,
                warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=0)


# --------------------------------------------------------------------------------------------
# batches and predictions


def collate_qa(features: list[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Dynamic padding of question + context windows; ``start_positions``/``end_positions`` when labelled."""
    input_ids, attention_mask = pad([f["input_ids"] for f in features], pad_token_id)
    token_type_ids, _ = pad([f["token_type_ids"] for f in features], 0)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if "start_positions" in features[0]:
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in features])
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in features])
    return batch


@torch.no_grad()
def predict_logits(model, features: list[dict], batch_size: int = 64, device=None,
                   pad_token_id: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(start_logits, end_logits) of every feature, on the CPU, without the padding."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list = [None] * len(features)
    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        batch = collate_qa([{k: features[i][k] for k in ("input_ids", "token_type_ids")} for i in idx],
                           pad_token_id)
        with common.autocast(device):
            result = model(**common.move_to(batch, device))
        starts, ends = result.start_logits.float().cpu(), result.end_logits.float().cpu()
        for row, i in enumerate(idx):
            n = len(features[i]["input_ids"])
            out[i] = (starts[row, :n], ends[row, :n])
    model.train(was_training)
    return out


def decode_answers(examples, features, logits, max_answer_length: int = DEFAULTS["max_answer_length"],
                   span_fn=None) -> list[dict]:
    """The answer of every example: the valid span with the highest start + end logit over all its windows
    (as transformers' SQuAD example). ``{"answer", "start", "end", "score", "feature", "tokens"}`` where
    start/end are characters of the context and tokens the span's token indices in that feature.
    ``span_fn(start_logits, end_logits, context_mask, max_answer_length) -> (start, end)`` replaces
    :func:`~bert_edu.evaluation.squad.best_span` (notebook 11 passes the learner's)."""
    best: list = [None] * len(examples)
    for n, (f, (start_logits, end_logits)) in enumerate(zip(features, logits)):
        mask = torch.tensor([o is not None for o in f["offsets"]])
        if not mask.any():
            continue
        if span_fn is None:
            i, j, score = best_span(start_logits, end_logits, mask, max_answer_length)
        else:
            i, j = (int(x) for x in span_fn(start_logits, end_logits, mask, max_answer_length)[:2])
            score = float(start_logits[i] + end_logits[j])
        k = f["example"]
        if best[k] is None or score > best[k]["score"]:
            start, end = f["offsets"][i][0], f["offsets"][j][1]
            best[k] = {"answer": examples[k].context[start:end], "start": start, "end": end, "score": score,
                       "feature": n, "tokens": (i, j)}
    empty = {"answer": "", "start": 0, "end": 0, "score": float("-inf"), "feature": None, "tokens": None}
    return [b or dict(empty) for b in best]


def evaluate_qa(model, examples, features, batch_size: int = 64, device=None, pad_token_id: int = 0,
                max_answer_length: int = DEFAULTS["max_answer_length"], span_fn=None) -> dict:
    """SQuAD ``exact_match`` and ``f1`` (fractions) of the model on ``examples``, and its ``predictions``
    (one dict per example, see :func:`decode_answers`)."""
    logits = predict_logits(model, features, batch_size, device, pad_token_id)
    predictions = decode_answers(examples, features, logits, max_answer_length, span_fn)
    scores = squad_scores(gold_answers(examples), {ex.id: p["answer"] for ex, p in zip(examples, predictions)})
    return {**scores, "predictions": predictions}


# --------------------------------------------------------------------------------------------
# training


@dataclass
class QAResult:
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    best_epoch: int = 0
    best: dict = field(default_factory=dict)  # exact_match / f1 on the eval set at the best epoch
    seconds: float = 0.0
    steps: int = 0


def train_qa(model, features, eval_examples=None, eval_features=None, *, epochs: int = DEFAULTS["epochs"],
             lr: float = DEFAULTS["lr"], batch_size: int = DEFAULTS["batch_size"],
             warmup_ratio: float = DEFAULTS["warmup_ratio"], weight_decay: float = DEFAULTS["weight_decay"],
             max_grad_norm: float | None = DEFAULTS["max_grad_norm"], seed: int = DEFAULTS["seed"], device=None,
             pad_token_id: int = 0, bucket: bool = True, max_answer_length: int = DEFAULTS["max_answer_length"],
             progress: bool = True, mixed_precision: str = "auto", log=print) -> QAResult:
    """Fine-tune on labelled windows (:func:`bert_edu.data.squad.train_features`). With eval examples, score
    them after every epoch and keep the weights of the best epoch by F1 (ties: the earlier)."""
    from tqdm.auto import tqdm

    if not features:
        raise ValueError("train_qa needs at least one training window")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rng = random.Random(seed)
    total_steps = math.ceil(len(features) / batch_size) * epochs
    optimizer = common.make_optimizer(model, lr, weight_decay)
    scheduler = common.linear_warmup_decay(optimizer, int(warmup_ratio * total_steps), total_steps)
    scaler = common.make_grad_scaler(device, mixed_precision)
    result, best_state, start = QAResult(), None, time.perf_counter()
    lengths = [len(f["input_ids"]) for f in features]
    for epoch in range(1, epochs + 1):
        model.train()
        if bucket:  # windows of similar length together: a long context costs less padding
            batches = bucketed_batches(lengths, batch_size, rng)
        else:
            order = list(range(len(features)))
            rng.shuffle(order)
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        loss_sum = 0.0
        for idx in tqdm(batches, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress):
            batch = common.move_to(collate_qa([features[i] for i in idx], pad_token_id), device)
            with common.autocast(device, mixed_precision):
                loss = model(**batch).loss
            scaler.scale(loss).backward()
            common.clip_and_step(model, optimizer, scaler, max_grad_norm)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.item()
            result.steps += 1
            if result.steps == 1:  # the first batch was checked; the others come from the same tokenizer
                common.skip_input_checks(model)
        row = {"epoch": epoch, "train_loss": loss_sum / len(batches), "seconds": time.perf_counter() - start}
        if eval_examples:
            scores = evaluate_qa(model, eval_examples, eval_features, device=device, pad_token_id=pad_token_id,
                                 max_answer_length=max_answer_length)
            row.update(eval_exact_match=scores["exact_match"], eval_f1=scores["f1"])
            improved = best_state is None or scores["f1"] > result.best["f1"]
            if improved:  # a CPU copy: the best weights survive later, worse epochs
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                result.best_epoch, result.best = epoch, {"exact_match": scores["exact_match"], "f1": scores["f1"]}
        result.history.append(row)
        if log:
            shown = f", eval EM {100 * row['eval_exact_match']:.1f}%, F1 {100 * row['eval_f1']:.1f}%" \
                if "eval_f1" in row else ""
            log(f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.4f}{shown} ({row['seconds']:.0f} s)")
    common.skip_input_checks(model, skip=False)
    if best_state is not None and result.best_epoch != epochs:
        model.load_state_dict(best_state)
        if log:
            log(f"restored the weights of epoch {result.best_epoch} (best eval F1)")
    result.seconds = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------------------------
# models: where the weights start, where they are saved


def build_qa_model(init: str = "minilm", like=None, verbose: bool = False):
    """``BertForQuestionAnswering`` and its tokenizer. ``init``: 'minilm', 'scratch' (the architecture and
    vocabulary of ``like``, default MiniLM, with random weights) or a model folder (any BERT checkpoint)."""
    from bert_edu.data.assets import minilm_path
    from bert_edu.model.config import BertConfig
    from bert_edu.model.heads import BertForQuestionAnswering

    folder = Path(init) if init not in ("minilm", "scratch") else Path(like) if like else minilm_path()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a model folder (no config.json). Pass 'minilm', 'scratch' "
                                "or the folder a checkpoint was saved to (e.g. by python -m bert_edu.pretrain)")
    if init == "scratch":
        model = BertForQuestionAnswering(BertConfig.from_pretrained(folder, num_labels=2))
    else:
        model = BertForQuestionAnswering.from_pretrained(folder, verbose=verbose, num_labels=2)
    return model, load_tokenizer(folder)


def save_qa_model(model, tokenizer, out) -> Path:
    """HF layout (config.json, model.safetensors) + tokenizer files, written atomically (temp folder, rename)."""
    with common.atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out)


def load_qa_model(folder, device=None):
    """The model (in eval mode) and tokenizer saved in ``folder`` by ``python -m bert_edu.qa``."""
    from bert_edu.model.heads import BertForQuestionAnswering

    if not (Path(folder) / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no model (no config.json); pass the --out folder of "
                                "python -m bert_edu.qa")
    model = BertForQuestionAnswering.from_pretrained(folder, verbose=False)
    return model.to(device or "cpu").eval(), load_tokenizer(folder)


# --------------------------------------------------------------------------------------------
# one question


def widen_to_words(tokens: list[str], offsets, i: int, j: int) -> tuple[int, int]:
    """Move a token span's ends out to whole words: back over ``##`` pieces at the start, on over them at the
    end (what transformers' question-answering pipeline does with ``align_to_words=True``)."""
    while i > 0 and tokens[i].startswith("##") and offsets[i - 1] is not None:
        i -= 1
    while j + 1 < len(tokens) and tokens[j + 1].startswith("##") and offsets[j + 1] is not None:
        j += 1
    return i, j


@torch.no_grad()
def predict_answer(model, tokenizer, question: str, context: str, max_length: int = DEFAULTS["max_length"],
                   stride: int = DEFAULTS["stride"], max_answer_length: int = DEFAULTS["max_answer_length"],
                   align_to_words: bool = True) -> dict:
    """The answer to one question about one context: ``{"answer", "start", "end", "score"}``, with
    ``context[start:end] == answer`` and ``score`` the probability of the span in its window (start
    probability x end probability, each a softmax over the context tokens), as transformers' pipeline."""
    from bert_edu.data.squad import SquadExample

    if not question.strip() or not context.strip():
        raise ValueError("both the question and the context must hold some text")
    example = SquadExample("q", question, context, [""], [0])
    features = tokenize_windows(tokenizer, [example], max_length, stride)
    logits = predict_logits(model, features, pad_token_id=tokenizer.pad_token_id)
    found = decode_answers([example], features, logits, max_answer_length)[0]
    if found["feature"] is None:  # the context has no token at all (e.g. only control characters)
        return {"answer": "", "start": 0, "end": 0, "score": 0.0}
    f, (i, j) = features[found["feature"]], found["tokens"]
    start_logits, end_logits = logits[found["feature"]]
    mask = torch.tensor([o is not None for o in f["offsets"]])
    p_start = start_logits.masked_fill(~mask, float("-inf")).softmax(-1)
    p_end = end_logits.masked_fill(~mask, float("-inf")).softmax(-1)
    score = float(p_start[i] * p_end[j])
    if align_to_words:
        i, j = widen_to_words(tokenizer.convert_ids_to_tokens(f["input_ids"]), f["offsets"], i, j)
    start, end = f["offsets"][i][0], f["offsets"][j][1]
    return {"answer": context[start:end], "start": start, "end": end, "score": score}


# --------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    p = argparse.ArgumentParser(prog="python -m bert_edu.qa",
                                description="Fine-tune BERT for extractive question answering on SQuAD v1.1 "
                                            "JSON files.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--train", required=True, help="SQuAD v1.1 JSON file to train on")
    p.add_argument("--eval", required=True, help="SQuAD v1.1 JSON file scored after each epoch; the best epoch "
                   "is kept")
    p.add_argument("--test", help="optional: scored once at the end with the kept weights")
    p.add_argument("--init", default="minilm", help="'minilm', 'scratch' or a checkpoint folder")
    p.add_argument("--like", help="with --init scratch: architecture and tokenizer of this folder (default: MiniLM)")
    p.add_argument("--out", required=True, help="folder to save the model and tokenizer to")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--lr", type=float, default=d["lr"], help="peak learning rate")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--max-length", type=int, default=d["max_length"], help="tokens per window (question + "
                   "context + 3 special tokens)")
    p.add_argument("--stride", type=int, default=d["stride"], help="tokens shared by consecutive windows of a "
                   "long context")
    p.add_argument("--max-answer-length", type=int, default=d["max_answer_length"], help="longest answer, in "
                   "tokens")
    p.add_argument("--warmup-ratio", type=float, default=d["warmup_ratio"])
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"])
    p.add_argument("--max-train-examples", type=int, help="use only the first N training questions")
    p.add_argument("--max-eval-examples", type=int, help="score only the first N questions of --eval / --test")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--bucket", action=argparse.BooleanOptionalAction, default=True,
                   help="batch windows of similar length together (faster: less padding)")
    p.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    common.add_mixed_precision_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _check_args(args, parser):
    for name in ("epochs", "batch_size", "max_answer_length"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_length < 8:
        parser.error("--max-length must be at least 8 (a question, a piece of context and 3 special tokens)")
    if not 0 <= args.stride < args.max_length // 2:
        parser.error("--stride must be at least 0 and less than half of --max-length")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    for name in ("max_train_examples", "max_eval_examples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.warmup_ratio <= 1:
        parser.error("--warmup-ratio must be between 0 and 1")
    if args.init not in ("minilm", "scratch") and not Path(args.init).is_dir():
        parser.error(f"--init {args.init!r} is neither 'minilm', 'scratch' nor an existing folder")
    if args.like and args.init != "scratch":
        parser.error("--like only applies to --init scratch")


def _read_all(args) -> dict:
    """Every file read and checked before a model is loaded; DataError names the file, question and fix."""
    data = {"train": read_squad(args.train)[: args.max_train_examples or None]}
    for split in ("eval", "test"):
        path = getattr(args, split)
        data[split] = read_squad(path)[: args.max_eval_examples or None] if path else None
    return data


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(args, parser)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731  progress on stderr, JSON on stdout
    common.set_seed(args.seed)  # before the model: --init scratch draws its weights
    try:
        data = _read_all(args)
        model, tokenizer = build_qa_model(args.init, args.like)
        windows = lambda examples: tokenize_windows(tokenizer, examples, args.max_length, args.stride)  # noqa: E731
        features = train_features(tokenizer, data["train"], args.max_length, args.stride)
        eval_features = windows(data["eval"])
        test_features = windows(data["test"]) if data["test"] else None
    except (DataError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    from bert_edu.train.device import describe, get_device

    device = get_device(args.device)
    log(f"{len(data['train'])} training questions ({len(features)} windows), {len(data['eval'])} eval questions; "
        f"init {args.init} ({model.num_parameters() / 1e6:.1f}M parameters); device {describe(device)}")
    pad_id = tokenizer.pad_token_id
    result = train_qa(model, features, data["eval"], eval_features, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
                      seed=args.seed, device=device, pad_token_id=pad_id, bucket=args.bucket,
                      max_answer_length=args.max_answer_length, progress=not args.no_progress,
                      mixed_precision=args.mixed_precision, log=log)
    final, split = result.best, "eval"
    if test_features is not None:
        final = evaluate_qa(model, data["test"], test_features, device=device, pad_token_id=pad_id,
                            max_answer_length=args.max_answer_length)
        split = "test"
    save_qa_model(model.cpu(), tokenizer, args.out)
    log(f"saved to {args.out}")
    metrics = {"exact_match": final["exact_match"], "f1": final["f1"], "split": split,
               "eval_exact_match": result.best["exact_match"], "eval_f1": result.best["f1"],
               "n_train_questions": len(data["train"]), "n_train_windows": len(features),
               "n_eval_questions": len(data["eval"]), "n_test_questions": len(data["test"] or []),
               "epochs": args.epochs, "best_epoch": result.best_epoch, "steps": result.steps, "lr": args.lr,
               "max_length": args.max_length, "stride": args.stride, "seconds": round(result.seconds, 1),
               "init": args.init, "out": str(args.out)}
    print(json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

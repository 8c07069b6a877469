"""Fine-tuning BERT for extractive question answering (notebook 11), and its command line.

BERT's recipe for SQuAD (paper, section 4.2): the question and the context go in as one pair,
``[CLS] question [SEP] context [SEP]``; one linear layer turns every token's final vector into a start
logit and an end logit; training maximises the log-probability of the answer's first and last token; the
prediction is the best valid span (:func:`bert_edu.evaluation.squad.best_span`). A context longer than
``max_length`` is read in windows that overlap by ``stride`` tokens (:mod:`bert_edu.data.squad`); the
answer is the best span of any window, mapped back to characters through the offset mapping.

Optimiser, schedule, mixed precision, batching and the loop itself are those of text classification
(:func:`bert_edu.train.loop.fit`, :mod:`bert_edu.data.batching`); the metric is SQuAD's exact match and F1.

Command line (SQuAD v1.1 JSON files)::

    bert-edu assets download squad              # SQuAD dev + SQuADShifts (a 358 MB archive, once)
    bert-edu qa --train squad_dev.json --eval nyt.json --init minilm --out runs/qa --epochs 2
    bert-edu predict --model runs/qa --question "Who wrote Emma?" --context "Emma is a novel by ..."

It prints progress on stderr, then ONE line of JSON (``metric``: ``f1``, its ``value`` and ``split``;
``exact_match``, ``f1`` as fractions 0-1 on ``--test`` when given, else on ``--eval``; ``n_train_questions``;
...). The model is saved in the Hugging Face layout
(``transformers.AutoModelForQuestionAnswering`` loads it).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

from bert_edu.data.batching import pad, sorted_batches
from bert_edu.data.classification import DataError
from bert_edu.data.squad import gold_answers, read_squad, tokenize_windows, train_features
from bert_edu.evaluation.squad import best_span, squad_scores
from bert_edu.model.heads import BertForQuestionAnswering
from bert_edu.train import cli, common
from bert_edu.train.common import load_tokenizer
from bert_edu.train.loop import FitResult, fit

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
def predict_logits(model, features: list[dict], batch_size: int = 64, device=None, pad_token_id: int = 0,
                   mixed_precision: str = "auto") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(start_logits, end_logits) of every feature, on the CPU, without the padding."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list = [None] * len(features)
    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        batch = collate_qa([{k: features[i][k] for k in ("input_ids", "token_type_ids")} for i in idx],
                           pad_token_id)
        with common.autocast(device, mixed_precision):
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
                max_answer_length: int = DEFAULTS["max_answer_length"], span_fn=None,
                mixed_precision: str = "auto") -> dict:
    """SQuAD ``exact_match`` and ``f1`` (fractions) of the model on ``examples``, and its ``predictions``
    (one dict per example, see :func:`decode_answers`)."""
    logits = predict_logits(model, features, batch_size, device, pad_token_id, mixed_precision)
    predictions = decode_answers(examples, features, logits, max_answer_length, span_fn)
    scores = squad_scores(gold_answers(examples), {ex.id: p["answer"] for ex, p in zip(examples, predictions)})
    return {**scores, "predictions": predictions}


# --------------------------------------------------------------------------------------------
# training


QAResult = FitResult  # its old name


def train_qa(model, features, eval_examples=None, eval_features=None, *, epochs: int = DEFAULTS["epochs"],
             lr: float = DEFAULTS["lr"], batch_size: int = DEFAULTS["batch_size"],
             warmup_ratio: float = DEFAULTS["warmup_ratio"], weight_decay: float = DEFAULTS["weight_decay"],
             max_grad_norm: float | None = DEFAULTS["max_grad_norm"], seed: int = DEFAULTS["seed"], device=None,
             pad_token_id: int = 0, bucket: bool = True, max_answer_length: int = DEFAULTS["max_answer_length"],
             progress: bool = True, mixed_precision: str = "auto", log=print) -> FitResult:
    """Fine-tune on labelled windows (:func:`bert_edu.data.squad.train_features`). With eval examples, score
    them after every epoch and keep the weights of the best epoch by F1 (ties: the earlier)."""
    if not features:
        raise ValueError("train_qa needs at least one training window")

    def score(model, device, mixed_precision):
        scores = evaluate_qa(model, eval_examples, eval_features, device=device, pad_token_id=pad_token_id,
                             max_answer_length=max_answer_length, mixed_precision=mixed_precision)
        return {"exact_match": scores["exact_match"], "f1": scores["f1"]}

    return fit(model, features, lambda fs: collate_qa(fs, pad_token_id), evaluate=score if eval_examples else None,
               metric="f1", metric_label="F1", epochs=epochs, lr=lr, batch_size=batch_size,
               warmup_ratio=warmup_ratio, weight_decay=weight_decay, max_grad_norm=max_grad_norm, seed=seed,
               device=device, bucket=bucket, progress=progress, mixed_precision=mixed_precision, log=log)


# --------------------------------------------------------------------------------------------
# models: where the weights start, where they are saved


def build_qa_model(init: str = "minilm", like=None, verbose: bool = False, size: str | None = None):
    """``BertForQuestionAnswering`` and its tokenizer. ``init``: 'minilm', 'scratch' (the architecture, or a
    ``size``, and vocabulary of ``like``, default MiniLM, with random weights) or a model folder (any BERT
    checkpoint)."""
    return common.build_model(BertForQuestionAnswering, init, 2, size, like, verbose)


save_qa_model = common.save_folder  # HF layout + tokenizer files, written atomically (temp folder, rename)


def load_qa_model(folder, device=None):
    """The model (in eval mode) and tokenizer saved in ``folder`` by ``bert-edu qa``."""
    if not (Path(folder) / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no model (no config.json); pass the --out folder of "
                                "bert-edu qa")
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


@dataclasses.dataclass
class QAConfig(cli.FinetuneConfig):
    """``bert-edu qa``'s options (the shared ones in :class:`bert_edu.train.cli.FinetuneConfig`)."""

    train: str | None = cli.option(None, "SQuAD v1.1 JSON file to train on", required=True)
    epochs: int = cli.option(DEFAULTS["epochs"], "passes over the training windows (2: the full-data runs of "
                             "benchmarks/results/ner_qa.json)")
    lr: float = cli.option(DEFAULTS["lr"], "peak learning rate (measured: benchmarks/bench_ner_qa.py qa-lr, "
                           "new-Wikipedia F1 best at 3e-4)")
    stride: int = cli.option(DEFAULTS["stride"], "tokens shared by consecutive windows of a long context")
    max_length: int = cli.option(DEFAULTS["max_length"], "tokens per window (question + context + 3 special "
                                 "tokens; 384 as in the BERT paper)")
    max_answer_length: int = cli.option(DEFAULTS["max_answer_length"], "longest answer, in tokens")
    max_eval_examples: int | None = cli.option(None, "score only the first N questions of --eval / --test")
    bucket: bool = cli.option(True, "batch windows of similar length together (faster: less padding; on by "
                              "default here: a question's windows vary in length much more than sentences)")


def build_parser():
    return cli.make_parser("qa", "Fine-tune BERT for extractive question answering on SQuAD v1.1 JSON files.",
                           QAConfig)


def _check_args(args, parser):
    cli.check_finetune_args(args, parser, 8, "a question, a piece of context and 3 special tokens")
    for name in ("max_answer_length", "max_eval_examples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.stride < args.max_length // 2:
        parser.error("--stride must be at least 0 and less than half of --max-length")


def _read_all(args) -> dict:
    """Every file read and checked before a model is loaded; DataError names the file, question and fix."""
    data = {"train": read_squad(args.train)[: args.max_train_examples or None]}
    for split in ("eval", "test"):
        path = getattr(args, split)
        data[split] = read_squad(path)[: args.max_eval_examples or None] if path else None
    return data


def _prepare(args):
    """Every file read and checked, the model built, the windows cut: ``(data, model, tokenizer, features,
    eval_features, test_features)``, or raises DataError / OSError / ValueError."""
    from bert_edu.train.device import autocast_dtype, get_device

    autocast_dtype(get_device(args.device), args.mixed_precision)  # e.g. bf16 asked on a GPU without it
    data = _read_all(args)
    model, tokenizer = build_qa_model(args.init, args.like, size=args.size)
    windows = lambda examples: tokenize_windows(tokenizer, examples, args.max_length, args.stride)  # noqa: E731
    features = train_features(tokenizer, data["train"], args.max_length, args.stride)
    test_features = windows(data["test"]) if data["test"] else None
    return data, model, tokenizer, features, windows(data["eval"]), test_features


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(args, parser)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731  progress on stderr, JSON on stdout
    common.set_seed(args.seed)  # before the model: --init scratch draws its weights
    try:
        data, model, tokenizer, features, eval_features, test_features = _prepare(args)
    except (DataError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    from bert_edu.train.device import describe, get_device

    device = get_device(args.device)
    log(f"{len(data['train'])} training questions ({len(features)} windows), {len(data['eval'])} eval questions; "
        f"init {args.init} ({model.num_parameters() / 1e6:.1f}M parameters); device {describe(device)}")
    pad_id = tokenizer.pad_token_id
    result = train_qa(model, features, data["eval"], eval_features, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
                      max_grad_norm=args.max_grad_norm, seed=args.seed, device=device, pad_token_id=pad_id,
                      bucket=args.bucket, max_answer_length=args.max_answer_length, progress=args.progress,
                      mixed_precision=args.mixed_precision, log=log)
    final, split = result.best, "eval"
    if test_features is not None:
        final = evaluate_qa(model, data["test"], test_features, device=device, pad_token_id=pad_id,
                            max_answer_length=args.max_answer_length, mixed_precision=args.mixed_precision)
        split = "test"
    save_qa_model(model.cpu(), tokenizer, args.out)
    log(f"saved to {args.out}")
    task = {"exact_match": final["exact_match"], "f1": final["f1"],
            "eval_exact_match": result.best["exact_match"], "eval_f1": result.best["f1"],
            "n_train_questions": len(data["train"]), "n_train_windows": len(features),
            "n_eval_questions": len(data["eval"]), "n_test_questions": len(data["test"] or []),
            "epochs": args.epochs, "best_epoch": result.best_epoch, "steps": result.steps, "lr": args.lr,
            "max_length": args.max_length, "stride": args.stride, "init": args.init}
    print(json.dumps(cli.result_line("f1", final["f1"], split, result.seconds, args.out, **task)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

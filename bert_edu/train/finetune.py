"""Fine-tuning BERT for text classification (sentiment in notebook 08), and its command line.

The recipe of the BERT paper (section 4.1), in small plain functions:

* the model: ``BertForSequenceClassification``, i.e. the pooled ``[CLS]`` vector -> dropout -> one linear
  layer with one output per label, trained with cross-entropy together with every weight below it;
* AdamW (no decay on biases and LayerNorm), the learning rate warmed up over the first 10% of the steps,
  then decayed linearly to 0; the gradient norm clipped at 1;
* **dynamic padding**: each batch is padded only to its own longest sentence, not to ``max_length``;
* **length bucketing** (a speed trick, ``bucket=True``; ``--bucket`` on the command line): batches are made
  of sentences of similar length, so there is little padding to compute on; which sentences go together is
  still random from epoch to epoch;
* the validation set evaluated after every epoch, and the weights of the best epoch kept;
* the test set evaluated once, at the very end, by the caller.

Command line (your own TSV/CSV files with a header; columns ``text`` and ``label`` by default)::

    python -m bert_edu.finetune --train train.csv --eval dev.csv --init minilm --out runs/sentiment
    python -m bert_edu.predict --model runs/sentiment "A gorgeous, witty film."

``--init`` is ``minilm`` (the real all-MiniLM-L6-v2 weights), ``scratch`` (the same architecture and
vocabulary, random weights) or a folder with a checkpoint of yours (e.g. from ``python -m bert_edu.pretrain``).
The command prints progress, then ONE line of JSON with the metrics, and saves the model in the
Hugging Face layout with its tokenizer and label names, so this works too::

    transformers.pipeline("text-classification", model="runs/sentiment")("A gorgeous, witty film.")
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from bert_edu.data.batching import pad
from bert_edu.model.config import SIZES
from bert_edu.train import common
from bert_edu.data.classification import DataError, load_classification_data

# Defaults chosen to be robust for ONE epoch on a few thousand sentences from a pretrained start
# (see the experiment in the report of notebook 08): lr 1e-4 is high for BERT-base but right for a
# 6-layer, 384-wide model; warmup keeps the first Adam steps from wrecking the pretrained weights.
DEFAULTS = dict(epochs=3, lr=1e-4, batch_size=16, max_length=128, warmup_ratio=0.1, weight_decay=0.01,
                max_grad_norm=1.0, seed=0)

# Length bucketing is off by default on the command line: on one epoch of 3,000 sentences it cost about one
# point of validation accuracy (3 seeds each; same test accuracy), and robustness matters more there than speed.
CLI_BUCKET = False

# Small models (hidden_size <= 256: the tiny and mini sizes the course pretrains) want a larger learning rate and
# more steps than MiniLM (notebook 08's learning-rate sweep; benchmarks/learning_curve.py).
SMALL_MODEL_RECIPE = dict(epochs=5, lr=5e-4, batch_size=32)
MIN_EPOCH_EXAMPLES = 1000  # a smaller training set is repeated within each epoch up to this many sentences


def recipe_for(config) -> dict:
    """``epochs``, ``lr`` and ``batch_size`` for a model: SMALL_MODEL_RECIPE up to 256 wide, else DEFAULTS."""
    if config.hidden_size <= 256:
        return dict(SMALL_MODEL_RECIPE)
    return {k: DEFAULTS[k] for k in ("epochs", "lr", "batch_size")}


def repeat_to(features: list, min_examples: int = MIN_EPOCH_EXAMPLES) -> tuple[list, int]:
    """``(features repeated, repeats)``: a small training set repeated so that one epoch holds at least
    ``min_examples`` sentences (100 sentences x 1 epoch would be a handful of steps: too few to learn)."""
    repeats = max(1, math.ceil(min_examples / max(1, len(features))))
    return features * repeats, repeats

# --------------------------------------------------------------------------------------------
# data: token ids once, padding per batch


def encode(tokenizer, examples, max_length: int = DEFAULTS["max_length"]) -> list[dict]:
    """Tokenize every example once: ``{"input_ids": [CLS] ... [SEP], "label": id}``, no padding yet."""
    ids = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length)["input_ids"]
    return [{"input_ids": list(row), "label": int(ex.label)} for row, ex in zip(ids, examples)]


def collate(features: list[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Dynamic padding: pad a batch to ITS longest sequence, and mark the real tokens in ``attention_mask``.

    One sentence per input, so every ``token_type_ids`` is 0 (segment A).
    """
    input_ids, attention_mask = pad([f["input_ids"] for f in features], pad_token_id)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask,
             "token_type_ids": torch.zeros_like(input_ids)}
    if "label" in features[0]:
        batch["labels"] = torch.tensor([f["label"] for f in features], dtype=torch.long)
    return batch


def bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random,
                     bucket_batches: int = 50) -> list[list[int]]:
    """Shuffled batches of indices whose sentences have similar lengths.

    Shuffle everything, cut it into chunks of ``bucket_batches`` batches, sort each chunk by length and
    cut it into batches, then shuffle the batches. Each batch then needs little padding, while which
    sentences meet, and the order of the batches, still change every epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches: sorted by length (least padding); the results are put back in input order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# --------------------------------------------------------------------------------------------
# evaluation


@torch.no_grad()
def predict_proba(model, features: list[dict], batch_size: int = 64, device=None,
                  pad_token_id: int = 0, progress: bool = False, mixed_precision: str = "auto") -> torch.Tensor:
    """Class probabilities, shape (N, num_labels), in the order of ``features`` (softmax of the logits)."""
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs = torch.empty(len(features), model.config.num_labels)
    batches = sorted_batches([len(f["input_ids"]) for f in features], batch_size)
    for idx in tqdm(batches, desc="predict", leave=False, disable=not progress):
        batch = collate([{"input_ids": features[i]["input_ids"]} for i in idx], pad_token_id)
        with common.autocast(device, mixed_precision):
            logits = model(**common.move_to(batch, device)).logits
        probs[idx] = logits.float().softmax(-1).cpu()
    model.train(was_training)
    return probs


def metrics_from_probs(probs: torch.Tensor, labels) -> dict:
    """Accuracy and mean cross-entropy loss of predicted probabilities against the true label ids."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels).item()
    accuracy = (probs.argmax(-1) == labels).float().mean().item()
    return {"accuracy": accuracy, "loss": loss}


def evaluate(model, features: list[dict], batch_size: int = 64, device=None, pad_token_id: int = 0,
             progress: bool = False, mixed_precision: str = "auto") -> dict:
    """``{"accuracy", "loss", "probs"}`` of the model on labelled features."""
    probs = predict_proba(model, features, batch_size, device, pad_token_id, progress, mixed_precision)
    return {**metrics_from_probs(probs, [f["label"] for f in features]), "probs": probs}


def majority_baseline(train_labels, eval_labels) -> dict:
    """Always predict the most frequent training label: the accuracy any classifier must beat."""
    counts = torch.bincount(torch.as_tensor(train_labels))
    majority = int(counts.argmax())
    accuracy = (torch.as_tensor(eval_labels) == majority).float().mean().item()
    return {"label": majority, "accuracy": accuracy}


# --------------------------------------------------------------------------------------------
# training


@dataclass
class FinetuneResult:
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    best_epoch: int = 0
    best: dict = field(default_factory=dict)  # validation metrics of the best epoch (without probs)
    seconds: float = 0.0
    train_examples: int = 0
    steps: int = 0
    losses: list = field(default_factory=list)  # the training loss of every step


def train_classifier(model, train_features: list[dict], eval_features: list[dict], *,
                     epochs: int = DEFAULTS["epochs"], lr: float = DEFAULTS["lr"],
                     batch_size: int = DEFAULTS["batch_size"], warmup_ratio: float = DEFAULTS["warmup_ratio"],
                     weight_decay: float = DEFAULTS["weight_decay"],
                     max_grad_norm: float | None = DEFAULTS["max_grad_norm"], seed: int = DEFAULTS["seed"],
                     device=None, pad_token_id: int = 0, eval_batch_size: int = 64, bucket: bool = True,
                     progress: bool = True, log=print, mixed_precision: str = "auto") -> FinetuneResult:
    """Fine-tune ``model`` on ``train_features``; evaluate on ``eval_features`` after every epoch and
    leave the model with the weights of the epoch with the best accuracy there (ties: the earlier)."""
    from tqdm.auto import tqdm

    if not train_features or not eval_features:
        raise ValueError("train_classifier needs at least one training and one evaluation example")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rng = random.Random(seed)
    lengths = [len(f["input_ids"]) for f in train_features]
    steps_per_epoch = math.ceil(len(train_features) / batch_size)
    total_steps = steps_per_epoch * epochs
    optimizer = common.make_optimizer(model, lr, weight_decay)
    scheduler = common.linear_warmup_decay(optimizer, int(warmup_ratio * total_steps), total_steps)
    scaler = common.make_grad_scaler(device, mixed_precision)

    result = FinetuneResult(train_examples=len(train_features))
    best_state, start = None, time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        if bucket:
            batches = bucketed_batches(lengths, batch_size, rng)
        else:
            order = list(range(len(train_features)))
            rng.shuffle(order)
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        loss_sum, seen = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)
        for idx in bar:
            batch = common.move_to(collate([train_features[i] for i in idx], pad_token_id), device)
            with common.autocast(device, mixed_precision):
                loss = model(**batch).loss
            common.skip_input_checks(model)  # the first batch was checked; later ones would wait for the GPU
            scaler.scale(loss).backward()
            common.clip_and_step(model, optimizer, scaler, max_grad_norm)
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.losses.append(loss.item())
            loss_sum += result.losses[-1] * len(idx)
            seen += len(idx)
            result.steps += 1
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        val = evaluate(model, eval_features, eval_batch_size, device, pad_token_id, mixed_precision=mixed_precision)
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "eval_loss": val["loss"],
               "eval_accuracy": val["accuracy"], "seconds": time.perf_counter() - start}
        improved = best_state is None or val["accuracy"] > result.best["accuracy"]
        if improved:
            # a copy on the CPU: the best weights survive later, worse epochs
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            result.best_epoch, result.best = epoch, {"accuracy": val["accuracy"], "loss": val["loss"]}
        result.history.append(row)
        if log:
            log(f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.4f}, eval loss {row['eval_loss']:.4f}, "
                f"eval accuracy {100 * row['eval_accuracy']:.2f}%{'  (best so far)' if improved else ''}")
    if best_state is not None and result.best_epoch != epochs:
        model.load_state_dict(best_state)
        if log:
            log(f"restored the weights of epoch {result.best_epoch} (best eval accuracy)")
    common.skip_input_checks(model, False)  # the trained model checks its inputs again
    result.seconds = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------------------------
# models: where the weights start


def label_maps(label_names) -> dict:
    """The config fields that carry label names into the saved model (and into transformers.pipeline)."""
    names = [str(n) for n in label_names]
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)}}


def load_tokenizer(folder):
    from bert_edu import BertTokenizer

    return BertTokenizer.from_pretrained(folder)


def pretrained_classifier(folder, label_names, verbose: bool = True):
    """Weights of the encoder from ``folder`` (any BERT checkpoint: bare, pretraining heads, ...) and a
    freshly initialised classifier with one output per label; the folder's tokenizer."""
    from bert_edu import BertForSequenceClassification

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a model folder (no config.json). Pass 'minilm', 'scratch' "
                                "or the folder a checkpoint was saved to (e.g. by python -m bert_edu.pretrain)")
    model = BertForSequenceClassification.from_pretrained(folder, verbose=verbose, **label_maps(label_names))
    return model, load_tokenizer(folder)


def scratch_classifier(like, label_names, size: str | None = None):
    """The architecture (or a ``size`` from SIZES) and tokenizer of the model in folder ``like``, with
    random weights: the same network, minus everything pretraining taught it."""
    from bert_edu import BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(like)
    if size is not None:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or leave it out")
        for key, value in SIZES[size].items():
            setattr(config, key, value)
    for key, value in label_maps(label_names).items():
        setattr(config, key, value)
    return BertForSequenceClassification(config), load_tokenizer(like)


def build_classifier(init: str, label_names, size: str | None = None, like=None, verbose: bool = True):
    """``init``: 'minilm', 'scratch' (architecture + vocab of ``like``, default MiniLM) or a folder."""
    from bert_edu.data.assets import minilm_path

    if init == "minilm":
        return pretrained_classifier(minilm_path(), label_names, verbose)
    if init == "scratch":
        return scratch_classifier(like or minilm_path(), label_names, size)
    return pretrained_classifier(init, label_names, verbose)


def save_classifier(model, tokenizer, out) -> Path:
    """HF layout (config.json with the label names, model.safetensors) + the tokenizer files."""
    out = Path(out)
    with common.atomic_folder(out) as tmp:  # written in full, then renamed into place
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


# --------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    p = argparse.ArgumentParser(prog="python -m bert_edu.finetune",
                                description="Fine-tune BERT for text classification on your TSV/CSV files.",
                                formatter_class=common.HelpFormatter)
    p.add_argument("--train", required=True, help="training file: TSV/CSV with a header row")
    p.add_argument("--eval", required=True, help="evaluated after each epoch; the best epoch is kept")
    p.add_argument("--test", help="optional: evaluated once at the end with the kept weights")
    p.add_argument("--init", default="minilm", help="'minilm', 'scratch' or a checkpoint folder")
    p.add_argument("--size", choices=sorted(SIZES), help="with --init scratch: a smaller architecture "
                   "(default: that of --like)")
    p.add_argument("--like", help="with --init scratch: take architecture and tokenizer from this folder "
                   "(default: MiniLM)")
    p.add_argument("--out", required=True, help="folder to save the model, tokenizer and label names to")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    by_width = (f"default: by the model's width, {SMALL_MODEL_RECIPE} up to 256 wide, else "
                f"{ {k: d[k] for k in SMALL_MODEL_RECIPE} }")
    p.add_argument("--epochs", type=int, help=by_width)
    p.add_argument("--lr", type=float, help="peak learning rate; " + by_width)
    p.add_argument("--batch-size", type=int, help=by_width)
    p.add_argument("--min-epoch-examples", type=int, default=MIN_EPOCH_EXAMPLES,
                   help="a smaller training set is repeated within each epoch up to this many sentences")
    p.add_argument("--max-length", type=int, default=d["max_length"], help="longer texts are truncated")
    p.add_argument("--warmup-ratio", type=float, default=d["warmup_ratio"])
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"])
    p.add_argument("--max-train-examples", type=int, help="use only the first N training examples")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--bucket", action=argparse.BooleanOptionalAction, default=CLI_BUCKET,
                   help="batch sentences of similar length together (faster: less padding)")
    p.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    common.add_mixed_precision_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _check_args(args, parser):
    for name in ("epochs", "batch_size", "max_length", "min_epoch_examples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_length < 3:
        parser.error("--max-length must be at least 3 ([CLS], one token, [SEP])")
    if args.lr is not None and args.lr <= 0:
        parser.error("--lr must be positive")
    if args.max_train_examples is not None and args.max_train_examples < 1:
        parser.error("--max-train-examples must be at least 1")
    if not 0 <= args.warmup_ratio <= 1:
        parser.error("--warmup-ratio must be between 0 and 1")
    if args.init not in ("minilm", "scratch") and not Path(args.init).is_dir():
        parser.error(f"--init {args.init!r} is neither 'minilm', 'scratch' nor an existing folder")
    if (args.size or args.like) and args.init != "scratch":
        parser.error("--size and --like only apply to --init scratch")


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(args, parser)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731  progress on stderr, JSON on stdout

    # 1. every data problem is found before a model is loaded or a step is trained
    try:
        data = load_classification_data(args.train, args.eval, args.test, args.text_column, args.label_column)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    train = data.train[: args.max_train_examples] if args.max_train_examples else data.train
    if len(set(ex.label for ex in train)) < 2:
        print(f"error: the first {len(train)} training examples (--max-train-examples) hold a single class; "
              "use more examples or shuffle the file", file=sys.stderr)
        return 2

    from bert_edu.train.device import autocast_dtype, describe, get_device

    device = get_device(args.device)
    common.set_seed(args.seed)
    try:
        autocast_dtype(device, args.mixed_precision)  # e.g. bf16 asked on a GPU without it
        model, tokenizer = build_classifier(args.init, data.label_names, args.size, args.like, verbose=False)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    n_params = sum(p.numel() for p in model.parameters())
    recipe = recipe_for(model.config)  # what the command line does not set depends on the model's width
    recipe.update({k: getattr(args, k) for k in recipe if getattr(args, k) is not None})
    log(f"labels {data.label_names}; {len(train)} training / {len(data.eval)} eval examples; "
        f"init {args.init} ({n_params / 1e6:.1f}M parameters); {recipe}; device {describe(device)}")
    pad = tokenizer.pad_token_id
    train_features, repeats = repeat_to(encode(tokenizer, train, args.max_length), args.min_epoch_examples)
    eval_features = encode(tokenizer, data.eval, args.max_length)
    result = train_classifier(model, train_features, eval_features, **recipe, warmup_ratio=args.warmup_ratio,
                              weight_decay=args.weight_decay, seed=args.seed, device=device,
                              pad_token_id=pad, bucket=args.bucket, progress=not args.no_progress, log=log,
                              mixed_precision=args.mixed_precision)
    metrics = {"accuracy": result.best["accuracy"], "loss": result.best["loss"],
               "train_examples": len(train), "repeats": repeats,
               "examples_seen": result.train_examples * recipe["epochs"], **recipe,
               "best_epoch": result.best_epoch, "steps": result.steps,
               "eval_examples": len(eval_features), "seconds": round(result.seconds, 1),
               "labels": data.label_names, "init": args.init, "out": str(args.out)}
    if data.test is not None:
        test = evaluate(model, encode(tokenizer, data.test, args.max_length), device=device, pad_token_id=pad,
                        mixed_precision=args.mixed_precision)
        metrics.update(test_accuracy=test["accuracy"], test_loss=test["loss"], test_examples=len(data.test))
    save_classifier(model.cpu(), tokenizer, args.out)
    log(f"saved to {args.out}")
    print(json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

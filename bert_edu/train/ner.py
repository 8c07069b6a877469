"""Fine-tuning BERT for named-entity recognition (notebook 10), and its command line.

BERT's recipe for CoNLL-2003 (paper, section 5.3): every token's final vector goes through one linear layer
that predicts its BIO tag; a word's tag is predicted at its FIRST WordPiece piece (the others are labelled
-100 and ignored, see :func:`bert_edu.data.conll.align_labels`). The optimiser, warmup-decay schedule,
dynamic padding and batching are those of text classification (:mod:`bert_edu.train.finetune`,
:mod:`bert_edu.train.common`); only the head, the labels and the metric differ. The metric is entity-level
F1 (:mod:`bert_edu.evaluation.entities`): an entity counts only when its span and type are both right.

Command line (CoNLL files: one word a line, the tag in the last column, a blank line between sentences)::

    python -m bert_edu.ner --train train.txt --eval valid.txt --test test.txt --init minilm --out runs/ner
    python -m bert_edu.predict --model runs/ner "Peter Blackburn spoke in Brussels."

It prints progress on stderr, then ONE line of JSON (``f1``, ``precision``, ``recall`` on ``--test`` when
given, else on ``--eval``; ``n_train_sentences``; ...). The model is saved in the Hugging Face layout with
its tag names, so ``transformers.pipeline("token-classification", model="runs/ner")`` works too.
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

from bert_edu.data.classification import DataError
from bert_edu.data.conll import encode_sentences, label_list, read_conll
from bert_edu.evaluation.entities import entity_scores, get_entities
from bert_edu.model.config import SIZES
from bert_edu.train import common
from bert_edu.train.finetune import bucketed_batches, collate, label_maps, load_tokenizer, sorted_batches

# lr 2e-4, measured (benchmarks/bench_ner_qa.py ner-lr, results in benchmarks/results/ner_qa.json): from MiniLM,
# 2,000 CoNLL sentences x 2 epochs, validation entity F1 80.4 / 83.8 / 84.1 at lr 1e-4 / 2e-4 / 4e-4 (seed 0).
# 2e-4 and 4e-4 tie within a seed's noise; the lower one is the safer default for longer, full-data runs.
# A 6-layer, 384-wide model wants a higher rate than BERT-base's usual 5e-5.
DEFAULTS = dict(epochs=3, lr=2e-4, batch_size=16, max_length=128, warmup_ratio=0.1, weight_decay=0.01,
                max_grad_norm=1.0, seed=0)


# --------------------------------------------------------------------------------------------
# batches and predictions


def collate_tags(features: list[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Dynamic padding (:func:`bert_edu.train.finetune.collate`) plus ``labels`` padded with -100."""
    batch = collate([{"input_ids": f["input_ids"]} for f in features], pad_token_id)
    if "labels" in features[0]:
        labels = torch.full_like(batch["input_ids"], -100)
        for i, f in enumerate(features):
            labels[i, : len(f["labels"])] = torch.tensor(f["labels"])
        batch["labels"] = labels
    return batch


def first_pieces(word_ids) -> list[tuple[int, int]]:
    """(position, word) of the first piece of every word: where a word's tag is read."""
    return [(pos, w) for pos, w in enumerate(word_ids) if w is not None and (pos == 0 or word_ids[pos - 1] != w)]


@torch.no_grad()
def predict_tags(model, features, sentence_lengths, batch_size: int = 64, device=None,
                 pad_token_id: int = 0) -> tuple[list[list[str]], float | None]:
    """The tag of every word (read at its first piece) and the mean loss over the labelled pieces
    (None without labels). ``features`` from :func:`~bert_edu.data.conll.encode_sentences`."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    id2label = model.config.id2label
    tags = [["O"] * n for n in sentence_lengths]
    loss_sum, counted = 0.0, 0
    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        batch = common.move_to(collate_tags([features[i] for i in idx], pad_token_id), device)
        with common.autocast(device):
            out = model(**batch)
        if out.loss is not None:
            n = int((batch["labels"] != -100).sum())
            loss_sum, counted = loss_sum + out.loss.item() * n, counted + n
        best = out.logits.argmax(-1).tolist()
        for row, i in zip(best, idx):
            f = features[i]
            for pos, w in first_pieces(f["word_ids"]):
                tags[f["sentence"]][f["first_word"] + w] = id2label[row[pos]]
    model.train(was_training)
    return tags, (loss_sum / counted if counted else None)


def evaluate_tagger(model, sentences, features, batch_size: int = 64, device=None, pad_token_id: int = 0) -> dict:
    """Entity-level scores (``precision``, ``recall``, ``f1``, ``per_type``), ``loss`` and ``predicted_tags`` (one list per sentence)."""
    predicted, loss = predict_tags(model, features, [len(s.words) for s in sentences], batch_size, device,
                                   pad_token_id)
    return {**entity_scores([s.tags for s in sentences], predicted), "loss": loss, "predicted_tags": predicted}


# --------------------------------------------------------------------------------------------
# training


@dataclass
class TaggerResult:
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    best_epoch: int = 0
    best: dict = field(default_factory=dict)  # entity scores on the eval set at the best epoch
    seconds: float = 0.0
    steps: int = 0


def train_tagger(model, train_features, eval_sentences, eval_features, *, epochs: int = DEFAULTS["epochs"],
                 lr: float = DEFAULTS["lr"], batch_size: int = DEFAULTS["batch_size"],
                 warmup_ratio: float = DEFAULTS["warmup_ratio"], weight_decay: float = DEFAULTS["weight_decay"],
                 max_grad_norm: float | None = DEFAULTS["max_grad_norm"], seed: int = DEFAULTS["seed"],
                 device=None, pad_token_id: int = 0, bucket: bool = False, progress: bool = True,
                 mixed_precision: str = "auto", log=print) -> TaggerResult:
    """Fine-tune on ``train_features``; after every epoch compute entity F1 on the eval sentences and keep
    the weights of the best epoch (ties: the earlier)."""
    from tqdm.auto import tqdm

    if not train_features or not eval_features:
        raise ValueError("train_tagger needs at least one training and one evaluation sentence")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rng = random.Random(seed)
    total_steps = math.ceil(len(train_features) / batch_size) * epochs
    optimizer = common.make_optimizer(model, lr, weight_decay)
    scheduler = common.linear_warmup_decay(optimizer, int(warmup_ratio * total_steps), total_steps)
    scaler = common.make_grad_scaler(device, mixed_precision)
    result, best_state, start = TaggerResult(), None, time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        if bucket:
            batches = bucketed_batches([len(f["input_ids"]) for f in train_features], batch_size, rng)
        else:
            order = list(range(len(train_features)))
            rng.shuffle(order)
            batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        loss_sum = 0.0
        for n, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}/{epochs}", leave=False, disable=not progress)):
            batch = common.move_to(collate_tags([train_features[i] for i in idx], pad_token_id), device)
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
        scores = evaluate_tagger(model, eval_sentences, eval_features, device=device, pad_token_id=pad_token_id)
        row = {"epoch": epoch, "train_loss": loss_sum / len(batches), "eval_loss": scores["loss"],
               "eval_f1": scores["f1"], "seconds": time.perf_counter() - start}
        improved = best_state is None or scores["f1"] > result.best["f1"]
        if improved:  # a CPU copy: the best weights survive later, worse epochs
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            result.best_epoch = epoch
            result.best = {k: v for k, v in scores.items() if k != "predicted_tags"}
        result.history.append(row)
        if log:
            log(f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.4f}, eval loss {row['eval_loss']:.4f}, "
                f"eval entity F1 {100 * row['eval_f1']:.2f}%{'  (best so far)' if improved else ''}")
    common.skip_input_checks(model, skip=False)
    if result.best_epoch != epochs:
        model.load_state_dict(best_state)
        if log:
            log(f"restored the weights of epoch {result.best_epoch} (best eval entity F1)")
    result.seconds = time.perf_counter() - start
    return result


def most_frequent_tag_baseline(train_sentences, sentences) -> list[list[str]]:
    """Each word gets the tag it had most often in training (``O`` for an unseen word): the baseline of
    the CoNLL-2003 shared task, which tagged only entities seen in training."""
    from collections import Counter, defaultdict

    counts = defaultdict(Counter)
    for s in train_sentences:
        for word, tag in zip(s.words, s.tags):
            counts[word][tag] += 1
    # an I-X after O is read as the start of an entity, as conlleval reads it
    return [[counts[w].most_common(1)[0][0] if w in counts else "O" for w in s.words] for s in sentences]


# --------------------------------------------------------------------------------------------
# models: where the weights start, where they are saved


def build_tagger(init: str, label_names, size: str | None = None, like=None, verbose: bool = True):
    """``BertForTokenClassification`` and its tokenizer. ``init``: 'minilm', 'scratch' (the architecture,
    or a ``size``, and the vocabulary of ``like``, default MiniLM, with random weights) or a model folder."""
    from bert_edu.data.assets import minilm_path
    from bert_edu.model.config import BertConfig
    from bert_edu.model.heads import BertForTokenClassification

    if init == "minilm":
        folder = minilm_path()
    else:
        folder = Path(like) if init == "scratch" and like else minilm_path() if init == "scratch" else Path(init)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a model folder (no config.json). Pass 'minilm', 'scratch' "
                                "or the folder a checkpoint was saved to (e.g. by python -m bert_edu.pretrain)")
    if init != "scratch":
        model = BertForTokenClassification.from_pretrained(folder, verbose=verbose, **label_maps(label_names))
        return model, load_tokenizer(folder)
    if size is not None and size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or leave it out")
    config = BertConfig.from_pretrained(folder, **label_maps(label_names))
    for key, value in SIZES.get(size, {}).items():
        setattr(config, key, value)
    return BertForTokenClassification(config), load_tokenizer(folder)


def save_model(model, tokenizer, out) -> Path:
    """HF layout (config.json with the tag names, model.safetensors) + tokenizer files, written to a
    temporary folder and renamed into place (:func:`bert_edu.train.common.atomic_folder`)."""
    with common.atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out)


# --------------------------------------------------------------------------------------------
# text -> entities


@torch.no_grad()
def predict_entities(model, tokenizer, texts, max_length: int = 512) -> list[list[dict]]:
    """The entities in each raw text: ``{"entity_group", "score", "word", "start", "end"}`` like
    ``transformers.pipeline("token-classification", aggregation_strategy="simple")``.

    Every piece gets its own tag (the most probable); consecutive pieces form an entity as conlleval reads
    tags (:func:`~bert_edu.evaluation.entities.get_entities`); ``score`` is the mean probability of the
    entity's tags; ``start``/``end`` are character offsets in the text, ``word`` the text between them.
    """
    model.eval()
    id2label = model.config.id2label
    results = []
    for text in texts:
        enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
        ids = torch.tensor([enc["input_ids"]], device=model.device)
        probs = model(ids, attention_mask=torch.ones_like(ids)).logits[0].float().softmax(-1)[1:-1]
        score, best = probs.max(-1)
        offsets = enc["offset_mapping"][1:-1]  # without [CLS] and [SEP]
        entities = []
        for kind, a, b in get_entities([id2label[int(i)] for i in best]):
            start, end = offsets[a][0], offsets[b - 1][1]
            entities.append({"entity_group": kind, "score": score[a:b].mean().item(), "word": text[start:end],
                             "start": start, "end": end})
        results.append(entities)
    return results


def load_tagger(folder, device=None):
    """The model (in eval mode) and tokenizer saved in ``folder`` by ``python -m bert_edu.ner``."""
    from bert_edu.model.heads import BertForTokenClassification

    model = BertForTokenClassification.from_pretrained(folder, verbose=False)
    return model.to(device or "cpu").eval(), load_tokenizer(folder)


# --------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    d = DEFAULTS
    p = argparse.ArgumentParser(prog="python -m bert_edu.ner",
                                description="Fine-tune BERT for named-entity recognition on CoNLL files.",
                                formatter_class=common.HelpFormatter)
    p.add_argument("--train", required=True, help="CoNLL file: one word a line, its BIO tag in the last column")
    p.add_argument("--eval", required=True, help="evaluated after each epoch; the best epoch is kept")
    p.add_argument("--test", help="optional: evaluated once at the end with the kept weights")
    p.add_argument("--init", default="minilm", help="'minilm', 'scratch' or a checkpoint folder")
    p.add_argument("--size", choices=sorted(SIZES), help="with --init scratch: a named architecture "
                   "(default: that of --like)")
    p.add_argument("--like", help="with --init scratch: architecture and tokenizer of this folder (default: MiniLM)")
    p.add_argument("--out", required=True, help="folder to save the model, tokenizer and tag names to")
    p.add_argument("--epochs", type=int, default=d["epochs"])
    p.add_argument("--lr", type=float, default=d["lr"], help="peak learning rate")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--max-length", type=int, default=d["max_length"],
                   help="pieces per input; a longer sentence is cut into parts at word boundaries")
    p.add_argument("--warmup-ratio", type=float, default=d["warmup_ratio"])
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"])
    p.add_argument("--max-train-sentences", type=int, help="use only the first N training sentences")
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--bucket", action=argparse.BooleanOptionalAction, default=False,
                   help="batch sentences of similar length together (faster: less padding)")
    p.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    common.add_mixed_precision_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _check_args(args, parser):
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_length < 3:
        parser.error("--max-length must be at least 3 ([CLS], one piece, [SEP])")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    if args.max_train_sentences is not None and args.max_train_sentences < 1:
        parser.error("--max-train-sentences must be at least 1")
    if not 0 <= args.warmup_ratio <= 1:
        parser.error("--warmup-ratio must be between 0 and 1")
    if args.init not in ("minilm", "scratch") and not Path(args.init).is_dir():
        parser.error(f"--init {args.init!r} is neither 'minilm', 'scratch' nor an existing folder")
    if (args.size or args.like) and args.init != "scratch":
        parser.error("--size and --like only apply to --init scratch")


def _read_all(args) -> dict:
    """Every file read and checked before a model is loaded; DataError names the file, line and fix."""
    data = {"train": read_conll(args.train), "eval": read_conll(args.eval),
            "test": read_conll(args.test) if args.test else None}
    data["train"] = data["train"][: args.max_train_sentences or None]
    data["labels"] = label_list(data["train"])
    if len(data["labels"]) == 1:
        raise DataError(f"{args.train}: the training sentences hold no entity (every tag is O); nothing to learn")
    for split in ("eval", "test"):
        unseen = sorted(set(label_list(data[split] or [])) - set(data["labels"]))
        if unseen:
            raise DataError(f"{getattr(args, split)} has entity types the training data never shows: "
                            f"{', '.join(t[2:] for t in unseen if t.startswith('B-'))}; train on data with them")
    return data


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(args, parser)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731  progress on stderr, JSON on stdout
    try:
        data = _read_all(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    from bert_edu.train.device import describe, get_device

    device = get_device(args.device)
    common.set_seed(args.seed)
    try:
        model, tokenizer = build_tagger(args.init, data["labels"], args.size, args.like, verbose=False)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    log(f"tags {data['labels']}; {len(data['train'])} training / {len(data['eval'])} eval sentences; init "
        f"{args.init} ({model.num_parameters() / 1e6:.1f}M parameters); device {describe(device)}")
    label2id, pad = model.config.label2id, tokenizer.pad_token_id
    encode = lambda sents: encode_sentences(tokenizer, sents, label2id, args.max_length)  # noqa: E731
    eval_features = encode(data["eval"])
    result = train_tagger(model, encode(data["train"]), data["eval"], eval_features, epochs=args.epochs,
                          lr=args.lr, batch_size=args.batch_size, warmup_ratio=args.warmup_ratio,
                          weight_decay=args.weight_decay, seed=args.seed, device=device, pad_token_id=pad,
                          bucket=args.bucket, progress=not args.no_progress,
                          mixed_precision=args.mixed_precision, log=log)
    final, split = result.best, "eval"
    if data["test"] is not None:
        final = evaluate_tagger(model, data["test"], encode(data["test"]), device=device, pad_token_id=pad)
        split = "test"
    save_model(model.cpu(), tokenizer, args.out)
    log(f"saved to {args.out}")
    metrics = {"f1": final["f1"], "precision": final["precision"], "recall": final["recall"], "split": split,
               "per_type": {k: round(v["f1"], 4) for k, v in final["per_type"].items()},
               "eval_f1": result.best["f1"], "n_train_sentences": len(data["train"]),
               "n_eval_sentences": len(data["eval"]), "n_test_sentences": len(data["test"] or []),
               "epochs": args.epochs, "best_epoch": result.best_epoch, "steps": result.steps,
               "lr": args.lr, "seconds": round(result.seconds, 1), "init": args.init, "out": str(args.out)}
    print(json.dumps(metrics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

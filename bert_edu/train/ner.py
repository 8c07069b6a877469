"""Fine-tuning BERT for named-entity recognition (notebook 10), and its command line.

BERT's recipe for CoNLL-2003 (paper, section 5.3): every token's final vector goes through one linear layer
that predicts its BIO tag; a word's tag is predicted at its FIRST WordPiece piece (the others are labelled
-100 and ignored, see :func:`bert_edu.data.conll.align_labels`). The optimiser, warmup-decay schedule,
dynamic padding, batching and the loop itself are those of text classification (:func:`bert_edu.train.loop.fit`,
:mod:`bert_edu.data.batching`); only the head, the labels and the metric differ. The metric is entity-level
F1 (:mod:`bert_edu.evaluation.entities`): an entity counts only when its span and type are both right.

Command line (CoNLL files: one word a line, the tag in the last column, a blank line between sentences)::

    bert-edu ner --train train.txt --eval valid.txt --test test.txt --init minilm --out runs/ner
    bert-edu predict --model runs/ner "Peter Blackburn spoke in Brussels."

It prints progress on stderr, then ONE line of JSON (``metric``: ``f1``, its ``value`` and ``split``;
``f1``, ``precision``, ``recall`` on ``--test`` when given, else on ``--eval``; ``n_train_sentences``; ...).
The model is saved in the Hugging Face layout with its tag names, so ``transformers.pipeline("token-classification", model="runs/ner")`` works too.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import torch

from bert_edu.data.batching import collate, sorted_batches
from bert_edu.data.classification import DataError
from bert_edu.data.conll import encode_sentences, label_list, read_conll
from bert_edu.evaluation.baselines import most_frequent_tag_baseline  # noqa: F401  (its old home)
from bert_edu.evaluation.entities import entity_scores, get_entities
from bert_edu.model.heads import BertForTokenClassification
from bert_edu.train import cli, common
from bert_edu.train.common import label_maps, load_tokenizer  # noqa: F401  (label_maps: notebook 10 uses ner.label_maps)
from bert_edu.train.loop import FitResult, fit

# lr 2e-4, measured (benchmarks/bench_ner_qa.py ner-lr, results in benchmarks/results/ner_qa.json): from MiniLM,
# 2,000 CoNLL sentences x 2 epochs, validation entity F1 over seeds 0-2: 83.4 ± 0.8 / 83.0 ± 3.4 / 77.6 ± 1.9 at
# lr 2e-4 / 4e-4 / 8e-4 (1e-4: 80.4, seed 0). 2e-4 has the best mean; 4e-4 is within the noise of it, 8e-4 below.
# A 6-layer, 384-wide model wants a higher rate than BERT-base's usual 5e-5.
DEFAULTS = dict(epochs=3, lr=2e-4, batch_size=16, max_length=128, warmup_ratio=0.1, weight_decay=0.01,
                max_grad_norm=1.0, seed=0)


# --------------------------------------------------------------------------------------------
# batches and predictions


def collate_tags(features: list[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Dynamic padding (:func:`bert_edu.data.batching.collate`) plus ``labels`` padded with -100."""
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
                 pad_token_id: int = 0, mixed_precision: str = "auto") -> tuple[list[list[str]], float | None]:
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
        with common.autocast(device, mixed_precision):
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


def evaluate_tagger(model, sentences, features, batch_size: int = 64, device=None, pad_token_id: int = 0,
                    mixed_precision: str = "auto") -> dict:
    """Entity-level scores (``precision``, ``recall``, ``f1``, ``per_type``), ``loss`` and ``predicted_tags`` (one list per sentence)."""
    predicted, loss = predict_tags(model, features, [len(s.words) for s in sentences], batch_size, device,
                                   pad_token_id, mixed_precision)
    return {**entity_scores([s.tags for s in sentences], predicted), "loss": loss, "predicted_tags": predicted}


# --------------------------------------------------------------------------------------------
# training


TaggerResult = FitResult  # its old name


def train_tagger(model, train_features, eval_sentences, eval_features, *, epochs: int = DEFAULTS["epochs"],
                 lr: float = DEFAULTS["lr"], batch_size: int = DEFAULTS["batch_size"],
                 warmup_ratio: float = DEFAULTS["warmup_ratio"], weight_decay: float = DEFAULTS["weight_decay"],
                 max_grad_norm: float | None = DEFAULTS["max_grad_norm"], seed: int = DEFAULTS["seed"],
                 device=None, pad_token_id: int = 0, bucket: bool = False, progress: bool = True,
                 mixed_precision: str = "auto", log=print) -> FitResult:
    """Fine-tune on ``train_features``; after every epoch compute entity F1 on the eval sentences and keep
    the weights of the best epoch (ties: the earlier)."""
    if not train_features or not eval_features:
        raise ValueError("train_tagger needs at least one training and one evaluation sentence")

    def score(model, device, mixed_precision):
        return evaluate_tagger(model, eval_sentences, eval_features, device=device, pad_token_id=pad_token_id,
                               mixed_precision=mixed_precision)

    return fit(model, train_features, lambda fs: collate_tags(fs, pad_token_id), evaluate=score, metric="f1",
               metric_label="entity F1", epochs=epochs, lr=lr, batch_size=batch_size, warmup_ratio=warmup_ratio,
               weight_decay=weight_decay, max_grad_norm=max_grad_norm, seed=seed, device=device, bucket=bucket, progress=progress,
               mixed_precision=mixed_precision, log=log)


# --------------------------------------------------------------------------------------------
# models: where the weights start, where they are saved


def build_tagger(init: str, label_names, size: str | None = None, like=None, verbose: bool = True):
    """``BertForTokenClassification`` and its tokenizer. ``init``: 'minilm', 'scratch' (the architecture,
    or a ``size``, and the vocabulary of ``like``, default MiniLM, with random weights) or a model folder."""
    return common.build_model(BertForTokenClassification, init, label_names, size, like, verbose)


save_model = common.save_folder  # HF layout (config.json with the tag names) + tokenizer files, atomically


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
    """The model (in eval mode) and tokenizer saved in ``folder`` by ``bert-edu ner``."""
    model = BertForTokenClassification.from_pretrained(folder, verbose=False)
    return model.to(device or "cpu").eval(), load_tokenizer(folder)


# --------------------------------------------------------------------------------------------
# command line


@dataclasses.dataclass
class NERConfig(cli.FinetuneConfig):
    """``bert-edu ner``'s options (the shared ones in :class:`bert_edu.train.cli.FinetuneConfig`)."""

    train: str | None = cli.option(None, "CoNLL file: one word a line, its BIO tag in the last column",
                                   required=True)
    out: str | None = cli.option(None, "folder to save the model, tokenizer and tag names to", required=True)
    epochs: int = cli.option(DEFAULTS["epochs"], "passes over the training data (3: the full-data runs of "
                             "benchmarks/results/ner_qa.json)")
    lr: float = cli.option(DEFAULTS["lr"], "peak learning rate (measured: benchmarks/bench_ner_qa.py ner-lr, "
                           "3 seeds: best mean at 2e-4, 4e-4 within the noise, 8e-4 worse)")
    max_train_examples: int | None = cli.option(None, "use only the first N training sentences",
                                                aliases=["--max-train-sentences"])
    max_length: int = cli.option(DEFAULTS["max_length"], "pieces per input (128, as the BERT paper's "
                                 "fine-tuning); a longer sentence is cut into parts at word boundaries, not truncated")


def build_parser():
    return cli.make_parser("ner", "Fine-tune BERT for named-entity recognition on CoNLL files.", NERConfig)


def _check_args(args, parser):
    cli.check_finetune_args(args, parser, 3, "[CLS], one piece, [SEP]")


def _read_all(args) -> dict:
    """Every file read and checked before a model is loaded; DataError names the file, line and fix."""
    data = {"train": read_conll(args.train), "eval": read_conll(args.eval),
            "test": read_conll(args.test) if args.test else None}
    data["train"] = data["train"][: args.max_train_examples or None]
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

    from bert_edu.train.device import autocast_dtype, describe, get_device

    device = get_device(args.device)
    common.set_seed(args.seed)
    try:
        autocast_dtype(device, args.mixed_precision)  # e.g. bf16 asked on a GPU without it
        model, tokenizer = build_tagger(args.init, data["labels"], args.size, args.like, verbose=False)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    log(f"tags {data['labels']}; {len(data['train'])} training / {len(data['eval'])} eval sentences; init "
        f"{args.init} ({model.num_parameters() / 1e6:.1f}M parameters); device {describe(device)}")
    label2id, pad = model.config.label2id, tokenizer.pad_token_id
    encode = lambda sents: encode_sentences(tokenizer, sents, label2id, args.max_length)  # noqa: E731
    eval_features = encode(data["eval"])
    result = train_tagger(model, encode(data["train"]), data["eval"], eval_features, epochs=args.epochs,
                          lr=args.lr, batch_size=args.batch_size, warmup_ratio=args.warmup_ratio,
                          weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm, seed=args.seed,
                          device=device, pad_token_id=pad, bucket=args.bucket, progress=args.progress,
                          mixed_precision=args.mixed_precision, log=log)
    final, split = result.best, "eval"
    if data["test"] is not None:
        final = evaluate_tagger(model, data["test"], encode(data["test"]), device=device, pad_token_id=pad,
                                mixed_precision=args.mixed_precision)
        split = "test"
    save_model(model.cpu(), tokenizer, args.out)
    log(f"saved to {args.out}")
    task = {"f1": final["f1"], "precision": final["precision"], "recall": final["recall"],
            "per_type": {k: round(v["f1"], 4) for k, v in final["per_type"].items()},
            "eval_f1": result.best["f1"], "n_train_sentences": len(data["train"]),
            "n_eval_sentences": len(data["eval"]), "n_test_sentences": len(data["test"] or []),
            "epochs": args.epochs, "best_epoch": result.best_epoch, "steps": result.steps,
            "lr": args.lr, "init": args.init}
    print(json.dumps(cli.result_line("f1", final["f1"], split, result.seconds, args.out, **task)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

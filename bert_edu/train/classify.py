"""Fine-tuning BERT for text classification (sentiment in notebook 08), and its command line
(``bert-edu finetune``; the old import path ``bert_edu.train.finetune`` is this module).

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

The loop itself is :func:`bert_edu.train.loop.fit`, shared with NER, QA and distillation; this module brings
the classification head, its batches and its metric (accuracy).

Command line (your own TSV/CSV files with a header; columns ``text`` and ``label`` by default)::

    bert-edu finetune --train train.csv --eval dev.csv --init minilm --out runs/sentiment
    bert-edu predict --model runs/sentiment "A gorgeous, witty film."

``--init`` is ``minilm`` (the real all-MiniLM-L6-v2 weights), ``scratch`` (the same architecture and
vocabulary, random weights) or a folder with a checkpoint of yours (e.g. from ``bert-edu pretrain``).
The command prints progress, then ONE line of JSON with the metrics, and saves the model in the
Hugging Face layout with its tokenizer and label names, so this works too::

    transformers.pipeline("text-classification", model="runs/sentiment")("A gorgeous, witty film.")
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import torch
import torch.nn.functional as F

from bert_edu.data.batching import bucketed_batches, collate, sorted_batches  # noqa: F401  (their old home)
from bert_edu.data.classification import DataError, load_classification_data
from bert_edu.evaluation.baselines import majority_baseline  # noqa: F401  (its old home)
from bert_edu.model.heads import BertForSequenceClassification
from bert_edu.train import cli, common
from bert_edu.train.common import label_maps, load_tokenizer  # noqa: F401  (their old home)
from bert_edu.train.loop import FitResult, fit

# Defaults for a pretrained start (MiniLM): lr 1e-4 is high for BERT-base (the paper's Appendix A.3 searched 2e-5
# to 5e-5) but suits a 6-layer, 384-wide model; warmup keeps the first Adam steps from wrecking the pretrained
# weights. MiniLM's sweep (benchmarks/results/learning_curve.json, 2.5e-5 to 2e-4, 3 seeds) chose 1e-4 at 1,000
# labels, its largest count, and 5e-5 at 100 and 300: the best rate grows with the labels, and the default serves
# full training sets (every full-data result in the README used it). tests/test_learning_curve_selection.py
# checks both against the JSON.
DEFAULTS = dict(epochs=3, lr=1e-4, batch_size=16, max_length=128, warmup_ratio=0.1, weight_decay=0.01,
                max_grad_norm=1.0, seed=0)
MINILM_FEW_LABELS_LR = 5e-5  # MiniLM's choice with 100 and 300 labels (the --lr help says so)

# Length bucketing is off by default on the command line: robustness matters more there than speed (what it
# does to accuracy is not measured in a committed result).
CLI_BUCKET = False

# Small models (hidden_size <= 256: the tiny and mini sizes the course pretrains) want a larger learning rate and
# more steps than MiniLM, and the rate depends on where the weights start. Chosen on validation for each starting
# point at every label count, 3 seeds per rate, at the budget really used (benchmarks/results/learning_curve.json,
# lr_selection; notebook 08 plots it): from the course's pretrained checkpoint 2e-3 wins up to 1,000 labels and
# 1e-3 above; from random weights 5e-4 to 1e-3 up to 1,000 labels, 2.5e-4 to 1e-3 above (ties). One default per
# start: the rate with the best validation accuracy averaged over the five label counts (1e-3 from a checkpoint,
# 0.1 point above 2e-3; 5e-4 from random weights). tests/test_learning_curve_selection.py recomputes both.
SMALL_MODEL_RECIPE = dict(epochs=5, lr=5e-4, batch_size=32)  # from random weights (--init scratch)
SMALL_PRETRAINED_LR = 1e-3  # the same recipe from a pretrained small checkpoint (--init FOLDER)
MIN_EPOCH_EXAMPLES = 1000  # a smaller training set is repeated within each epoch up to this many sentences


def recipe_for(config, pretrained: bool = False) -> dict:
    """``epochs``, ``lr`` and ``batch_size`` for a model: SMALL_MODEL_RECIPE up to 256 wide (with
    SMALL_PRETRAINED_LR when its weights come from a pretrained checkpoint), else DEFAULTS."""
    if config.hidden_size <= 256:
        return dict(SMALL_MODEL_RECIPE, lr=SMALL_PRETRAINED_LR) if pretrained else dict(SMALL_MODEL_RECIPE)
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


# --------------------------------------------------------------------------------------------
# training


FinetuneResult = FitResult  # its old name


def train_classifier(model, train_features: list[dict], eval_features: list[dict], *,
                     epochs: int = DEFAULTS["epochs"], lr: float = DEFAULTS["lr"],
                     batch_size: int = DEFAULTS["batch_size"], warmup_ratio: float = DEFAULTS["warmup_ratio"],
                     weight_decay: float = DEFAULTS["weight_decay"],
                     max_grad_norm: float | None = DEFAULTS["max_grad_norm"], seed: int = DEFAULTS["seed"],
                     device=None, pad_token_id: int = 0, eval_batch_size: int = 64, bucket: bool = True,
                     progress: bool = True, log=print, mixed_precision: str = "auto") -> FitResult:
    """Fine-tune ``model`` on ``train_features``; evaluate on ``eval_features`` after every epoch and
    leave the model with the weights of the epoch with the best accuracy there (ties: the earlier)."""
    if not train_features or not eval_features:
        raise ValueError("train_classifier needs at least one training and one evaluation example")

    def score(model, device, mixed_precision):
        return evaluate(model, eval_features, eval_batch_size, device, pad_token_id, mixed_precision=mixed_precision)

    return fit(model, train_features, lambda fs: collate(fs, pad_token_id), evaluate=score, metric="accuracy",
               epochs=epochs, lr=lr, batch_size=batch_size, warmup_ratio=warmup_ratio, weight_decay=weight_decay,
               max_grad_norm=max_grad_norm, seed=seed, device=device, bucket=bucket, progress=progress,
               mixed_precision=mixed_precision, log=log)


# --------------------------------------------------------------------------------------------
# models: where the weights start


def pretrained_classifier(folder, label_names, verbose: bool = True):
    """Weights of the encoder from ``folder`` (any BERT checkpoint: bare, pretraining heads, ...) and a
    freshly initialised classifier with one output per label; the folder's tokenizer."""
    return common.build_model(BertForSequenceClassification, str(folder), label_names, verbose=verbose)


def scratch_classifier(like, label_names, size: str | None = None):
    """The architecture (or a ``size`` from SIZES) and tokenizer of the model in folder ``like``, with
    random weights: the same network, minus everything pretraining taught it."""
    return common.build_model(BertForSequenceClassification, "scratch", label_names, size, like)


def build_classifier(init: str, label_names, size: str | None = None, like=None, verbose: bool = True):
    """``init``: 'minilm', 'scratch' (architecture + vocab of ``like``, default MiniLM) or a folder."""
    return common.build_model(BertForSequenceClassification, init, label_names, size, like, verbose)


save_classifier = common.save_folder  # HF layout + tokenizer files, written atomically


# --------------------------------------------------------------------------------------------
# command line


@dataclasses.dataclass
class ClassifyConfig(cli.FinetuneConfig):
    """``bert-edu finetune``'s options (the shared ones in :class:`bert_edu.train.cli.FinetuneConfig`)."""

    train: str | None = cli.option(None, "training file: TSV/CSV with a header row", required=True)
    out: str | None = cli.option(None, "folder to save the model, tokenizer and label names to", required=True)
    text_column: str = cli.option("text", "the column that holds the text")
    label_column: str = cli.option("label", "the column that holds the label")
    epochs: int | None = cli.option(None, "default: by the model's width (the recipe of the benchmarks/results/"
                                    f"learning_curve.json runs): {SMALL_MODEL_RECIPE['epochs']} up to 256 wide, "
                                    f"else {DEFAULTS['epochs']}")
    lr: float | None = cli.option(None, "peak learning rate; default: by the model's width and start (chosen on "
                                  "validation: benchmarks/results/learning_curve.json): up to 256 wide "
                                  f"{SMALL_MODEL_RECIPE['lr']:g} from random weights, {SMALL_PRETRAINED_LR:g} from a "
                                  f"checkpoint; else {DEFAULTS['lr']:g} (MiniLM's choice at 1,000 labels; with a few "
                                  f"hundred, {MINILM_FEW_LABELS_LR:g} did better)")
    batch_size: int | None = cli.option(None, "default: by the model's width: "
                                        f"{SMALL_MODEL_RECIPE['batch_size']} up to 256 wide, else "
                                        f"{DEFAULTS['batch_size']}")
    min_epoch_examples: int = cli.option(MIN_EPOCH_EXAMPLES, "a smaller training set is repeated within each "
                                         "epoch up to this many sentences")
    max_length: int = cli.option(DEFAULTS["max_length"], "tokens per text, longer texts are truncated (128: above "
                                 "the longest Rotten Tomatoes sentence, 78 tokens in notebook 08)")
    bucket: bool = cli.option(CLI_BUCKET, "batch sentences of similar length together (faster: less padding; "
                              "off by default here, where robustness matters more than speed; its effect on "
                              "accuracy is not measured in a committed result)")


def build_parser():
    return cli.make_parser("finetune", "Fine-tune BERT for text classification on your TSV/CSV files.",
                           ClassifyConfig)


def _check_args(args, parser):
    cli.check_finetune_args(args, parser)
    if args.min_epoch_examples < 1:
        parser.error("--min-epoch-examples must be at least 1")


def _load(args):
    """The data and the model, every problem found before a step is trained: ``(data, train, model,
    tokenizer)``, or an error message."""
    try:
        data = load_classification_data(args.train, args.eval, args.test, args.text_column, args.label_column)
    except DataError as err:
        return f"error: {err}"
    train = data.train[: args.max_train_examples] if args.max_train_examples else data.train
    if len(set(ex.label for ex in train)) < 2:
        return (f"error: the first {len(train)} training examples (--max-train-examples) hold a single class; "
                "use more examples or shuffle the file")
    from bert_edu.train.device import autocast_dtype, get_device

    common.set_seed(args.seed)
    try:
        autocast_dtype(get_device(args.device), args.mixed_precision)  # e.g. bf16 on a GPU without it
        model, tokenizer = build_classifier(args.init, data.label_names, args.size, args.like, verbose=False)
    except (OSError, ValueError) as err:
        return f"error: {err}"
    return data, train, model, tokenizer


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(args, parser)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731  progress on stderr, JSON on stdout
    loaded = _load(args)
    if isinstance(loaded, str):
        print(loaded, file=sys.stderr)
        return 2
    data, train, model, tokenizer = loaded
    from bert_edu.train.device import describe, get_device

    device = get_device(args.device)
    n_params = sum(p.numel() for p in model.parameters())
    # what the command line does not set depends on the model's width and on where its weights start
    recipe = recipe_for(model.config, pretrained=args.init != "scratch")
    recipe.update({k: getattr(args, k) for k in recipe if getattr(args, k) is not None})
    log(f"labels {data.label_names}; {len(train)} training / {len(data.eval)} eval examples; "
        f"init {args.init} ({n_params / 1e6:.1f}M parameters); {recipe}; device {describe(device)}")
    pad = tokenizer.pad_token_id
    train_features, repeats = repeat_to(encode(tokenizer, train, args.max_length), args.min_epoch_examples)
    eval_features = encode(tokenizer, data.eval, args.max_length)
    result = train_classifier(model, train_features, eval_features, **recipe, warmup_ratio=args.warmup_ratio,
                              weight_decay=args.weight_decay, max_grad_norm=args.max_grad_norm, seed=args.seed,
                              device=device, pad_token_id=pad, bucket=args.bucket, progress=args.progress,
                              log=log, mixed_precision=args.mixed_precision)
    task = {"accuracy": result.best["accuracy"], "loss": result.best["loss"],
            "train_examples": len(train), "repeats": repeats,
            "examples_seen": result.train_examples * recipe["epochs"], **recipe,
            "best_epoch": result.best_epoch, "steps": result.steps,
            "eval_examples": len(eval_features), "labels": data.label_names, "init": args.init}
    value, split = task["accuracy"], "eval"
    if data.test is not None:
        test = evaluate(model, encode(tokenizer, data.test, args.max_length), device=device, pad_token_id=pad,
                        mixed_precision=args.mixed_precision)
        task.update(test_accuracy=test["accuracy"], test_loss=test["loss"], test_examples=len(data.test))
        value, split = test["accuracy"], "test"
    save_classifier(model.cpu(), tokenizer, args.out)
    log(f"saved to {args.out}")
    print(json.dumps(cli.result_line("accuracy", value, split, result.seconds, args.out, **task)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

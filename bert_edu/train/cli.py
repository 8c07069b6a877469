"""One command-line surface for the training commands of notebooks 07, 08, 10 and 11
(``bert-edu pretrain | finetune | ner | qa | predict``).

The flags are generated from the commands' config dataclasses: a field ``max_length: int = 128`` with
``metadata={"help": ...}`` becomes ``--max-length`` (the help shows the default). So one concept has one
field name, one flag and one meaning in every command, and a new field is a new flag with nothing else to
write. Metadata keys: ``help``; ``flag`` (another flag name than the field's, e.g. ``--max-length`` for
pretraining's ``seq_len``); ``aliases`` (older flag names that keep working, e.g. ``--seq-len``);
``choices``; ``required``; ``cli=False`` (no flag). A ``bool`` field is ``--name/--no-name``; the field
``progress`` is ``--no-progress``.

Every command prints ONE line of JSON with the same keys first (:func:`result_line`): ``metric`` (what
``value`` measures), ``value``, ``split`` (``eval`` or ``test``: where ``value`` was measured), ``seconds``
and ``out``, then the task's own keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path

from bert_edu.train.common import HelpFormatter

# The concepts the training commands share, and the one default of those that do not depend on the task.
SHARED_DEFAULTS = dict(seed=0, device=None, mixed_precision="auto", warmup_ratio=0.1, weight_decay=0.01,
                       max_grad_norm=1.0, progress=True)


def option(default=dataclasses.MISSING, help: str = "", **meta):  # noqa: A002  (argparse's word)
    """A config field with its command-line help: ``lr: float = option(1e-4, "peak learning rate")``."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"help": help, **meta})
    return dataclasses.field(default=default, metadata={"help": help, **meta})


def prog_name(command: str) -> str:
    """The command as the user typed it: ``bert-edu finetune``, ``python -m bert_edu finetune`` or
    ``python -m bert_edu.finetune`` (read from ``sys.argv[0]``; ``bert-edu <command>`` otherwise)."""
    first = Path(sys.argv[0] if sys.argv else "")
    parts = first.with_suffix("").parts
    if first.suffix == ".py" and "bert_edu" in parts:
        module = ".".join(parts[len(parts) - 1 - parts[::-1].index("bert_edu"):])
        if module == "bert_edu.__main__":
            return f"python -m bert_edu {command}"
        return f"python -m {module.removesuffix('.__main__')}"
    return f"bert-edu {command}"


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _base_type(f: dataclasses.Field, hints: dict):
    kind = hints[f.name]
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def add_config_arguments(parser: argparse.ArgumentParser, config_cls, skip=()) -> None:
    """One flag per field of the dataclass ``config_cls`` (see the module's docstring)."""
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        if f.name in skip or f.metadata.get("cli", True) is False:
            continue
        meta, kind = f.metadata, _base_type(f, hints)
        default = None if f.default is dataclasses.MISSING else f.default
        kwargs = {"dest": f.name, "help": meta.get("help") or None}
        if f.name == "progress":
            parser.add_argument("--no-progress", dest="progress", action="store_false", help=kwargs["help"])
            continue
        if kind is bool:
            kwargs.update(action=argparse.BooleanOptionalAction, default=default)
        else:
            kwargs.update(type=kind, default=default, metavar=_flag(f)[2:].upper().replace("-", "_"))
            for key in ("choices", "required", "metavar"):
                if key in meta:
                    kwargs[key] = meta[key]
        parser.add_argument(_flag(f), *meta.get("aliases", ()), **kwargs)


def flags_of(config_cls) -> dict:
    """field name -> flag, for the fields that have one (tests compare these across the commands)."""
    return {f.name: ("--no-progress" if f.name == "progress" else _flag(f))
            for f in dataclasses.fields(config_cls) if f.metadata.get("cli", True) is not False}


def make_parser(command: str, description: str, config_cls=None, skip=()) -> argparse.ArgumentParser:
    """The parser of ``command``: ``prog`` as typed, the one help formatter, the config's flags."""
    parser = argparse.ArgumentParser(prog=prog_name(command), description=description,
                                     formatter_class=HelpFormatter)
    if config_cls is not None:
        add_config_arguments(parser, config_cls, skip)
    return parser


def config_from_args(config_cls, args: argparse.Namespace):
    """The config dataclass filled from parsed arguments (fields without a flag keep their defaults)."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in vars(args).items() if k in names})


def result_line(metric: str, value, split: str, seconds: float, out, **task_keys) -> dict:
    """The one JSON schema of the commands: ``metric``, ``value``, ``split``, ``seconds``, ``out`` first,
    then the task's own keys (kept from earlier versions, e.g. ``accuracy``, ``test_accuracy``, ``f1``)."""
    return {"metric": metric, "value": value, "split": split, "seconds": round(seconds, 1),
            "out": None if out is None else str(out), **task_keys}


# ------------------------------------------------------------------------------------------------
# the fine-tuning commands' shared options (finetune, ner, qa); each task's config subclasses this one


def _sizes() -> list[str]:
    from bert_edu.model.config import SIZES

    return sorted(SIZES)


@dataclasses.dataclass
class FinetuneConfig:
    """What every fine-tuning command takes. The task defaults (``epochs``, ``lr``, ``batch_size``,
    ``max_length``, ``bucket``) are set, with where each comes from, by the task's subclass."""

    train: str | None = option(None, "the training file", required=True)
    eval: str | None = option(None, "evaluated after each epoch; the best epoch is kept", required=True)
    test: str | None = option(None, "optional: evaluated once at the end with the kept weights; the JSON's "
                                    "'value' is then measured here ('split': 'test')")
    init: str = option("minilm", "'minilm' (the all-MiniLM-L6-v2 weights), 'scratch' (random weights) or a "
                                 "checkpoint folder (e.g. from bert-edu pretrain)")
    size: str | None = option(None, "with --init scratch: a named architecture (default: that of --like)",
                              choices=_sizes())
    like: str | None = option(None, "with --init scratch: architecture and tokenizer of this folder "
                                    "(default: MiniLM)")
    out: str | None = option(None, "folder to save the model and tokenizer to (Hugging Face layout)",
                             required=True)
    epochs: int | None = option(3, "passes over the training data")
    lr: float | None = option(1e-4, "peak learning rate (after warmup, then decayed linearly to 0)")
    batch_size: int | None = option(16, "examples per optimiser step")
    max_length: int = option(128, "tokens per input, [CLS] and [SEP] included")
    warmup_ratio: float = option(SHARED_DEFAULTS["warmup_ratio"], "share of the steps over which the learning "
                                 "rate rises from 0 (BERT's recipe)")
    weight_decay: float = option(SHARED_DEFAULTS["weight_decay"], "AdamW weight decay (none on biases and "
                                 "LayerNorm)")
    max_grad_norm: float = option(SHARED_DEFAULTS["max_grad_norm"], "clip the gradient norm to this")
    max_train_examples: int | None = option(None, "use only the first N training examples")
    seed: int = option(SHARED_DEFAULTS["seed"], "seed of the weights of a new head, dropout and batch order")
    bucket: bool = option(False, "batch examples of similar length together (faster: less padding)")
    device: str | None = option(SHARED_DEFAULTS["device"], "cpu, cuda, cuda:1, mps (default: the best available)")
    mixed_precision: str = option(SHARED_DEFAULTS["mixed_precision"], "autocast on CUDA, in training and "
                                  "evaluation: auto = bf16 where the GPU has it natively (compute capability "
                                  "8.0+), else fp16 with a grad scaler; no = fp32. CPU and MPS always run fp32",
                                  choices=["auto", "no", "fp16", "bf16"])
    progress: bool = option(SHARED_DEFAULTS["progress"], "no progress bars")


def check_finetune_args(args, parser, min_length: int = 3, why: str = "[CLS], one token, [SEP]") -> None:
    """The checks every fine-tuning command makes of its shared options: ``parser.error`` (exit 2) names
    the flag and what it needs."""
    for name in ("epochs", "batch_size", "max_train_examples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_length < min_length:
        parser.error(f"--max-length must be at least {min_length} ({why})")
    if args.lr is not None and args.lr <= 0:
        parser.error("--lr must be positive")
    if not 0 <= args.warmup_ratio <= 1:
        parser.error("--warmup-ratio must be between 0 and 1")
    if args.max_grad_norm <= 0:
        parser.error("--max-grad-norm must be positive")
    if args.init not in ("minilm", "scratch") and not Path(args.init).is_dir():
        parser.error(f"--init {args.init!r} is neither 'minilm', 'scratch' nor an existing folder")
    if (args.size or args.like) and args.init != "scratch":
        parser.error("--size and --like only apply to --init scratch")

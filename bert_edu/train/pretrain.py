"""Pretrain a BERT with MLM + NSP: the training loop and the ``python -m bert_edu.pretrain`` command line.

    python -m bert_edu.pretrain --corpus my_books.txt --out runs/mine    # the course's CPU recipe, its own vocabulary
    python -m bert_edu.pretrain --max-steps 2000 --size mini --vocab corpus-8000 --out runs/mini
    torchrun --nproc_per_node=4 -m bert_edu.pretrain --size base --vocab minilm --batch-size 256 ...
    python -m bert_edu.pretrain --out runs/mini --max-steps 4000 --resume      # continue a run

From Python::

    result = run(PretrainConfig(size="tiny", max_steps=300))   # -> dict: out, history, evals, final, baselines
    folder = pretrain_course_model()                             # the checkpoint notebooks 08 and 09 use

The output folder is a Hugging Face checkpoint (``config.json``, ``model.safetensors``, ``vocab.txt``,
``tokenizer_config.json``) that ``transformers.BertForPreTraining.from_pretrained`` loads too, plus
``metrics.json`` (curves, held-out metrics, baselines) and ``training_state.pt`` (optimiser, schedule,
random state and step: what ``--resume`` needs to continue exactly where the run stopped).

Several processes (``torchrun``): every process builds the same global batch (a pure function of the
seed and the step, see :class:`bert_edu.data.pretraining.PretrainingData`) and trains on its own rows of it;
DistributedDataParallel averages the gradients. The loss of a slice is its *sum* divided by the
number of predictions in the whole global batch, so 2 processes x 16 rows give exactly the gradient of
1 process x 32 rows (a mean per slice would weigh a slice with fewer masked tokens more).

The step never waits for the GPU between log steps (issue 28): the batch's counts and "is anything padded?"
are decided on the host by the data pipeline (:meth:`PretrainingData.train_batch`, built ahead in a background
thread, pinned on CUDA); the MLM head gathers a fixed number of slots per sequence (``masked_lm_positions``);
the losses and gradient norm stay on the device and are read, and all-reduced over processes on the run's
device, every ``--log-every`` steps (:func:`flush`). On CUDA: fused AdamW, TF32, and ``--compile`` on request.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from bert_edu.data import assets
from bert_edu.data.pretraining import (PretrainingData, SpecialIds, eval_batches, shard, split_documents,
                                       token_counts, tokenize_documents)
from bert_edu.evaluation.baselines import pretraining_baselines
from bert_edu.model.config import IGNORE_INDEX, SIZES
from bert_edu.train.common import (atomic_folder, autocast, linear_warmup_decay, make_grad_scaler, make_optimizer,
                                   move_to, rng_state, set_rng_state, set_seed, skip_input_checks)

STATE_FILE, METRICS_FILE = "training_state.pt", "metrics.json"


@dataclass
class PretrainConfig:
    """Everything that defines a pretraining run (the command line's options, same names).

    The defaults are the course's CPU recipe (notebook 07; :func:`course_recipe`): the tiny model, 64-token
    pairs, batches of 128, 700 steps at a peak learning rate of 2e-3, no dropout: a few minutes on 2 CPU cores."""

    corpus: str | None = field(default=None, metadata={"help": (
        "text file: one sentence per line, a blank line between documents (default: the course corpus, Rotten "
        "Tomatoes + Wikipedia summaries)")})
    out: str | None = field(default=None, metadata={"help": (
        "output folder (default: the course cache, pretrain-SIZE: bert_edu.data.assets.checkpoint_dir)")})
    vocab: str = field(default="corpus-4000", metadata={"help": (
        "corpus-N: a WordPiece vocabulary of N tokens trained on --corpus itself | course-N: trained on the "
        "course's Rotten Tomatoes corpus (notebook 01's) | minilm | a folder with vocab.txt")})
    size: str = field(default="tiny", metadata={"help": "the named architecture (bert_edu.model.config.SIZES)",
                                                "choices": list(SIZES)})
    max_steps: int = field(default=700, metadata={"help": "optimiser steps (the schedule's length)"})
    batch_size: int = field(default=128, metadata={"help": (
        "sequences per optimiser step, over all processes and micro-batches (the global batch)")})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per step (same result, less memory)"})
    lr: float = field(default=2e-3, metadata={"help": (
        "peak learning rate (notebook 07's recipe for the tiny model, measured there)")})
    warmup_steps: int | None = field(default=None, metadata={"help": (
        "steps over which the learning rate rises from 0 (default: --warmup-ratio of --max-steps)")})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (none on biases and LayerNorm)"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "clip the gradient norm to this"})
    seq_len: int = field(default=64, metadata={"help": (
        "tokens per sequence pair, [CLS] and [SEP]s included (64: notebook 07's CPU recipe)"),
        "flag": "--max-length", "aliases": ["--seq-len"]})
    short_seq_prob: float = field(default=0.1, metadata={"help": (
        "share of the pairs made shorter than --max-length (BERT's recipe, so the model sees short inputs too)")})
    mlm_probability: float = field(default=0.15, metadata={"help": (
        "share of the tokens of a sequence that the model must predict")})
    nsp_weight: float = field(default=1.0, metadata={"help": "loss = MLM + this x NSP (0 = MLM only, as RoBERTa)"})
    dropout: float = field(default=0.0, metadata={"help": (
        "dropout everywhere (0: a run this short underfits, regularising would only slow it down)")})
    seed: int = field(default=0, metadata={"help": "seed of the weights, the masking and the batch order"})
    eval_every: int = field(default=50, metadata={"help": "evaluate on the held-out pairs every N steps (0 = never)"})
    eval_fraction: float = field(default=0.05, metadata={"help": "share of the documents held out"})
    eval_sequences: int = field(default=1024, metadata={"help": (
        "fixed held-out pairs (drawn in several passes if the held-out set is small)")})
    save_every: int = field(default=0, metadata={"help": "also write a checkpoint every N steps (0 = only at the end)"})
    impl: str = field(default="bert_edu", metadata={"help": "bert_edu (ours) or transformers (for comparison)",
                                                    "choices": ["bert_edu", "transformers"]})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1, mps (default: the best available)"})
    mixed_precision: str = field(default="auto", metadata={"help": (
        "autocast on CUDA: auto = bf16 where the GPU has it natively (compute capability 8.0+), else fp16 with a "
        "grad scaler; no = fp32. CPU and MPS always run fp32"), "choices": ["auto", "no", "fp16", "bf16"]})
    log_every: int = field(default=10, metadata={"help": (
        "read the losses from the device (and all-reduce them over processes) every N steps, not at every step: "
        "each read makes the CPU wait for the GPU. The history still holds every step's losses")})
    compile: bool = field(default=False, metadata={"help": (
        "torch.compile the model (fuses the elementwise work; the first steps are slow while it compiles)")})
    prefetch: int = field(default=2, metadata={"help": (
        "batches built ahead in a background thread (pinned memory on CUDA); 0 = build each in the step")})

    def output_dir(self) -> Path:
        return Path(self.out) if self.out else assets.checkpoint_dir(f"pretrain-{self.size}")


# ------------------------------------------------------------------------------------------------
# building blocks


def corpus_file(corpus: str | None) -> Path:
    """The corpus of a run: the user's file, or the course's (``bert_edu.data.corpus.COURSE_CORPUS``)."""
    from bert_edu.data.corpus import COURSE_CORPUS, corpus_path

    return Path(corpus) if corpus else corpus_path(COURSE_CORPUS)


def load_tokenizer(vocab: str, corpus: str | None = None):
    """"corpus-N" -> a WordPiece vocabulary of N tokens trained on ``corpus`` itself (the course corpus when
    None; trained once, then cached); "course-N" -> trained on the course's Rotten Tomatoes corpus (notebook
    01's); "minilm" -> all-MiniLM-L6-v2's 30,522 tokens; anything else -> a folder (or vocab.txt)."""
    from bert_edu.text.tokenizer import BertTokenizer
    from bert_edu.data.corpus import course_tokenizer

    if vocab == "minilm":
        return BertTokenizer.from_pretrained(assets.minilm_path())
    kind, _, size = vocab.partition("-")
    if kind in ("corpus", "course") and size:
        if not size.isdigit() or int(size) < 100:
            raise ValueError(f"--vocab {vocab!r}: write {kind}-N with N the vocabulary size (>= 100), "
                             f"e.g. {kind}-4000")
        return course_tokenizer(vocab_size=int(size), corpus=corpus_file(corpus) if kind == "corpus" else None)
    path = Path(vocab)
    if not path.exists():
        raise FileNotFoundError(f"--vocab {vocab!r} is neither 'corpus-N', 'course-N', 'minilm' nor an existing "
                                "folder or vocab.txt file")
    return BertTokenizer.from_pretrained(path)


def model_config(size: str, vocab_size: int, pad_token_id: int = 0, dropout: float = 0.1, **overrides) -> dict:
    """The config.json fields of a model of preset ``size`` for a vocabulary of ``vocab_size``."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    return dict(SIZES[size], vocab_size=vocab_size, pad_token_id=pad_token_id, hidden_dropout_prob=dropout,
                attention_probs_dropout_prob=dropout, max_position_embeddings=512, **overrides)


def build_model(config: dict, impl: str = "bert_edu") -> torch.nn.Module:
    """A freshly initialised BertForPreTraining: ours, or transformers' with the same config."""
    if impl == "bert_edu":
        from bert_edu.model.config import BertConfig
        from bert_edu.model.heads import BertForPreTraining

        return BertForPreTraining(BertConfig(**config))
    if impl == "transformers":
        import transformers

        return transformers.BertForPreTraining(transformers.BertConfig(**config))
    raise ValueError(f"impl must be 'bert_edu' or 'transformers', got {impl!r}")


def load_model(folder, impl: str = "bert_edu") -> torch.nn.Module:
    if impl == "bert_edu":
        from bert_edu.model.heads import BertForPreTraining

        return BertForPreTraining.from_pretrained(folder, verbose=False)
    import transformers

    return transformers.BertForPreTraining.from_pretrained(folder)


def save_tokenizer(tokenizer, folder: Path) -> None:
    """vocab.txt + tokenizer_config.json (what transformers' BertTokenizer needs)."""
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(folder)
        return
    vocab = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
    (folder / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True}, indent=2) + "\n")


def mlm_logits_at_labels(prediction_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits at the selected positions, in ``labels[labels != -100]`` order.

    Our model computes them only there when given labels (shape ``(num_selected, V)``); transformers'
    model returns them everywhere (``(batch, seq, V)``), so we pick the selected rows out."""
    if prediction_logits.dim() == 3:
        return prediction_logits[labels != IGNORE_INDEX]
    return prediction_logits


@torch.no_grad()
def evaluate_pretraining(model: torch.nn.Module, batches: list[dict], device: torch.device | str = "cpu",
                         mixed_precision: str = "auto") -> dict:
    """Held-out MLM loss and accuracy (over all selected positions) and NSP loss and accuracy."""
    was_training = model.training
    model.eval()
    mlm_loss = mlm_correct = n_mlm = nsp_loss = nsp_correct = n_seq = 0.0
    for batch in batches:
        batch = move_to(batch, device)
        with autocast(device, mixed_precision):
            out = model(**batch)
        logits = mlm_logits_at_labels(out.prediction_logits, batch["labels"]).float()
        targets = batch["labels"][batch["labels"] != IGNORE_INDEX]
        mlm_loss += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        mlm_correct += (logits.argmax(-1) == targets).sum().item()
        n_mlm += len(targets)
        nsp_logits = out.seq_relationship_logits.float()
        nsp_labels = batch["next_sentence_label"]
        nsp_loss += torch.nn.functional.cross_entropy(nsp_logits, nsp_labels, reduction="sum").item()
        nsp_correct += (nsp_logits.argmax(-1) == nsp_labels).sum().item()
        n_seq += len(nsp_labels)
    model.train(was_training)
    return {"mlm_loss": mlm_loss / n_mlm, "mlm_accuracy": mlm_correct / n_mlm,
            "nsp_loss": nsp_loss / n_seq, "nsp_accuracy": nsp_correct / n_seq}


def pretraining_loss(outputs, batch: dict, n_predictions: int, n_sequences: int, at_positions: bool = False):
    """(MLM loss, NSP loss) of this slice, as sums divided by the counts of the *whole* global batch.

    Summed over every slice (processes and micro-batches) this is exactly the mean over the global
    batch, whatever the number of masked tokens in each slice. Same value as transformers' loss when
    there is a single slice. ``at_positions``: the model was given ``masked_lm_positions``, so its logits
    are (batch, P, vocab), one per slot of ``batch["masked_lm_ids"]`` (-100 in unused slots)."""
    if at_positions:
        logits = outputs.prediction_logits.float().flatten(0, 1)
        mlm = F.cross_entropy(logits, batch["masked_lm_ids"].flatten(), ignore_index=IGNORE_INDEX,
                              reduction="sum") / n_predictions
    else:
        labels = batch["labels"]
        logits = mlm_logits_at_labels(outputs.prediction_logits, labels).float()
        mlm = F.cross_entropy(logits, labels[labels != IGNORE_INDEX], reduction="sum") / n_predictions
    nsp = F.cross_entropy(outputs.seq_relationship_logits.float(), batch["next_sentence_label"],
                          reduction="sum") / n_sequences
    return mlm, nsp


# ------------------------------------------------------------------------------------------------
# distributed helpers (all no-ops in a single process)


def _dist_env() -> tuple[int, int, int]:
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def _all_reduce_sum(values: torch.Tensor, world_size: int) -> torch.Tensor:
    """Sum ``values`` over the processes, in place, on the device where they are (NCCL reduces CUDA tensors
    only; a CPU tensor there would fail). No host sync: read the result when you need it."""
    if world_size > 1:
        torch.distributed.all_reduce(values)
    return values


# ------------------------------------------------------------------------------------------------
# the run


def baselines(train_documents: list[list[list[int]]], batches: list[dict]) -> dict:
    """What a model that ignores its input scores on the held-out batches (see
    :func:`bert_edu.evaluation.baselines.pretraining_baselines`): the most frequent training token, the
    unigram loss, the NSP majority class."""
    targets = torch.cat([b["labels"][b["labels"] != IGNORE_INDEX] for b in batches])
    nsp = torch.cat([b["next_sentence_label"] for b in batches])
    return pretraining_baselines(token_counts(train_documents), targets, nsp)


def prepare_data(cfg: PretrainConfig, tokenizer):
    """Tokenise the corpus once; split off held-out documents; build the training and held-out batches."""
    from bert_edu.data.corpus import read_corpus

    path = corpus_file(cfg.corpus)
    try:
        documents = read_corpus(path)
    except UnicodeDecodeError as err:
        raise ValueError(f"--corpus {path} is not UTF-8 text ({err.reason} at byte {err.start}); convert it "
                         "first, e.g. with iconv -t UTF-8") from None
    if len(documents) < 2:
        raise ValueError(f"--corpus {path} holds {len(documents)} document; pretraining needs at least 2 (NSP "
                         "takes sentence B from another document): separate documents with a blank line")
    ids = SpecialIds.from_tokenizer(tokenizer)
    tokenized = tokenize_documents(documents, tokenizer)
    train_docs, held_docs = split_documents(tokenized, cfg.eval_fraction, cfg.seed)
    data = PretrainingData(train_docs, ids, cfg.seq_len, cfg.batch_size, cfg.seed, cfg.short_seq_prob,
                           cfg.mlm_probability)
    held = eval_batches(held_docs, ids, cfg.seq_len, 64, cfg.seed, cfg.eval_sequences,
                        cfg.short_seq_prob) if len(held_docs) >= 2 else []
    return ids, data, train_docs, held


def setup_device(cfg: PretrainConfig) -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; under torchrun also joins the process group (NCCL for CUDA tensors with
    gloo for CPU ones on GPUs, gloo on CPUs). On CUDA, float32 matmuls may use TF32 tensor cores."""
    rank, world_size, local_rank = _dist_env()
    device = torch.device(cfg.device) if cfg.device else None
    if world_size > 1:
        if device is None:
            device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    if device is None:
        from bert_edu.train.device import get_device

        device = get_device()
    if device.type == "cuda":  # TF32 for whatever still runs in float32 (--mixed-precision no, fp32 leftovers)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if cfg.batch_size % (world_size * cfg.grad_accum):
        raise ValueError(f"--batch-size {cfg.batch_size} must be a multiple of processes x --grad-accum "
                         f"= {world_size} x {cfg.grad_accum}")
    return rank, world_size, device


@dataclass
class Run:
    """Everything a pretraining run holds: what it trains, with what, and what it has done so far."""
    cfg: PretrainConfig
    rank: int
    world_size: int
    device: torch.device
    tokenizer: object
    data: PretrainingData
    held: list
    baselines: dict
    model_config: dict
    model: torch.nn.Module
    train_model: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: object
    step: int = 0
    history: list = dataclasses.field(default_factory=list)
    evals: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    pending: list = dataclasses.field(default_factory=list)  # (history row, its losses on the device) not yet read
    loader: object = None  # the BatchPrefetcher, started at the first step

    @property
    def out_dir(self) -> Path:
        return self.cfg.output_dir()


def setup(cfg: PretrainConfig, tokenizer=None) -> Run:
    """Device, data, model, optimiser, schedule: a run at step 0."""
    rank, world_size, device = setup_device(cfg)
    # each process its own dropout masks; the initial weights are rank 0's (DDP copies them when it wraps)
    set_seed(cfg.seed, rank)
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg.vocab, cfg.corpus)
    ids, data, train_docs, held = prepare_data(cfg, tokenizer)
    config = model_config(cfg.size, ids.vocab_size, ids.pad, cfg.dropout)
    model = build_model(config, cfg.impl).to(device)
    skip_input_checks(model)  # the ids come from this tokenizer and the vocab_size from it: no per-step GPU sync
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else cfg.max_steps // 10
    train_model = model
    if world_size > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        train_model = torch.compile(train_model)
    model.train()
    return Run(cfg, rank, world_size, device, tokenizer, data, held, baselines(train_docs, held) if held else {},
               config, model, train_model, optimizer, linear_warmup_decay(optimizer, warmup, cfg.max_steps),
               make_grad_scaler(device, cfg.mixed_precision))


def resume_run(run: Run) -> None:
    """Continue a saved run: weights, optimiser, schedule, scaler, random state and history, refusing a
    checkpoint written with other settings."""
    cfg, state_path = run.cfg, run.out_dir / STATE_FILE
    if not state_path.is_file():
        raise FileNotFoundError(f"--resume: no {STATE_FILE} in {run.out_dir}; start without --resume")
    state = torch.load(state_path, map_location="cpu", weights_only=False)
    saved = {k: v for k, v in state["config"].items()
             if k not in ("max_steps", "eval_every", "save_every", "out", "log_every", "compile", "prefetch")}
    now = {k: v for k, v in dataclasses.asdict(cfg).items() if k in saved}
    if saved != now:
        diff = {k: (saved[k], now[k]) for k in saved if saved[k] != now[k]}
        raise ValueError(f"--resume with different settings (saved, now): {diff}")
    run.model.load_state_dict(load_model(run.out_dir, cfg.impl).state_dict())
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    if isinstance(state["rng"], torch.Tensor):  # saved by an older version: one CPU state
        state["rng"] = [{"cpu": state["rng"]}] * run.world_size
    if len(state["rng"]) != run.world_size:
        raise ValueError(f"--resume with {run.world_size} process(es), but the run was saved by "
                         f"{len(state['rng'])}: resume it with as many")
    set_rng_state(state["rng"][run.rank], run.device)  # this process's own CPU and CUDA random states
    run.step, run.history, run.evals, run.seconds = state["step"], state["history"], state["evals"], state["seconds"]


class BatchPrefetcher:
    """Builds the batches of steps ``start``, ``start + 1``, ... in a background thread, ``depth`` ahead, so the
    CPU work of the next batch overlaps the device's work on this one. On CUDA the batches are in pinned
    memory, so the copy to the GPU (``non_blocking=True``) is asynchronous. Batches are a pure function of the
    step (:meth:`PretrainingData.train_batch`), so prefetching changes nothing in what is trained."""

    def __init__(self, data: PretrainingData, start: int, depth: int = 2, pin: bool = False):
        self.next_step = start
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        # the thread holds the queue and the event, not self: dropping the prefetcher (or its run) stops it
        self._thread = threading.Thread(target=BatchPrefetcher._work, daemon=True, name="bert-edu-prefetch",
                                        args=(data, start, pin, self._queue, self._stop))
        self._thread.start()

    @staticmethod
    def _work(data, step, pin, out: queue.Queue, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                batch, counts = data.train_batch(step)
                if pin:
                    batch = {k: v.pin_memory() for k, v in batch.items()}
                item = (step, batch, counts)
            except BaseException as err:  # handed to the training loop, which raises it
                item = (None, err, None)
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item[0] is None:
                return
            step += 1

    def get(self) -> tuple[dict, dict]:
        step, batch, counts = self._queue.get()
        if step is None:
            raise batch
        self.next_step = step + 1
        return batch, counts

    def close(self) -> None:
        """Stop the thread and wait for it: a thread still inside a torch op when the process exits can abort
        it ("terminate called without an active exception")."""
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=60)

    __del__ = close


def next_batch(run: Run) -> tuple[dict, dict]:
    """The global batch of ``run.step`` and its counts (:meth:`PretrainingData.train_batch`)."""
    if run.cfg.prefetch <= 0:
        return run.data.train_batch(run.step)
    if run.loader is None or run.loader.next_step != run.step:  # first step, or the run jumped (resume)
        if run.loader is not None:
            run.loader.close()
        run.loader = BatchPrefetcher(run.data, run.step, run.cfg.prefetch, pin=run.device.type == "cuda")
    return run.loader.get()


def _clip_and_step(model: torch.nn.Module, optimizer, scaler, max_grad_norm: float | None) -> torch.Tensor:
    """:func:`bert_edu.train.common.clip_and_step` without reading the norm: it stays a tensor on the device."""
    scaler.unscale_(optimizer)  # a no-op unless fp16
    params = [p for p in model.parameters() if p.grad is not None]
    if max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params]))
    scaler.step(optimizer)  # fp16 only: reads whether a gradient overflowed (a sync the grad scaler needs)
    scaler.update()
    return norm.detach()


def flush(run: Run) -> None:
    """Read the losses and gradient norms of the steps since the last read into their history rows: ONE host
    sync (and one all-reduce of the losses over processes) for all of them. Every process must call it at the
    same steps: :func:`train_step` does every ``log_every`` steps and at ``max_steps``; :func:`run` before
    evaluating and saving."""
    if not run.pending:
        return
    values = torch.stack([v for _, v in run.pending])  # (steps, 3): MLM, NSP, grad norm; on the run's device
    if run.world_size > 1:
        losses = _all_reduce_sum(values[:, :2].contiguous(), run.world_size)  # each process's share -> the mean
        values = torch.cat([losses, values[:, 2:]], dim=1)
    rows, pending = values.tolist(), run.pending
    run.pending = []
    for (row, _), (mlm, nsp, norm) in zip(pending, rows):
        row.update(loss=mlm + nsp, mlm_loss=mlm, nsp_loss=nsp, grad_norm=norm)
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(f"the loss became {row['loss']} at step {row['step']}; lower --lr")


def train_step(run: Run) -> dict:
    """One optimiser step on the global batch of ``run.step``; returns its row of the history.

    The row's losses and gradient norm are read from the device only every ``log_every`` steps (and at the
    last step), by :func:`flush`: until then they are None. No host sync in between: the batch's counts come
    from the data pipeline, the MLM head gathers a fixed number of positions per sequence, and the attention
    mask is left out when the collate found no padding."""
    cfg, distributed = run.cfg, run.world_size > 1
    start = time.perf_counter()
    batch, counts = next_batch(run)  # the global batch; this process takes its rows of it
    n_predictions, n_sequences = counts["n_predictions"], counts["n_sequences"]
    fast = cfg.impl == "bert_edu"  # ours takes masked_lm_positions; transformers' takes labels (B, T)
    mine = shard(batch, run.rank, run.world_size)
    losses = torch.zeros(2, device=run.device)
    for micro in range(cfg.grad_accum):
        mb = move_to(shard(mine, micro, cfg.grad_accum), run.device)
        sync = micro == cfg.grad_accum - 1 or not distributed  # all-reduce gradients once per step
        with run.train_model.no_sync() if not sync else contextlib.nullcontext():
            inputs = dict(input_ids=mb["input_ids"], token_type_ids=mb["token_type_ids"],
                          attention_mask=mb["attention_mask"] if counts["padded"] else None)
            if fast:
                inputs["masked_lm_positions"] = mb["masked_lm_positions"]
            else:
                inputs["labels"] = mb["labels"]
            with autocast(run.device, cfg.mixed_precision):
                outputs = run.train_model(**inputs)
            mlm, nsp = pretraining_loss(outputs, mb, n_predictions, n_sequences, at_positions=fast)
            # DDP averages gradients over processes; our slices already sum to the global mean
            run.scaler.scale((mlm + cfg.nsp_weight * nsp) * run.world_size).backward()
        losses += torch.stack([mlm.detach(), nsp.detach()])
    lr = run.scheduler.get_last_lr()[0]
    grad_norm = _clip_and_step(run.model, run.optimizer, run.scaler, cfg.max_grad_norm)
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    row = {"step": run.step, "loss": None, "mlm_loss": None, "nsp_loss": None, "lr": lr, "grad_norm": None,
           "tokens": counts["tokens"]}
    run.history.append(row)
    run.pending.append((row, torch.cat([losses, grad_norm.reshape(1).to(losses.dtype)])))
    if run.step % max(1, cfg.log_every) == 0 or run.step >= cfg.max_steps:
        flush(run)
    run.seconds += time.perf_counter() - start
    return row


def evaluate_run(run: Run) -> None:
    flush(run)
    if run.held:
        run.evals.append({"step": run.step, **evaluate_pretraining(run.model, run.held, run.device,
                                                                   run.cfg.mixed_precision)})


def metrics_of(run: Run) -> dict:
    flush(run)
    tokens = sum(h["tokens"] for h in run.history)
    n_params = sum(p.numel() for p in run.model.parameters())
    return {"config": dataclasses.asdict(run.cfg), "model_config": run.model_config, "step": run.step,
            "n_parameters": n_params, "world_size": run.world_size, "device": str(run.device),
            "seconds": run.seconds, "tokens_per_second": tokens / max(run.seconds, 1e-9),
            "baselines": run.baselines, "final": run.evals[-1] if run.evals else None,
            "history": run.history, "evals": run.evals}


def save(run: Run) -> dict:
    """Write the checkpoint (HF layout + tokenizer), the training state and ``metrics.json`` (rank 0), all
    at once (:func:`atomic_folder`): a crash never leaves weights and optimiser state of different steps."""
    metrics = metrics_of(run)  # reads the pending losses first
    rng = [rng_state(run.device)]  # every process's random states, rank by rank
    if run.world_size > 1:
        rng = [None] * run.world_size
        torch.distributed.all_gather_object(rng, rng_state(run.device))
    if run.rank == 0:
        with atomic_folder(run.out_dir) as out_dir:
            run.model.save_pretrained(out_dir)
            save_tokenizer(run.tokenizer, out_dir)
            torch.save({"config": dataclasses.asdict(run.cfg), "step": run.step,
                        "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
                        "scaler": run.scaler.state_dict(), "rng": rng, "history": run.history,
                        "evals": run.evals, "seconds": run.seconds}, out_dir / STATE_FILE)
            (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    if run.world_size > 1:
        torch.distributed.barrier()
    return metrics


def save_checkpoint(model: torch.nn.Module, model_config: dict, tokenizer, out, metrics: dict) -> Path:
    """Save a model trained outside :func:`run` (notebook 07's loop trains the learner's own classes) as the
    command line does: the package's BertForPreTraining holding its weights (the names are transformers'), the
    tokenizer and ``metrics.json``, written at once. There is no training state to resume from."""
    from bert_edu.model.config import BertConfig
    from bert_edu.model.heads import BertForPreTraining

    reference = BertForPreTraining(BertConfig(**model_config))
    missing, unexpected = reference.load_state_dict(model.state_dict(), strict=False)
    missing = [k for k in missing if k != "cls.predictions.decoder.bias"]  # tied to cls.predictions.bias
    if missing or unexpected:
        raise ValueError(f"the model's weights do not have BERT's names: missing {missing}, unexpected {unexpected}")
    (Path(out) / STATE_FILE).unlink(missing_ok=True)  # a state left by another run would not match these weights
    with atomic_folder(Path(out)) as folder:
        reference.save_pretrained(folder)
        save_tokenizer(tokenizer, folder)
        (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    return Path(out)


def run(cfg: PretrainConfig, resume: bool = False, stop_at: int | None = None, progress: bool = True,
        tokenizer=None) -> dict:
    """Train (or continue training) and write the checkpoint. Returns the metrics dict also saved as
    ``metrics.json``: ``history`` (per step: loss, mlm_loss, nsp_loss, lr), ``evals`` (held-out metrics
    every ``eval_every`` steps), ``final``, ``baselines``, sizes and speed.

    ``stop_at``: stop (and save, as if interrupted) after that many steps; the schedule still follows
    ``max_steps``, so a ``resume`` later continues the very same run.
    """
    state = setup(cfg, tokenizer)
    if resume:
        resume_run(state)
    last = min(cfg.max_steps, stop_at) if stop_at is not None else cfg.max_steps
    bar = None
    if progress and state.rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=state.step, desc=f"pretraining {cfg.size}", unit="step")
    if state.step == 0 and cfg.eval_every:
        evaluate_run(state)  # at initialisation: MLM loss ~ ln(vocab size), NSP accuracy ~ 50%
    try:
        while state.step < last:
            row = train_step(state)
            if cfg.eval_every and (state.step % cfg.eval_every == 0 or state.step == cfg.max_steps):
                evaluate_run(state)
            if bar is not None:
                bar.update(1)
                postfix = {"loss": f"{row['loss']:.3f}"} if row["loss"] is not None else {}
                if state.evals:
                    postfix.update(mlm_acc=f"{state.evals[-1]['mlm_accuracy']:.3f}",
                                   nsp_acc=f"{state.evals[-1]['nsp_accuracy']:.3f}")
                if postfix:
                    bar.set_postfix(postfix, refresh=False)
            if cfg.save_every and state.step % cfg.save_every == 0 and state.step < last:
                save(state)
    finally:  # also on an error or Ctrl-C: the prefetch thread stops before the process ends
        if bar is not None:
            bar.close()
        if state.loader is not None:
            state.loader.close()
    metrics = save(state)
    metrics["out"] = str(state.out_dir)
    return metrics


# ------------------------------------------------------------------------------------------------
# the course's checkpoint (notebook 07 trains it; notebooks 08 and 09 load it)

COURSE_CHECKPOINT = "pretrain-course"


def course_recipe(device: torch.device | str | None = None) -> PretrainConfig:
    """The recipe of notebook 07: a few minutes on 2 CPU cores; a larger model for longer on a GPU."""
    from bert_edu.train.device import get_device

    device = torch.device(device) if device is not None else get_device()
    out = str(assets.checkpoint_dir(COURSE_CHECKPOINT))
    if device.type == "cuda":  # ~33 M tokens: a few minutes on a recent GPU
        return PretrainConfig(size="mini", max_steps=5000, batch_size=256, lr=1e-3, seq_len=128, dropout=0.1,
                              eval_every=500, out=out, device=str(device))
    # ~5.5 M tokens: a few minutes on 2 CPU cores: the defaults. Short sequences, large batches, a high
    # learning rate and no dropout: in a run this short the tiny model underfits, so regularising only slows it.
    return PretrainConfig(out=out, device=str(device))


def pretrain_course_model(force: bool = False, progress: bool = True) -> Path:
    """The folder of the course's pretrained checkpoint; trains it first (a few minutes) if it is missing."""
    cfg = course_recipe()
    out = cfg.output_dir()
    if force or not (out / "model.safetensors").is_file() or not (out / METRICS_FILE).is_file():
        run(cfg, progress=progress)
    return out


# ------------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    """``bert-edu pretrain``'s flags: one per field of :class:`PretrainConfig` (bert_edu.train.cli), plus the
    run's own switches."""
    from bert_edu.train import cli

    p = cli.make_parser("pretrain", "Pretrain BERT with masked language modelling + next sentence prediction. "
                                    "Run under torchrun for several processes.", PretrainConfig)
    p.add_argument("--warmup-ratio", type=float, default=cli.SHARED_DEFAULTS["warmup_ratio"],
                   help="share of --max-steps over which the learning rate rises from 0 (--warmup-steps, when "
                        "given, wins)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--stop-at", type=int, default=None, help="stop after this step as if interrupted "
                                                             "(the schedule still follows --max-steps)")
    p.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bars")
    return p


def parse_args(argv=None) -> tuple[PretrainConfig, argparse.Namespace]:
    from bert_edu.train import cli

    p = build_parser()
    args = p.parse_args(argv)
    args.no_progress = not args.progress  # the attribute's older name
    if not 0 <= args.warmup_ratio <= 1:
        p.error("--warmup-ratio must be between 0 and 1")
    if args.warmup_steps is None and args.warmup_ratio != cli.SHARED_DEFAULTS["warmup_ratio"]:
        args.warmup_steps = int(args.warmup_ratio * args.max_steps)  # else None: 10%, as the config says
    cfg = cli.config_from_args(PretrainConfig, args)
    for name in ("max_steps", "batch_size", "grad_accum", "seq_len", "log_every"):
        if getattr(cfg, name) <= 0:
            flag = "--max-length" if name == "seq_len" else f"--{name.replace('_', '-')}"
            p.error(f"{flag} must be positive")
    if not 0 < cfg.mlm_probability < 1:
        p.error("--mlm-probability must be between 0 and 1")
    if cfg.corpus and not Path(cfg.corpus).is_file():
        p.error(f"--corpus {cfg.corpus}: no such file; pass a text file with one sentence per line and a blank "
                "line between documents")
    return cfg, args


def summary(metrics: dict) -> dict:
    """The final metrics of a run in one flat dict (the command line's JSON line: the commands' shared keys
    ``metric``, ``value`` (held-out MLM accuracy), ``split``, ``seconds``, ``out``, then pretraining's own)."""
    from bert_edu.train.cli import result_line

    final, base = metrics["final"] or {}, metrics["baselines"] or {}
    out = {"step": metrics["step"], "tokens_per_second": round(metrics["tokens_per_second"]),
           "n_parameters": metrics["n_parameters"],
           "train_loss": metrics["history"][-1]["loss"] if metrics["history"] else None}
    out.update({k: final[k] for k in ("mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy") if k in final})
    out.update({f"baseline_{k}": base[k] for k in ("mlm_accuracy", "mlm_unigram_loss", "nsp_accuracy") if k in base})
    return result_line("mlm_accuracy", final.get("mlm_accuracy"), "eval", metrics["seconds"], metrics["out"], **out)


def main(argv=None) -> int:
    cfg, args = parse_args(argv)
    try:
        metrics = run(cfg, resume=args.resume, stop_at=args.stop_at, progress=not args.no_progress)
    except (ValueError, OSError, assets.AssetError) as err:  # bad corpus, vocabulary or settings: say so, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    rank = _dist_env()[0]
    if rank == 0:  # a readable summary on stderr, then ONE line of JSON on stdout (for scripts)
        final, base = metrics["final"], metrics["baselines"]
        log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
        log(f"step {metrics['step']}: train loss {metrics['history'][-1]['loss']:.4f}, "
            f"{metrics['tokens_per_second']:.0f} tokens/s, {metrics['n_parameters']:,} parameters")
        if final:
            log(f"held-out MLM accuracy {final['mlm_accuracy']:.3f} (most-frequent-token baseline "
                f"{base['mlm_accuracy']:.3f}), MLM loss {final['mlm_loss']:.3f}; "
                f"NSP accuracy {final['nsp_accuracy']:.3f} (baseline {base['nsp_accuracy']:.3f})")
        log(f"checkpoint: {metrics['out']}")
        print(json.dumps(summary(metrics)), flush=True)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

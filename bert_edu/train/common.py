"""Small training utilities shared by pretraining (notebook 07) and fine-tuning (notebook 08).

The whole API::

    set_seed(seed, rank=0)                           # python, torch (CPU + CUDA) random generators
    rng_state(device) / set_rng_state(state, device) # save / restore them (CPU and CUDA), for --resume
    make_optimizer(model, lr, weight_decay=0.01)     # torch.optim.AdamW (fused on CUDA); no decay on biases and LayerNorm
    linear_warmup_decay(optimizer, warmup_steps, total_steps)  # LambdaLR: 0 -> lr linearly, then -> 0
    autocast(device, mixed_precision="auto")         # context manager: bf16/fp16 autocast on CUDA, no-op else
    make_grad_scaler(device, mixed_precision="auto") # torch.amp.GradScaler, enabled only for fp16
    add_mixed_precision_argument(parser)             # --mixed-precision auto|no|fp16|bf16 for a command line
    HelpFormatter                                    # argparse formatter: --help shows every default
    skip_input_checks(model)                         # no per-step token-id checks (each one waits for the GPU)
    atomic_folder(folder)                            # write a checkpoint into a temporary folder, then rename
    move_to(batch, device)                           # tensors in a dict / list / tuple -> device
    clip_and_step(model, optimizer, scaler, max_grad_norm=1.0) -> grad norm (float)
    label_maps(label_names)                          # num_labels / id2label / label2id for a config
    load_tokenizer(folder)                           # the BertTokenizer saved in a model folder
    build_model(head, init, labels, size, like)      # a task model + tokenizer from minilm | scratch | a folder
    save_folder(model, tokenizer, out)               # HF layout + tokenizer files, written atomically

A training step with all of them::

    scaler = make_grad_scaler(device)
    with autocast(device):
        loss = model(**move_to(batch, device)).loss
    scaler.scale(loss).backward()
    clip_and_step(model, optimizer, scaler)
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)

Why each piece is there:

* **No weight decay on biases and LayerNorm weights**, as in the original BERT optimiser: decay pulls
  weights towards 0, which makes sense for matrices (a regulariser) but not for a LayerNorm gain, whose
  natural value is 1, or for a bias.
* **Warmup then linear decay** (the paper: 10,000 warmup steps of 1M): Adam's second-moment estimates are
  noisy for the first steps, so large steps then can throw the model somewhere bad.
* **Mixed precision** only on a GPU: bf16 has the range of fp32 and needs no loss scaling, but only GPUs of
  compute capability 8.0+ run it natively; fp16 (T4, V100) needs a :class:`torch.amp.GradScaler` so that
  small gradients do not underflow to 0. On a CPU we stay in fp32: CPU autocast is slower than fp32 for
  models this small.
* **One random stream per process** (``set_seed(seed, rank)``, as nanoGPT's ``seed + seed_offset``): with
  several processes each must draw its own dropout masks, or every process would drop the same units in
  its rows (rank 1's rows get exactly rank 0's masks): fewer independent masks than the batch has rows. Every random state, CUDA's included, goes into the checkpoint, so ``--resume``
  continues exactly.
* **Checkpoints written atomically**: a crash in the middle of a save must never leave weights of one step
  next to optimiser state of another, which a resumed run would silently accept.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import random
import shutil
import tempfile
from pathlib import Path

import torch

from bert_edu.train.device import MIXED_PRECISION, autocast_dtype


def set_seed(seed: int, rank: int = 0) -> None:
    """Seed every generator training uses, so a run is reproducible on the same machine. Process ``rank``
    of a multi-process run gets ``seed + rank``: its own dropout masks (the model's initial weights are
    rank 0's everywhere: DistributedDataParallel copies them to the others when it wraps the model)."""
    seed = seed + rank
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional here
        pass


def rng_state(device: torch.device | str = "cpu") -> dict:
    """This process's random states: Python's, torch's CPU generator and, on CUDA, the device's."""
    device = torch.device(device)
    state = {"python": random.getstate(), "cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device | str = "cpu") -> None:
    """Restore what :func:`rng_state` returned (a CUDA state only onto a CUDA device)."""
    device = torch.device(device)
    if "python" in state:
        random.setstate(state["python"])
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _no_decay(name: str, param: torch.nn.Parameter) -> bool:
    # 1-d parameters are biases and LayerNorm weights; the name check covers any 1-d layer we did not foresee
    return param.ndim < 2 or name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.01,
                   betas=(0.9, 0.999), eps: float = 1e-6, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW with two parameter groups: weight decay on matrices, none on biases and LayerNorm weights.

    ``eps=1e-6`` as in the original BERT code. Tied weights (the MLM decoder shares the word embeddings)
    appear once in ``named_parameters()``, so they are updated once. ``fused`` (default: when every
    parameter is on a CUDA GPU): one fused kernel for the whole update instead of several per tensor; the
    same update up to rounding.
    """
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if _no_decay(name, param) else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if fused is None:
        params = decay + no_decay
        fused = bool(params) and all(p.device.type == "cuda" for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, **({"fused": True} if fused else {}))


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup_steps: int,
                        total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rises linearly from 0 to the optimiser's lr over ``warmup_steps``, then falls
    linearly to 0 at ``total_steps``: at step ``s`` the factor is ``s / warmup_steps`` during warmup, then
    ``(total_steps - s) / (total_steps - warmup_steps)``. This is exactly
    ``transformers.get_linear_schedule_with_warmup`` (tested equal), the original BERT's schedule; as there,
    step 0 has learning rate 0 when there is a warmup. Call ``scheduler.step()`` after each optimiser step."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be between 0 and total_steps={total_steps}, got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """The command lines' ``--help``: every default shown, except empty ones (None, and False for a flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or isinstance(action, argparse._StoreFalseAction):
            return action.help  # nothing to show (a --no-x switch's default True says nothing either)
        return super()._get_help_string(action)

    def add_argument(self, action):
        if action.help is None and not (action.default is None or action.default is False
                                        or isinstance(action, argparse._StoreFalseAction)):
            action = copy.copy(action)  # an option without a help text still shows its default
            action.help = "(default: %(default)s)"
        super().add_argument(action)


def add_mixed_precision_argument(parser) -> None:
    """``--mixed-precision auto|no|fp16|bf16`` (accelerate's name) for a training command line; pass
    ``args.mixed_precision`` to :func:`autocast` and :func:`make_grad_scaler`."""
    parser.add_argument("--mixed-precision", default="auto", choices=MIXED_PRECISION,
                        help="autocast on CUDA: auto = bf16 where the GPU has it natively (compute capability "
                             "8.0+), else fp16 with a grad scaler; no = fp32. CPU and MPS always run fp32")


def autocast(device: torch.device | str, mixed_precision: str = "auto"):
    """``with autocast(device):`` runs the forward pass in bf16 (or fp16) on CUDA; elsewhere a no-op."""
    device = torch.device(device)
    dtype = autocast_dtype(device, mixed_precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device | str, mixed_precision: str = "auto") -> torch.amp.GradScaler:
    """A GradScaler that is active only where it is needed (fp16 autocast); otherwise it passes
    through (``scale(loss)`` returns ``loss``, ``step`` just steps), so one training loop serves all."""
    device = torch.device(device)
    enabled = autocast_dtype(device, mixed_precision) == torch.float16
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)


def skip_input_checks(model: torch.nn.Module, skip: bool = True) -> None:
    """Switch off (``skip=False``: back on) the token-id checks of every BertModel inside ``model``
    (``check_inputs``). Each check reads the ids' min and max, which makes the CPU wait for the GPU at
    every step; a training loop checks its first batch and then skips them (its batches all come from
    the same tokenizer)."""
    for module in model.modules():
        if hasattr(module, "check_inputs"):
            module.check_inputs = not skip


@contextlib.contextmanager
def atomic_folder(folder: str | Path):
    """``with atomic_folder(out) as tmp:`` write a checkpoint into ``tmp``; on leaving the block, ``tmp``
    takes the place of ``out`` by renames (files in ``out`` that this save did not write are kept).

    A crash inside the block leaves ``out`` as it was: never the weights of one step with the optimiser
    state of another. (A crash between the two renames at the end leaves no ``out`` and the previous save
    in ``.NAME.old-PID`` next to it: nothing a ``--resume`` could mistake for a consistent checkpoint.)"""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        yield tmp
        if folder.exists():
            for item in folder.iterdir():
                if not (tmp / item.name).exists():
                    os.replace(item, tmp / item.name)
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def move_to(batch, device: torch.device | str):
    """Move every tensor in a (nested) dict / list / tuple to ``device``; other values are kept."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


def clip_and_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scaler: torch.amp.GradScaler | None = None, max_grad_norm: float | None = 1.0) -> float:
    """Unscale (fp16), clip the global gradient norm to ``max_grad_norm`` and take the optimiser step.

    Returns the gradient norm before clipping (a useful curve to watch: spikes mean instability).
    """
    if scaler is not None:
        scaler.unscale_(optimizer)
    params = [p for p in model.parameters() if p.grad is not None]
    if max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([p.grad.detach().norm() for p in params])) if params \
            else torch.zeros(())
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return float(norm)


# ------------------------------------------------------------------------------------------------
# task models: where the weights start, where they are saved (finetune, ner, qa, distillation)


def label_maps(label_names) -> dict:
    """The config fields that carry label names into the saved model (and into transformers.pipeline)."""
    names = [str(n) for n in label_names]
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)}}


def load_tokenizer(folder):
    """The tokenizer saved in a model folder (vocab.txt + tokenizer_config.json)."""
    from bert_edu.text.tokenizer import BertTokenizer

    return BertTokenizer.from_pretrained(folder)


def _head_class(head):
    if isinstance(head, str):
        from bert_edu.model import heads

        return getattr(heads, head)
    return head


def build_model(head, init: str, labels=None, size: str | None = None, like=None, verbose: bool = True):
    """``(model, tokenizer)``: a ``head`` model (a class such as ``BertForSequenceClassification``, or its name)
    and the tokenizer it reads with.

    ``init``: ``'minilm'`` (the real all-MiniLM-L6-v2 weights), ``'scratch'`` (the architecture, or a ``size``
    from SIZES, and the vocabulary of the folder ``like``, default MiniLM, with random weights) or a model
    folder (any BERT checkpoint: its encoder's weights, a fresh head). ``labels``: label names (stored in the
    config, so a pipeline shows them) or a number of outputs (2 for question answering's start and end).
    """
    from bert_edu.data.assets import minilm_path
    from bert_edu.model.config import SIZES, BertConfig

    head = _head_class(head)
    if init == "scratch":
        folder = Path(like) if like else minilm_path()
    else:
        folder = minilm_path() if init == "minilm" else Path(init)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a model folder (no config.json). Pass 'minilm', 'scratch' "
                                "or the folder a checkpoint was saved to (e.g. by bert-edu pretrain)")
    fields = {"num_labels": labels} if isinstance(labels, int) else label_maps(labels) if labels is not None else {}
    if init != "scratch":
        return head.from_pretrained(folder, verbose=verbose, **fields), load_tokenizer(folder)
    if size is not None and size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)} or leave it out")
    config = BertConfig.from_pretrained(folder)
    for key, value in {**SIZES.get(size, {}), **fields}.items():
        setattr(config, key, value)
    return head(config), load_tokenizer(folder)


def save_folder(model, tokenizer, out) -> Path:
    """HF layout (config.json with the label names, model.safetensors) + the tokenizer files, written to a
    temporary folder and renamed into place (:func:`atomic_folder`): ``transformers`` loads it as it is."""
    out = Path(out)
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out

"""Small training utilities shared by pretraining (notebook 07) and fine-tuning (notebook 08).

The whole API::

    set_seed(seed)                                   # python, torch (CPU + CUDA) random generators
    make_optimizer(model, lr, weight_decay=0.01)     # torch.optim.AdamW; no decay on biases and LayerNorm
    linear_warmup_decay(optimizer, warmup_steps, total_steps)  # LambdaLR: 0 -> lr linearly, then -> 0
    autocast(device)                                 # context manager: bf16/fp16 autocast on CUDA, no-op else
    make_grad_scaler(device)                         # torch.amp.GradScaler, enabled only for fp16
    move_to(batch, device)                           # tensors in a dict / list / tuple -> device
    clip_and_step(model, optimizer, scaler, max_grad_norm=1.0) -> grad norm (float)

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
* **Mixed precision** only on a GPU: bf16 has the range of fp32 and needs no loss scaling; fp16 (older
  GPUs) needs a :class:`torch.amp.GradScaler` so that small gradients do not underflow to 0. On a CPU we
  stay in fp32: CPU autocast is slower than fp32 for models this small.
"""

from __future__ import annotations

import contextlib
import random

import torch

from bert_edu.train.device import autocast_dtype


def set_seed(seed: int) -> None:
    """Seed every generator training uses, so a run is reproducible on the same machine."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional here
        pass


def _no_decay(name: str, param: torch.nn.Parameter) -> bool:
    # 1-d parameters are biases and LayerNorm weights; the name check covers any 1-d layer we did not foresee
    return param.ndim < 2 or name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.01,
                   betas=(0.9, 0.999), eps: float = 1e-6) -> torch.optim.AdamW:
    """AdamW with two parameter groups: weight decay on matrices, none on biases and LayerNorm weights.

    ``eps=1e-6`` as in the original BERT code. Tied weights (the MLM decoder shares the word embeddings)
    appear once in ``named_parameters()``, so they are updated once.
    """
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if _no_decay(name, param) else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup_steps: int,
                        total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rises linearly from 0 to the optimiser's lr over ``warmup_steps``, then falls
    linearly to 0 at ``total_steps`` (the schedule of the original BERT and of
    ``transformers.get_linear_schedule_with_warmup``). Call ``scheduler.step()`` after each optimiser step."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be between 0 and total_steps={total_steps}, got {warmup_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)  # never exactly 0, so step 0 does learn something
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast(device: torch.device | str):
    """``with autocast(device):`` runs the forward pass in bf16 (or fp16) on CUDA; elsewhere a no-op."""
    device = torch.device(device)
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device | str) -> torch.amp.GradScaler:
    """A GradScaler that is active only where it is needed (fp16 autocast); otherwise it passes
    through (``scale(loss)`` returns ``loss``, ``step`` just steps), so one training loop serves all."""
    device = torch.device(device)
    enabled = autocast_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)


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

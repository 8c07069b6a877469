"""The one fine-tuning loop (notebooks 08, 10, 11 and 12): every task trains through :func:`fit`.

A task brings only what differs: how a batch is built (``collate``), how the model is scored after each epoch
(``evaluate``) and, for distillation, the loss. ``fit`` does the rest, the same way for all:

* AdamW with two parameter groups (:func:`bert_edu.train.common.make_optimizer`), warmup then linear decay;
* mixed precision (``mixed_precision``, with a grad scaler for fp16) in training AND in evaluation;
* the token ids checked on the first batch only (later checks would make the CPU wait for the GPU);
* batches shuffled, or bucketed by length (``bucket``), from one seeded ``random.Random``;
* the gradient norm clipped, the eval set scored after every epoch, the weights of the best epoch kept
  (ties: the earlier) and restored at the end; a history row per epoch.

    result = fit(model, features, lambda fs: collate(fs, pad_id), evaluate=score, metric="accuracy",
                 epochs=3, lr=1e-4, batch_size=16)
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from bert_edu.data.batching import bucketed_batches, shuffled_batches
from bert_edu.train import common


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    best_epoch: int = 0
    best: dict = field(default_factory=dict)  # the eval scores of the best epoch (without per-example lists)
    seconds: float = 0.0
    train_examples: int = 0
    steps: int = 0
    losses: list = field(default_factory=list)  # the training loss of every step


def model_loss(model, batch: dict, idx: list[int]) -> torch.Tensor:
    """The default loss: the one the model computes from the batch's labels."""
    return model(**batch).loss


def _summary(scores: dict) -> dict:
    """The scores worth keeping: without per-example tensors and lists (probabilities, predictions)."""
    return {k: v for k, v in scores.items() if not isinstance(v, (torch.Tensor, list))}


def _state_on_cpu(model) -> dict:
    """A CPU copy of the weights: the best epoch's survive later, worse epochs."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _epoch_line(row: dict, epochs: int, metric: str, label: str, improved: bool) -> str:
    parts = [f"train loss {row['train_loss']:.4f}"]
    if row.get("eval_loss") is not None:
        parts.append(f"eval loss {row['eval_loss']:.4f}")
    if f"eval_{metric}" in row:
        parts.append(f"eval {label} {100 * row[f'eval_{metric}']:.2f}%")
    return (f"epoch {row['epoch']}/{epochs}: {', '.join(parts)} ({row['seconds']:.0f} s)"
            f"{'  (best so far)' if improved else ''}")


def _train_epoch(model, features, batches, collate, loss_fn, parts, result, bar_name, progress) -> float:
    """One pass over ``batches``; returns the mean training loss per example."""
    from tqdm.auto import tqdm

    optimizer, scheduler, scaler, device, mixed_precision, max_grad_norm = parts
    model.train()
    loss_sum, seen = 0.0, 0
    bar = tqdm(batches, desc=bar_name, leave=False, disable=not progress)
    for idx in bar:
        batch = common.move_to(collate([features[i] for i in idx]), device)
        with common.autocast(device, mixed_precision):
            loss = loss_fn(model, batch, idx)
        if result.steps == 0:  # the first batch was checked; the others come from the same tokenizer
            common.skip_input_checks(model)
        scaler.scale(loss).backward()
        common.clip_and_step(model, optimizer, scaler, max_grad_norm)
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        result.losses.append(loss.item())
        loss_sum += result.losses[-1] * len(idx)
        seen += len(idx)
        result.steps += 1
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
    return loss_sum / seen


def fit(model, features: list, collate: Callable[[list], dict], *, evaluate: Callable | None = None,
        metric: str = "accuracy", metric_label: str | None = None, epochs: int, lr: float, batch_size: int,
        warmup_ratio: float = 0.1, weight_decay: float = 0.01, max_grad_norm: float | None = 1.0, seed: int = 0,
        device=None, bucket: bool = True, progress: bool = True, mixed_precision: str = "auto", log=print,
        loss_fn: Callable = model_loss) -> FitResult:
    """Train ``model`` on ``features`` for ``epochs`` epochs; return a :class:`FitResult`.

    ``collate(list of features) -> batch`` (a dict of tensors, moved to ``device`` here);
    ``evaluate(model, device=..., mixed_precision=...) -> dict of scores`` after every epoch, with the
    training's precision; the epoch with the highest ``scores[metric]`` is kept (logged as ``metric_label``).
    Without ``evaluate`` the last epoch's weights stay. ``loss_fn(model, batch, idx) -> loss`` (default: the
    model's own loss).
    """
    if not features:
        raise ValueError("fit needs at least one training example")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rng = random.Random(seed)
    total_steps = math.ceil(len(features) / batch_size) * epochs
    optimizer = common.make_optimizer(model, lr, weight_decay)
    scheduler = common.linear_warmup_decay(optimizer, int(warmup_ratio * total_steps), total_steps)
    parts = (optimizer, scheduler, common.make_grad_scaler(device, mixed_precision), device, mixed_precision,
             max_grad_norm)
    lengths = [len(f["input_ids"]) for f in features]
    result, best_state, start = FitResult(train_examples=len(features)), None, time.perf_counter()
    for epoch in range(1, epochs + 1):
        batches = (bucketed_batches(lengths, batch_size, rng) if bucket
                   else shuffled_batches(len(features), batch_size, rng))
        row = {"epoch": epoch, "train_loss": _train_epoch(model, features, batches, collate, loss_fn, parts,
                                                          result, f"epoch {epoch}/{epochs}", progress)}
        improved = False
        if evaluate is not None:
            scores = evaluate(model, device=device, mixed_precision=mixed_precision)
            row.update({f"eval_{k}": v for k, v in scores.items() if isinstance(v, (int, float)) or v is None})
            improved = best_state is None or scores[metric] > result.best[metric]
            if improved:
                best_state, result.best_epoch, result.best = _state_on_cpu(model), epoch, _summary(scores)
        row["seconds"] = time.perf_counter() - start
        result.history.append(row)
        if log:
            log(_epoch_line(row, epochs, metric, metric_label or metric, improved))
    common.skip_input_checks(model, False)  # the trained model checks its inputs again
    if best_state is not None and result.best_epoch != epochs:
        model.load_state_dict(best_state)
        if log:
            log(f"restored the weights of epoch {result.best_epoch} (best eval {metric_label or metric})")
    result.seconds = time.perf_counter() - start
    return result

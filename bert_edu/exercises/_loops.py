"""The update at the end of a training step, right or with one classic bug: what the loop checkers of notebook 07
(``check_train_step``) and notebook 08 (``check_fine_tune``) run to recognise a learner's mistake."""

from __future__ import annotations

import torch

from bert_edu.train.common import clip_and_step

# the bugs of the update itself (the loops add their own: eval mode left on, the last epoch kept, ...)
UPDATE_BUGS = ("scheduler_first", "clip_after_step", "no_zero_grad")


def update(model: torch.nn.Module, optimizer, scheduler, max_grad_norm: float, bug: str | None = None) -> None:
    """After ``loss.backward()``: clip the gradient norm, optimiser step, scheduler step, zero the gradients, or
    the same with ``bug``: the scheduler stepped before the optimiser, clipping after the step, no zero_grad."""
    if bug == "scheduler_first":
        scheduler.step()
    if bug == "clip_after_step":
        optimizer.step()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    else:
        clip_and_step(model, optimizer, None, max_grad_norm)
    if bug != "scheduler_first":
        scheduler.step()
    if bug != "no_zero_grad":
        optimizer.zero_grad(set_to_none=True)

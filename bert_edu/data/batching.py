"""Dynamic padding, shared by every task: a batch is padded to ITS longest sequence, not to a fixed length
(notebook 08 explains it; 07, 10 and 11 use it)."""

from __future__ import annotations

from typing import Sequence

import torch


def pad(sequences: Sequence[Sequence[int]], pad_value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(padded, attention_mask)``: a ``(batch, longest)`` long tensor and 1 where a real token stands."""
    longest = max(len(s) for s in sequences)
    padded = torch.full((len(sequences), longest), pad_value, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, s in enumerate(sequences):
        padded[row, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        attention_mask[row, :len(s)] = 1
    return padded, attention_mask

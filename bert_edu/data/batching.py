"""Batches for every task: dynamic padding (a batch is padded to ITS longest sequence, not to a fixed length),
and which examples go into which batch (notebook 08 explains both; 07, 10, 11 and 12 use them).

    pad(sequences, pad_value)                      # (padded, attention_mask) long tensors
    collate(features, pad_token_id)                # one-sentence inputs (+ "label") -> a model's keyword arguments
    shuffled_batches(n, batch_size, rng)           # a random order, cut into batches
    bucketed_batches(lengths, batch_size, rng)     # random batches of similar lengths (less padding)
    sorted_batches(lengths, batch_size)            # evaluation: sorted by length, no randomness
"""

from __future__ import annotations

import random
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


def collate(features: list[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Dynamic padding: pad a batch to ITS longest sequence, and mark the real tokens in ``attention_mask``.

    One sentence per input, so every ``token_type_ids`` is 0 (segment A). A ``label`` in the features
    becomes ``labels`` (one class id per sequence).
    """
    input_ids, attention_mask = pad([f["input_ids"] for f in features], pad_token_id)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask,
             "token_type_ids": torch.zeros_like(input_ids)}
    if "label" in features[0]:
        batch["labels"] = torch.tensor([f["label"] for f in features], dtype=torch.long)
    return batch


def shuffled_batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    """The indices ``0..n-1`` in a random order, cut into batches of ``batch_size`` (the last may be smaller)."""
    order = list(range(n))
    rng.shuffle(order)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random,
                     bucket_batches: int = 50) -> list[list[int]]:
    """Shuffled batches of indices whose sentences have similar lengths.

    Shuffle everything, cut it into chunks of ``bucket_batches`` batches, sort each chunk by length and
    cut it into batches, then shuffle the batches. Each batch then needs little padding, while which
    sentences meet, and the order of the batches, still change every epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches: sorted by length (least padding); the results are put back in input order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

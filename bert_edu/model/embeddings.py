"""The input of BERT: token + position + segment embeddings, then LayerNorm and dropout (notebook 02 builds it).

Section 3.2 of the BERT paper: "For a given token, its input representation is constructed by summing the
corresponding token, segment, and position embeddings." All three are learned lookup tables:

* ``word_embeddings``       (vocab_size, hidden):  what the token is;
* ``position_embeddings``   (max_position_embeddings, hidden): where it is (attention itself ignores order);
* ``token_type_embeddings`` (type_vocab_size, hidden): which segment, sentence A (0) or sentence B (1).

Module and parameter names are those of ``transformers`` (``embeddings.word_embeddings.weight``, ...),
so pretrained weights load without renaming. Notebook 02 builds this module (the learner's version is checked
against this one by bert_edu.course.learner).
"""

from __future__ import annotations

import torch
from torch import nn

from bert_edu.model.config import BertConfig


def check_input_ids(input_ids: torch.Tensor, config: BertConfig, token_type_ids: torch.Tensor | None = None) -> None:
    """Raise a ValueError that names the problem and the fix, instead of an obscure indexing error later."""
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}; "
                         "for one sentence use input_ids[None] or the tokenizer's return_tensors='pt'")
    if input_ids.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
        raise ValueError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    seq_len = input_ids.shape[1]
    if seq_len > config.max_position_embeddings:
        raise ValueError(
            f"the sequence has {seq_len} tokens but this BERT has only {config.max_position_embeddings} "
            "position embeddings (max_position_embeddings). Truncate the input, e.g. "
            f"tokenizer(..., truncation=True, max_length={config.max_position_embeddings})."
        )
    if input_ids.numel():
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= config.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"token id {bad} is outside the vocabulary [0, {config.vocab_size}) of this model. "
                "Use the tokenizer that belongs to this checkpoint (same vocab.txt), or a config whose "
                "vocab_size covers your tokenizer's vocabulary."
            )
    if token_type_ids is not None:
        if token_type_ids.shape != input_ids.shape:
            raise ValueError(f"token_type_ids has shape {tuple(token_type_ids.shape)}, but input_ids has "
                             f"{tuple(input_ids.shape)}; they must match (one segment id per token)")
        if token_type_ids.numel():
            low, high = int(token_type_ids.min()), int(token_type_ids.max())
            if low < 0 or high >= config.type_vocab_size:
                raise ValueError(
                    f"token_type_ids contains {high if high >= config.type_vocab_size else low}, but this model "
                    f"has type_vocab_size={config.type_vocab_size} segments (ids 0..{config.type_vocab_size - 1}). "
                    "Sentence A is 0 and sentence B is 1; the tokenizer's token_type_ids are correct."
                )


class BertEmbeddings(nn.Module):
    """token + position + segment embeddings -> LayerNorm -> dropout, shape (batch, T, hidden)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        # padding_idx only keeps the [PAD] row's gradient at zero; its value is what the checkpoint says.
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # HF's capitalised name
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # positions 0, 1, 2, ...: a buffer so it follows .to(device); not saved (persistent=False)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings)[None], persistent=False)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        if token_type_ids is None:  # a single sentence: every token is in segment A
            token_type_ids = torch.zeros_like(input_ids)
        position_ids = self.position_ids[:, :seq_len]  # (1, T), broadcast over the batch
        embeddings = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(position_ids)
        )
        return self.dropout(self.LayerNorm(embeddings))

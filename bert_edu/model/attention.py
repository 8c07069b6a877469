"""Multi-head self-attention, as in "Attention Is All You Need" (section 3.2) and BERT (notebook 03 builds it).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V

Every token's query is compared with every token's key; the softmax turns the scores of one query into
weights over the keys, and the output is the weighted average of the values. Multi-head attention does
this ``num_attention_heads`` times in parallel on slices of width d_k = hidden / heads, then merges them.

Two ways to compute the same thing live here:

* the explicit formula, :func:`scaled_dot_product_attention`, which also returns the attention weights
  (used when ``output_attentions=True``: plots, bertviz, and the learner's check);
* the fast path, ``torch.nn.functional.scaled_dot_product_attention``, used otherwise: PyTorch picks a kernel
  per call; its fused kernels (FlashAttention-style, memory-efficient) never store the (T, T) weights in full,
  its "math" fallback does; which one runs depends on the device, dtype and mask. A test proves both paths give
  the same output.

Notebook 03 builds these pieces (the learner writes ``attention``, ``split_heads``, ``merge_heads`` and the three
modules in ``#| export`` cells; ``bert_edu.course.learner`` checks them against the ones here).

Padding: a batch pads short sentences to a common length; ``[PAD]`` tokens must not be attended to.
:func:`additive_attention_mask` turns the tokenizer's 1/0 ``attention_mask`` into 0 / a very large
negative number that is added to the scores before the softmax, so padded keys get weight exp(-huge) = 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bert_edu.model.config import BertConfig


def additive_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """1 = real token / 0 = padding  ->  0 / the most negative float, to add to the attention scores.

    A (batch, T) mask from the tokenizer becomes (batch, 1, 1, T): the two singleton axes broadcast over
    heads and over queries, so every query ignores the same keys. A mask that already has 4 axes keeps
    its shape. We add the smallest finite float rather than -inf, so a row with every key masked gives a
    uniform softmax instead of NaN (transformers does the same).
    """
    if attention_mask.dim() == 2:
        attention_mask = attention_mask[:, None, None, :]
    zeros = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device)
    return zeros.masked_fill(attention_mask == 0, torch.finfo(dtype).min)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, T, hidden) -> (batch, heads, T, d_k): each head gets its own slice of the features."""
    batch, seq_len, hidden = x.shape
    return x.view(batch, seq_len, num_heads, hidden // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(batch, heads, T, d_k) -> (batch, T, hidden): the inverse of split_heads (concatenate the heads)."""
    batch, heads, seq_len, head_size = x.shape
    return x.transpose(1, 2).reshape(batch, seq_len, heads * head_size)


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None, dropout_p: float = 0.0,
                                 training: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k) + mask) V, written out. Returns (output, attention weights).

    query, key, value: (..., T, d_k); mask: additive, broadcastable to (..., T_q, T_k).
    Dividing by sqrt(d_k) keeps the scores' variance near 1 whatever the head width, so the softmax
    does not saturate. The softmax is over the last axis: the weights of one query sum to 1.
    """
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = scores + mask  # before the softmax: masked keys get ~zero weight
    weights = torch.softmax(scores, dim=-1)  # torch's softmax subtracts the row max: no overflow
    # Dropout on the weights randomly drops whole "looks" at tokens during training (as in BERT).
    output = F.dropout(weights, p=dropout_p, training=training) @ value
    return output, weights


class BertSelfAttention(nn.Module):
    """The projections Q = x W_Q, K = x W_K, V = x W_V, split into heads, attention, heads merged."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None,
                output_attentions: bool = False,
                head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states (batch, T, hidden); mask: boolean (batch, 1, 1, T), True = may attend, or None;
        head_mask: (heads,) gates, 1 = keep a head, 0 = remove it (as transformers' ``head_mask``), or None.
        Returns the merged context (batch, T, hidden) and the weights (batch, heads, T, T) or None."""
        h = self.num_attention_heads
        q = split_heads(self.query(hidden_states), h)
        k = split_heads(self.key(hidden_states), h)
        v = split_heads(self.value(hidden_states), h)
        p = self.dropout.p if self.training else 0.0
        if output_attentions:  # explicit path: we need the (batch, heads, T, T) weights
            additive = None if mask is None else additive_attention_mask(mask, q.dtype)
            context, weights = scaled_dot_product_attention(q, k, v, additive, p, self.training)
        else:  # fast path: the same maths in one fused kernel (a boolean mask: True = may attend)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        if head_mask is not None:  # (weights * gate) @ V = gate * (weights @ V): gate each head's output
            gate = head_mask.to(context.dtype)[None, :, None, None]
            context = context * gate
            weights = None if weights is None else weights * gate
        return merge_heads(context), weights


class BertSelfOutput(nn.Module):
    """The output projection W_O, dropout, then the residual connection and LayerNorm (post-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    """The attention sub-layer of an encoder layer: LayerNorm(x + Dropout(MultiHead(x) W_O))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.self = BertSelfAttention(config)  # ``self.self``: the name transformers uses, kept for the weights
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None,
                output_attentions: bool = False,
                head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, weights = self.self(hidden_states, mask, output_attentions, head_mask)
        return self.output(context, hidden_states), weights

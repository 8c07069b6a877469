"""The Transformer encoder: a stack of identical layers, each attention + feed-forward (BERT section 3;
notebook 04 builds it).

One layer, "post-LN" as in the original Transformer and BERT (LayerNorm *after* each residual sum):

    x = LayerNorm(x + Dropout(MultiHeadAttention(x) W_O))          # BertAttention
    x = LayerNorm(x + Dropout(GELU(x W_1 + b_1) W_2 + b_2))        # BertIntermediate + BertOutput

The feed-forward network acts on every position separately; it widens to ``intermediate_size``
(4 x hidden in BERT), applies the activation ``config.hidden_act`` names and narrows back. ``"gelu"`` is the exact
GELU, x * Phi(x) with the Gaussian CDF Phi written with erf, as ``transformers`` computes it (and MiniLM's
checkpoint needs); Google's original BERT code computed the tanh approximation (``"gelu_new"``).

Notebook 04 builds these modules (the learner's versions are checked against them by bert_edu.course.learner).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bert_edu.model.activations import ACTIVATIONS, gelu, gelu_tanh  # noqa: F401  (gelu* re-exported)
from bert_edu.model.attention import BertAttention
from bert_edu.model.config import BertConfig


class BertIntermediate(nn.Module):
    """First half of the feed-forward network: hidden -> intermediate_size, then GELU."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    """Second half: intermediate_size -> hidden, dropout, residual, LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    """One encoder layer: the attention sub-layer, then the feed-forward sub-layer."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None,
                output_attentions: bool = False,
                head_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, weights = self.attention(hidden_states, mask, output_attentions, head_mask)
        layer_output = self.output(self.intermediate(attention_output), attention_output)
        return layer_output, weights


class BertEncoder(nn.Module):
    """``num_hidden_layers`` BertLayers applied in turn; optionally collects every layer's output/weights."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False,
                head_mask: torch.Tensor | None = None):
        """Returns (last hidden state, all hidden states or None, all attention weights or None).
        head_mask: (layers, heads) gates (1 = keep, 0 = remove a head) or None.

        all hidden states = (embeddings output, layer 1 output, ..., layer N output), as in transformers.
        """
        all_hidden = [hidden_states] if output_hidden_states else None
        all_weights = [] if output_attentions else None
        for i, layer in enumerate(self.layer):
            gates = None if head_mask is None else head_mask[i]
            hidden_states, weights = layer(hidden_states, mask, output_attentions, gates)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_weights.append(weights)
        return (hidden_states,
                tuple(all_hidden) if output_hidden_states else None,
                tuple(all_weights) if output_attentions else None)

"""The activation functions a BertConfig can name (``hidden_act``): the one table every module reads.

GELU(x) = x * Phi(x) (notebook 04). ``"gelu"`` is the exact erf form, as `transformers` computes it for
``hidden_act="gelu"`` (and so MiniLM's checkpoint); Google's original TensorFlow BERT computed the tanh
approximation (``"gelu_new"`` here). The two differ by less than 1e-3.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x * Phi(x) = x * 0.5 * (1 + erf(x / sqrt(2))), BERT's activation (exact form)."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation of GELU (GPT-2's 'gelu_new'); not what BERT uses."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


# config.hidden_act -> function. The fused F.gelu computes the same exact erf GELU as gelu() above, faster.
ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}



"""Checkers for notebook 04 (encoder): exact GELU, the feed-forward network, add & norm, a layer's size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_edu.model.encoder import gelu, gelu_tanh
from bert_edu.exercises._harness import Checker


def reference_feed_forward(x, w1, b1, w2, b2):
    """GELU(x W1^T + b1) W2^T + b2 with nn.Linear's weight layout (out_features, in_features)."""
    return F.linear(gelu(F.linear(x, w1, b1)), w2, b2)


def reference_add_and_norm(x, sublayer_output, gamma, beta, eps=1e-12):
    """BERT's post-LN residual: LayerNorm(x + Sublayer(x))."""
    return F.layer_norm(x + sublayer_output, x.shape[-1:], gamma, beta, eps)


def reference_layer_parameters(hidden_size: int, intermediate_size: int) -> int:
    """Parameters of one BertLayer: Q, K, V, O (weights + biases), FFN in and out, two LayerNorms."""
    attention = 4 * (hidden_size * hidden_size + hidden_size)
    feed_forward = hidden_size * intermediate_size + intermediate_size + intermediate_size * hidden_size + hidden_size
    layer_norms = 2 * 2 * hidden_size
    return attention + feed_forward + layer_norms


def check_gelu(fn, quiet: bool = False) -> bool:
    """fn(x) -> GELU(x) = x * Phi(x), the exact (erf) form BERT uses."""
    ck = Checker("gelu", fn, quiet=quiet)
    x = torch.linspace(-5, 5, 101)
    mistakes = {
        "that is the tanh approximation; BERT uses the exact form x * 0.5 * (1 + erf(x / sqrt(2)))": gelu_tanh(x),
        "that is ReLU, not GELU": torch.relu(x),
        "that is x * sigmoid(1.702 x), a cheaper approximation; use erf": x * torch.sigmoid(1.702 * x),
        "that is SiLU/swish, x * sigmoid(x)": x * torch.sigmoid(x),
        "Phi(x) = 0.5 * (1 + erf(x / sqrt(2))): divide by sqrt(2) inside erf": x * 0.5 * (1 + torch.erf(x)),
    }
    with ck.case("101 points in [-5, 5]") as case:
        case.expect_close(fn(x), gelu(x), atol=1e-6, mistakes=mistakes)
    with ck.case("a (2, 3, 4) tensor keeps its shape") as case:
        y = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
        case.expect_close(fn(y), gelu(y), atol=1e-6)
    return ck.verdict()


def check_feed_forward(fn, quiet: bool = False) -> bool:
    """fn(x, w1, b1, w2, b2) -> GELU(x W1^T + b1) W2^T + b2; w1 (intermediate, hidden), w2 (hidden, intermediate)."""
    ck = Checker("feed_forward", fn, quiet=quiet)
    g = torch.Generator().manual_seed(2)
    hidden, inter = 8, 32
    x = torch.randn(2, 5, hidden, generator=g)
    w1, b1 = torch.randn(inter, hidden, generator=g) * 0.5, torch.randn(inter, generator=g)
    w2, b2 = torch.randn(hidden, inter, generator=g) * 0.5, torch.randn(hidden, generator=g)
    with ck.case("hidden 8 -> intermediate 32 -> hidden 8, batch of 2 x 5 tokens") as case:
        case.expect_close(fn(x, w1, b1, w2, b2), reference_feed_forward(x, w1, b1, w2, b2), atol=1e-5, mistakes={
            "the activation is missing between the two linear maps": F.linear(F.linear(x, w1, b1), w2, b2),
            "BERT's activation is GELU (exact erf form), not ReLU": F.linear(torch.relu(F.linear(x, w1, b1)), w2, b2),
            "use the exact erf GELU, not the tanh approximation": F.linear(gelu_tanh(F.linear(x, w1, b1)), w2, b2),
            "add the biases b1 and b2": F.linear(gelu(F.linear(x, w1)), w2),
        })
    return ck.verdict()


def check_add_and_norm(fn, quiet: bool = False) -> bool:
    """fn(x, sublayer_output, gamma, beta, eps) -> LayerNorm(x + sublayer_output) (post-LN, as BERT)."""
    ck = Checker("add_and_norm", fn, quiet=quiet)
    g = torch.Generator().manual_seed(3)
    x, sub = torch.randn(2, 4, 6, generator=g) * 2, torch.randn(2, 4, 6, generator=g)
    gamma, beta = torch.rand(6, generator=g) + 0.5, torch.randn(6, generator=g)

    def ln(t):
        return F.layer_norm(t, (6,), gamma, beta, 1e-12)

    with ck.case("(2, 4, 6) residual stream") as case:
        case.expect_close(fn(x, sub, gamma, beta, 1e-12), reference_add_and_norm(x, sub, gamma, beta), mistakes={
            "that is pre-LN (x + LayerNorm(sublayer)); BERT normalises after the sum: LayerNorm(x + sublayer)":
                x + ln(sub),
            "the residual is missing: add the sublayer's input x before the LayerNorm": ln(sub),
            "LayerNorm is missing after the residual sum": x + sub,
        })
    return ck.verdict()


def check_layer_parameters(fn, quiet: bool = False) -> bool:
    """fn(hidden_size, intermediate_size) -> parameters of one encoder layer (BertLayer)."""
    ck = Checker("layer_parameters", fn, quiet=quiet)
    for h, i, name in [(384, 1536, "all-MiniLM-L6-v2"), (768, 3072, "BERT-base"), (128, 512, "a tiny model")]:
        with ck.case(f"{name}: hidden {h}, intermediate {i}") as case:
            weights_only = 4 * h * h + 2 * h * i
            case.expect_equal(fn(h, i), reference_layer_parameters(h, i), what="parameter count", mistakes={
                "count the biases and LayerNorms too, not only the weight matrices": weights_only,
                "each of the two LayerNorms has gamma AND beta (2 x hidden each)":
                    reference_layer_parameters(h, i) - 2 * h,
                "the output projection W_O (hidden x hidden + bias) belongs to the attention too":
                    reference_layer_parameters(h, i) - h * h - h,
                "count the LayerNorms: two per layer, 2 x hidden parameters each":
                    reference_layer_parameters(h, i) - 4 * h,
            })
    return ck.verdict()


"""Checkers for notebook 04 (encoder): exact GELU, the pre-LN residual, a layer's size, and the learner's modules
BertIntermediate, BertOutput, BertLayer, BertEncoder (checked against bert_edu.model.encoder)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_edu.exercises._harness import Checker
from bert_edu.exercises._modules import expect_dropout, pair, tiny_config
from bert_edu.model.activations import gelu, gelu_tanh
from bert_edu.model.encoder import BertEncoder, BertIntermediate, BertLayer, BertOutput


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


def reference_pre_ln_sublayer(x, sublayer, gamma, beta, eps=1e-12):
    """The pre-LN residual (GPT-2 and most models since): x + Sublayer(LayerNorm(x))."""
    return x + sublayer(F.layer_norm(x, x.shape[-1:], gamma, beta, eps))


def check_pre_ln_sublayer(fn, quiet: bool = False) -> bool:
    """fn(x, sublayer, gamma, beta, eps) -> x + sublayer(LayerNorm(x)); ``sublayer`` is a function of a tensor."""
    ck = Checker("pre_ln_sublayer", fn, quiet=quiet)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 6, generator=g) * 2 + 1
    gamma, beta = torch.rand(6, generator=g) + 0.5, torch.randn(6, generator=g)
    w = torch.randn(6, 6, generator=g)

    def sublayer(t):
        return torch.tanh(t @ w)

    def ln(t):
        return F.layer_norm(t, (6,), gamma, beta, 1e-12)

    with ck.case("(2, 4, 6) residual stream, sublayer = tanh(x W)") as case:
        case.expect_close(fn(x, sublayer, gamma, beta, 1e-12), reference_pre_ln_sublayer(x, sublayer, gamma, beta),
                          mistakes={
                              "that is BERT's post-LN, LayerNorm(x + sublayer(x)); pre-LN normalises the "
                              "sub-layer's INPUT and leaves the residual path untouched": ln(x + sublayer(x)),
                              "the residual is missing: add x to the sub-layer's output": sublayer(ln(x)),
                              "normalise the input of the sub-layer, not its output: x + sublayer(LayerNorm(x))":
                                  x + ln(sublayer(x)),
                              "the residual adds the raw x, not LayerNorm(x)": ln(x) + sublayer(ln(x)),
                          })
    return ck.verdict()


# --------------------------------------------------------------------------- the modules of notebook 04

def _hidden(b=2, t=5, width=16, seed=3):
    return torch.randn(b, t, width, generator=torch.Generator().manual_seed(seed))


_PAD = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])[:, None, None, :].bool()


def check_bert_intermediate(cls, quiet: bool = False) -> bool:
    """cls(config) with ``dense`` (hidden -> intermediate); forward(h) -> act(dense(h)), act = config.hidden_act."""
    ck = Checker("bert_intermediate", cls, quiet=quiet)
    h = _hidden(seed=8)
    for act in ("gelu", "relu"):
        with ck.case(f"hidden 16 -> intermediate 32, hidden_act={act!r}") as case:
            module, reference = pair(cls, BertIntermediate, tiny_config(hidden_act=act))
            with torch.no_grad():
                z = reference.dense(h)
                case.expect_close(module(h), reference(h), mistakes={
                    "the activation is missing after the dense layer": z,
                    "that is the tanh approximation of GELU; hidden_act='gelu' is the exact erf form "
                    "(read the activation from ACTIVATIONS[config.hidden_act])": gelu_tanh(z),
                    "use the activation the config names, ACTIVATIONS[config.hidden_act], not always GELU":
                        gelu(z),
                    "use the activation the config names, ACTIVATIONS[config.hidden_act], not always ReLU":
                        torch.relu(z),
                })
    return ck.verdict()


def check_bert_output(cls, quiet: bool = False) -> bool:
    """cls(config) with dense (intermediate -> hidden), LayerNorm, dropout; forward(intermediate, input_tensor)
    -> LayerNorm(dropout(dense(intermediate)) + input_tensor)."""
    ck = Checker("bert_output", cls, quiet=quiet)
    inner, x = _hidden(width=32, seed=9), _hidden(seed=10)
    with ck.case("intermediate 32 -> hidden 16, then LayerNorm(x + ...)") as case:
        module, reference = pair(cls, BertOutput, tiny_config())
        with torch.no_grad():
            dense, norm = reference.dense(inner), reference.LayerNorm
            case.expect_close(module(inner, x), reference(inner, x), mistakes={
                "that is pre-LN (x + LayerNorm(...)); BERT normalises after the sum: LayerNorm(dense(h) + x)":
                    x + norm(dense),
                "the residual is missing: add input_tensor (the attention sub-layer's output)": norm(dense),
                "LayerNorm is missing after the residual sum": dense + x,
            })
    with ck.case("dropout (hidden_dropout_prob) in training mode") as case:
        expect_dropout(case, cls, lambda m: m(inner, x), where="to dense(h) before the residual sum",
                       active={"hidden_dropout_prob": 0.5})
    return ck.verdict()


def check_bert_layer(cls, quiet: bool = False) -> bool:
    """cls(config) with attention, intermediate, output; forward(hidden_states, mask=None, output_attentions=False)
    -> (layer output, attention weights)."""
    ck = Checker("bert_layer", cls, quiet=quiet)
    h = _hidden(seed=11)
    with ck.case("one encoder layer on a padded batch") as case:
        module, reference = pair(cls, BertLayer, tiny_config())
        with torch.no_grad():
            got = module(h, _PAD, output_attentions=True)
            expected = reference(h, _PAD, output_attentions=True)
            a = reference.attention(h, _PAD)[0]
            mistakes = {
                "the feed-forward's residual adds the attention sub-layer's output, "
                "self.output(self.intermediate(a), a), not the layer's input": reference.output(reference.intermediate(a), h),
                "the feed-forward sub-layer is missing": a,
                "pass the mask on to self.attention": reference.output(reference.intermediate(
                    reference.attention(h)[0]), reference.attention(h)[0]),
            }
        case.expect(isinstance(got, tuple) and len(got) == 2, "forward returns (layer output, weights)")
        case.expect_close(got[0], expected[0], mistakes=mistakes)
        case.expect_close(got[1], expected[1], what="weights")
    return ck.verdict()


def check_bert_encoder(cls, quiet: bool = False) -> bool:
    """cls(config) with ``layer`` (an nn.ModuleList of num_hidden_layers BertLayers); forward(hidden_states,
    mask=None, output_attentions=False, output_hidden_states=False) -> (last, all hidden states or None,
    all attention weights or None)."""
    ck = Checker("bert_encoder", cls, quiet=quiet)
    h = _hidden(seed=12)
    with ck.case("parameter names: layer.0 ... layer.N-1, each its own weights") as case:
        module, reference = pair(cls, BertEncoder, tiny_config(num_hidden_layers=3))
        layers = list(getattr(module, "layer", []))
        case.expect(len({id(m) for m in layers}) == len(layers),
                    "each layer needs its own weights: build a new BertLayer(config) for each one, "
                    "not [BertLayer(config)] * n (that repeats ONE layer)")
    with ck.case("last hidden state of 3 layers, a padded batch") as case:
        module, reference = pair(cls, BertEncoder, tiny_config(num_hidden_layers=3))
        with torch.no_grad():
            got = module(h, _PAD)
            expected = reference(h, _PAD)[0]
            layers = reference.layer
            mistakes = {
                "apply every layer to the previous layer's output (h = layer(h, mask)[0]), not to the input":
                    layers[-1](h, _PAD)[0],
                "stop after the last layer: one pass through self.layer": layers[0](expected, _PAD)[0],
            }
        case.expect(isinstance(got, tuple) and len(got) == 3,
                    "forward returns a tuple of three: (last hidden state, hidden states or None, weights or None)")
        case.expect_close(got[0], expected, mistakes=mistakes)
    with ck.case("output_hidden_states=True, output_attentions=True") as case:
        module, reference = pair(cls, BertEncoder, tiny_config(num_hidden_layers=3))
        with torch.no_grad():
            got = module(h, _PAD, output_attentions=True, output_hidden_states=True)
            _, hidden, weights = reference(h, _PAD, output_attentions=True, output_hidden_states=True)
        case.expect(got[1] is not None and len(got[1]) == len(hidden),
                    f"hidden states: expected {len(hidden)} tensors (the encoder's input, then one per layer), got "
                    f"{None if got[1] is None else len(got[1])}: they start with the input (the embeddings' output)")
        case.expect(got[2] is not None and len(got[2]) == len(weights),
                    f"attentions: expected one (batch, heads, T, T) tensor per layer ({len(weights)})")
        for i, (a, b) in enumerate(zip(got[1], hidden)):
            case.expect_close(a, b, what=f"hidden state {i}")
        for i, (a, b) in enumerate(zip(got[2], weights)):
            case.expect_close(a, b, what=f"attention weights of layer {i}")
    return ck.verdict()

"""Checkers for notebook 05 (the full model): mean pooling, the parameter count of a BERT, and the learner's
modules BertPooler and BertModel with BERT's initialisation (checked against bert_edu.model.bert)."""

from __future__ import annotations

import torch
from torch import nn

from bert_edu.exercises._harness import Checker
from bert_edu.exercises._modules import build, pair, tiny_config
from bert_edu.exercises._messages import say
from bert_edu.model.bert import BertModel, BertPooler, mean_pooling
from bert_edu.model.config import BertConfig


def reference_parameter_count(config: BertConfig) -> int:
    """Parameters of BertModel (embeddings + encoder layers + pooler), computed from the config alone."""
    h = config.hidden_size
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h + 2 * h
    pooler = h * h + h
    return embeddings + config.num_hidden_layers * _layer(config) + pooler


def check_mean_pooling(fn, quiet: bool = False) -> bool:
    """fn(last_hidden_state, attention_mask) -> (batch, hidden): mean over real tokens, padding excluded."""
    ck = Checker("mean_pooling", fn, quiet=quiet)
    g = torch.Generator().manual_seed(1)
    h = torch.randn(3, 6, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    m = mask[..., None].float()
    with ck.case("3 sentences of 6, 3 and 2 real tokens") as case:
        case.expect_close(fn(h, mask), mean_pooling(h, mask), mistakes={
            "padding positions must not count: average only where attention_mask is 1": h.mean(1),
            "divide by the number of real tokens, not by T": (h * m).sum(1) / h.shape[1],
            "mean pooling averages all real tokens, not just [CLS]": h[:, 0],
        })
    with ck.case("no padding at all") as case:
        full = torch.ones(3, 6, dtype=torch.long)
        case.expect_close(fn(h, full), h.mean(1))
    return ck.verdict()


def check_parameter_count(fn, quiet: bool = False) -> bool:
    """fn(config) -> number of parameters of BertModel(config), pooler included."""
    ck = Checker("parameter_count", fn, quiet=quiet)
    configs = {
        "all-MiniLM-L6-v2": BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                       intermediate_size=1536),
        "BERT-base": BertConfig(),
        "a tiny model": BertConfig(vocab_size=8000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=512, max_position_embeddings=128),
    }
    for name, config in configs.items():
        h = config.hidden_size
        ref = reference_parameter_count(config)
        with ck.case(f"{name}: {config.num_hidden_layers} layers, hidden {h}") as case:
            case.expect_equal(fn(config), ref, what="parameter count", mistakes={
                "the pooler (hidden x hidden + bias) is part of BertModel": ref - h * h - h,
                "count the position and segment embedding tables too":
                    ref - (config.max_position_embeddings + config.type_vocab_size) * h,
                "every layer has 2 LayerNorms (and the embeddings 1), each with gamma and beta":
                    ref - (4 * config.num_hidden_layers + 2) * h,
                "multiply the per-layer count by num_hidden_layers":
                    ref - (config.num_hidden_layers - 1) * _layer(config),
            })
    return ck.verdict()


def _layer(config: BertConfig) -> int:
    """One encoder layer: Q, K, V, O with biases, the two feed-forward maps with biases, two LayerNorms."""
    h, i = config.hidden_size, config.intermediate_size
    return 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h


# --------------------------------------------------------------------------- the modules of notebook 05

def check_bert_pooler(cls, quiet: bool = False) -> bool:
    """cls(config) with ``dense``; forward(hidden_states) -> tanh(dense(hidden_states[:, 0])), (batch, hidden)."""
    ck = Checker("bert_pooler", cls, quiet=quiet)
    h = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(0))
    with ck.case("batch of 3, T=5, hidden 16") as case:
        module, reference = pair(cls, BertPooler, tiny_config())
        with torch.no_grad():
            dense = reference.dense
            case.expect_close(module(h), reference(h), mistakes={
                "take the [CLS] token, position 0, not the mean over tokens": torch.tanh(dense(h.mean(1))),
                "take the first token (position 0), not the last": torch.tanh(dense(h[:, -1])),
                "the pooler ends with tanh": dense(h[:, 0]),
            })
    return ck.verdict()


def _init_problems(model: nn.Module, std: float, pad: int) -> list[str]:
    """What differs from BERT's initialisation (transformers' BertPreTrainedModel._init_weights)."""
    problems = []
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    for kind, modules in (("nn.Linear", linear), ("nn.Embedding", embeddings)):
        weights = torch.cat([m.weight.detach().flatten() for m in modules]) if modules else torch.zeros(1)
        if modules and not (0.85 * std < weights.std().item() < 1.15 * std and abs(weights.mean().item()) < 0.1 * std):
            problems.append(f"{kind} weights have mean {weights.mean().item():.3f} and std {weights.std().item():.3f}; "
                            f"BERT draws them from a normal distribution with mean 0 and std "
                            f"config.initializer_range ({std}): nn.init.normal_(module.weight, 0.0, std)")
    if any(m.bias is not None and m.bias.detach().abs().max() > 0 for m in linear):
        problems.append("nn.Linear biases must start at zero: nn.init.zeros_(module.bias)")
    if any(not torch.all(m.weight == 1) or not torch.all(m.bias == 0) for m in norms):
        problems.append("LayerNorm starts as the identity: weight (gamma) ones, bias (beta) zeros")
    word = [m for m in embeddings if m.padding_idx is not None]
    if not word:
        problems.append(f"the word embeddings need padding_idx=config.pad_token_id ({pad}), as in transformers")
    elif any(m.weight[m.padding_idx].abs().max() > 0 for m in word):
        problems.append("the [PAD] row of the word embeddings (padding_idx) must be zero after initialisation")
    return problems


def check_bert_model(cls, quiet: bool = False) -> bool:
    """cls(config) with embeddings, encoder, pooler and BERT's initialisation; forward(input_ids,
    attention_mask=None, token_type_ids=None, output_attentions=False, output_hidden_states=False) -> an output
    with last_hidden_state, pooler_output, hidden_states, attentions (as bert_edu.model.bert.BertModelOutput)."""
    ck = Checker("bert_model", cls, quiet=quiet)
    config = tiny_config()
    ids = torch.tensor([[2, 7, 9, 4, 3, 11, 3], [2, 5, 3, 8, 3, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0, 0]])
    attention_mask = (ids != 0).long()
    with ck.case("parameter names: embeddings, encoder, pooler (transformers' names)") as case:
        module, reference = pair(cls, BertModel, config)
    with ck.case("a padded batch of sentence pairs: last_hidden_state and pooler_output") as case:
        module, reference = pair(cls, BertModel, config)
        with torch.no_grad():
            got = module(ids, attention_mask, types)
            expected = reference(ids, attention_mask, types)
            unmasked = reference(ids, None, types)
            untyped = reference(ids, attention_mask)
        case.expect(hasattr(got, "last_hidden_state") and hasattr(got, "pooler_output"),
                    "return BertModelOutput(last_hidden_state, pooler_output, hidden_states, attentions)")
        case.expect_close(got.last_hidden_state, expected.last_hidden_state, what="last_hidden_state", mistakes={
            "the attention_mask was not used: turn it into a (batch, 1, 1, T) boolean mask for the encoder":
                unmasked.last_hidden_state,
            "pass token_type_ids on to the embeddings": untyped.last_hidden_state,
        })
        case.expect_close(got.pooler_output, expected.pooler_output, what="pooler_output")
    with ck.case("output_hidden_states=True and output_attentions=True") as case:
        module, reference = pair(cls, BertModel, config)
        with torch.no_grad():
            got = module(ids, attention_mask, types, output_attentions=True, output_hidden_states=True)
            expected = reference(ids, attention_mask, types, output_attentions=True, output_hidden_states=True)
        for field in ("hidden_states", "attentions"):
            g, e = getattr(got, field, None), getattr(expected, field)
            case.expect(g is not None and len(g) == len(e), f"{field}: expected {len(e)} tensors, got "
                        f"{None if g is None else len(g)} (pass output_{'hidden_states' if field == 'hidden_states' else 'attentions'} on to the encoder)")
            for i, (a, b) in enumerate(zip(g, e)):
                case.expect_close(a, b, what=f"{field}[{i}]")
    with ck.case("BERT's initialisation: normal(0, initializer_range), zero biases, LayerNorm = identity, [PAD] row 0") \
            as case:
        fresh = build(cls, tiny_config(hidden_size=32, intermediate_size=64, vocab_size=200), seed=1)
        problems = _init_problems(fresh, 0.2, 0)
        # each problem is a message of its own: translated one by one (say() leaves English as it is)
        case.expect(not problems, "; ".join(say(p) for p in problems))
    return ck.verdict()

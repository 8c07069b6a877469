"""Checkers for notebook 05 (the full model): the pooler, mean pooling, the parameter count of a BERT."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_edu.model.config import BertConfig
from bert_edu.exercises._harness import Checker
from bert_edu.model.bert import mean_pooling


def reference_pooler(last_hidden_state, weight, bias):
    """tanh(W h_[CLS] + b): the [CLS] vector (position 0) through a dense layer and tanh."""
    return torch.tanh(F.linear(last_hidden_state[:, 0], weight, bias))


def reference_parameter_count(config: BertConfig) -> int:
    """Parameters of BertModel (embeddings + encoder layers + pooler), computed from the config alone."""
    h, i = config.hidden_size, config.intermediate_size
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h + 2 * h
    pooler = h * h + h
    return embeddings + config.num_hidden_layers * _layer(config) + pooler


def check_pooler(fn, quiet: bool = False) -> bool:
    """fn(last_hidden_state, weight, bias) -> (batch, hidden) pooled output."""
    ck = Checker("pooler", fn, quiet=quiet)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 5, 8, generator=g)
    w, b = torch.randn(8, 8, generator=g) * 0.5, torch.randn(8, generator=g)
    with ck.case("batch of 3, T=5, hidden 8") as case:
        case.expect_close(fn(h, w, b), reference_pooler(h, w, b), mistakes={
            "take the [CLS] token, position 0, not the mean over tokens": torch.tanh(F.linear(h.mean(1), w, b)),
            "take the first token (position 0), not the last": torch.tanh(F.linear(h[:, -1], w, b)),
            "the pooler ends with tanh": F.linear(h[:, 0], w, b),
            "nn.Linear computes x W^T + b: transpose the weight (or use F.linear)": torch.tanh(h[:, 0] @ w + b),
        })
    return ck.verdict()


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

"""Checkers for notebook 02 (embeddings): LayerNorm from scratch, the learner's BertEmbeddings module, a parameter count."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bert_edu.exercises._harness import Checker
from bert_edu.exercises._modules import build, expect_dropout, pair, tiny_config
from bert_edu.model.embeddings import BertEmbeddings


def reference_layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-12):
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis; var is the biased (1/n) variance."""
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)


def reference_embedding_parameters(vocab_size: int, hidden_size: int, max_position_embeddings: int,
                                   type_vocab_size: int) -> int:
    """Number of parameters in BertEmbeddings: three tables and LayerNorm's gamma and beta."""
    return (vocab_size + max_position_embeddings + type_vocab_size) * hidden_size + 2 * hidden_size


def check_layer_norm(fn, quiet: bool = False) -> bool:
    """fn(x, gamma, beta, eps) -> LayerNorm over the last axis, written with mean/var, not F.layer_norm."""
    ck = Checker("layer_norm", fn, quiet=quiet)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, generator=g) * 3 + 1
    gamma, beta = torch.rand(8, generator=g) + 0.5, torch.randn(8, generator=g)

    def wrong_unbiased(x, gamma, beta, eps):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + eps) * gamma + beta

    def wrong_axis(x, gamma, beta, eps):
        return (x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, keepdim=True, unbiased=False) + eps) * gamma + beta

    def no_affine(x, gamma, beta, eps):
        return reference_layer_norm(x, torch.ones_like(gamma), torch.zeros_like(beta), eps)

    def eps_outside(x, gamma, beta, eps):
        return (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True, unbiased=False) + eps) * gamma + beta

    with ck.case("(2, 3, 8) activations, eps=1e-12") as case:
        case.expect_close(fn(x, gamma, beta, 1e-12), reference_layer_norm(x, gamma, beta, 1e-12), mistakes={
            "the variance must be the biased one (divide by n): use x.var(-1, unbiased=False) "
            "or ((x - mean)**2).mean(-1)": wrong_unbiased(x, gamma, beta, 1e-12),
            "normalise over the last axis (the features of one token), dim=-1": wrong_axis(x, gamma, beta, 1e-12),
            "multiply by gamma and add beta after normalising": no_affine(x, gamma, beta, 1e-12),
        })
    small = torch.randn(4, 5, generator=g) * 0.01
    gamma5, beta5 = torch.ones(5), torch.zeros(5)
    with ck.case("tiny values with a large eps=0.1 (where eps goes matters)") as case:
        case.expect_close(fn(small, gamma5, beta5, 0.1), reference_layer_norm(small, gamma5, beta5, 0.1), mistakes={
            "eps goes inside the square root: sqrt(var + eps)": eps_outside(small, gamma5, beta5, 0.1),
            "the variance must be the biased one (divide by n)": wrong_unbiased(small, gamma5, beta5, 0.1),
        })
    return ck.verdict()


def check_embedding_parameters(fn, quiet: bool = False) -> bool:
    """fn(vocab_size, hidden_size, max_position_embeddings, type_vocab_size) -> int."""
    ck = Checker("embedding_parameters", fn, quiet=quiet)
    for sizes, name in [((30522, 384, 512, 2), "all-MiniLM-L6-v2"), ((30522, 768, 512, 2), "BERT-base"),
                        ((8000, 128, 128, 2), "a tiny course model")]:
        v, h, m, t = sizes
        with ck.case(f"{name}: vocab {v}, hidden {h}, {m} positions, {t} segments") as case:
            case.expect_equal(fn(*sizes), reference_embedding_parameters(*sizes), mistakes={
                "LayerNorm has parameters too: gamma and beta, hidden_size each": (v + m + t) * h,
                "count the position and segment tables too, not only the word table": v * h + 2 * h,
                "LayerNorm has two vectors (gamma and beta), not one": (v + m + t) * h + h,
            }, what="parameter count")
    return ck.verdict()


# --------------------------------------------------------------------------- the module of notebook 02

def check_bert_embeddings(cls, quiet: bool = False) -> bool:
    """cls(config) with word_embeddings, position_embeddings, token_type_embeddings, LayerNorm, dropout;
    forward(input_ids, token_type_ids=None) -> (batch, T, hidden)."""
    ck = Checker("bert_embeddings", cls, quiet=quiet)
    config = tiny_config()
    ids = torch.tensor([[2, 5, 7, 3, 9, 3], [2, 11, 3, 13, 3, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]])
    with ck.case("parameter names and shapes (transformers' names, so MiniLM's checkpoint loads)") as case:
        module, reference = pair(cls, BertEmbeddings, config)
    with ck.case("a batch of 2 sentence pairs, T=6") as case:
        module, reference = pair(cls, BertEmbeddings, config)
        with torch.no_grad():
            w, p, t = (reference.word_embeddings.weight, reference.position_embeddings.weight,
                       reference.token_type_embeddings.weight)
            ln, pos = reference.LayerNorm, torch.arange(ids.shape[1])
            case.expect_close(module(ids, types), reference(ids, types), mistakes={
                "the position embeddings are missing": ln(w[ids] + t[types]),
                "the segment (token type) embeddings are missing": ln(w[ids] + p[pos]),
                "LayerNorm is missing (or applied before summing)": w[ids] + p[pos] + t[types],
                "positions are 0, 1, ..., T-1 for every sentence, not the token ids":
                    ln(w[ids] + p[ids.clamp(max=config.max_position_embeddings - 1)] + t[types]),
            })
    with ck.case("token_type_ids=None: every token is in sentence A (segment 0)") as case:
        module, reference = pair(cls, BertEmbeddings, config)
        with torch.no_grad():
            case.expect_close(module(ids[:1, :3]), reference(ids[:1, :3]))
    with ck.case("padding_idx: the [PAD] row gets no gradient, as in transformers") as case:
        word = getattr(build(cls, config), "word_embeddings", None)
        case.expect(isinstance(word, nn.Embedding) and word.padding_idx == config.pad_token_id,
                    "build the word table with nn.Embedding(vocab_size, hidden_size, padding_idx=config.pad_token_id)")
    with ck.case("dropout after LayerNorm in training mode (hidden_dropout_prob)") as case:
        expect_dropout(case, cls, lambda m: m(ids, types), where="to the normalised sum, as the last step",
                       active={"hidden_dropout_prob": 0.5}, inactive={"attention_probs_dropout_prob": 0.5})
        trained = build(cls, tiny_config(hidden_dropout_prob=0.5)).train()
        with torch.no_grad():
            zeros = (trained(ids, types) == 0).float().mean().item()
        case.expect(0.3 < zeros < 0.7, f"{zeros:.0%} of the outputs are exactly zero with hidden_dropout_prob=0.5 "
                    "(expected about half): dropout comes last, after LayerNorm")
    return ck.verdict()

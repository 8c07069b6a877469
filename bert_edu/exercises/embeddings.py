"""Checkers for notebook 02 (embeddings): LayerNorm from scratch, the BERT input embedding, a parameter count."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_edu.exercises._harness import Checker


def reference_layer_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-12):
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis; var is the biased (1/n) variance."""
    return F.layer_norm(x, x.shape[-1:], gamma, beta, eps)


def reference_embed(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                    gamma, beta, eps: float = 1e-12):
    """LayerNorm(E_word[ids] + E_pos[0..T-1] + E_type[types]) with the tables given as tensors."""
    positions = torch.arange(input_ids.shape[1])
    summed = word_embeddings[input_ids] + position_embeddings[positions] + token_type_embeddings[token_type_ids]
    return reference_layer_norm(summed, gamma, beta, eps)


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


def check_embeddings(fn, quiet: bool = False) -> bool:
    """fn(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings, gamma, beta,
    eps) -> (batch, T, hidden): the BERT input representation (dropout left out)."""
    ck = Checker("embeddings", fn, quiet=quiet)
    g = torch.Generator().manual_seed(1)
    hidden = 6
    tables = dict(word_embeddings=torch.randn(20, hidden, generator=g),
                  position_embeddings=torch.randn(10, hidden, generator=g),
                  token_type_embeddings=torch.randn(2, hidden, generator=g))
    gamma, beta = torch.rand(hidden, generator=g) + 0.5, torch.randn(hidden, generator=g)
    ids = torch.tensor([[2, 5, 7, 3, 9, 3], [2, 11, 3, 13, 3, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]])
    w, p, t = tables["word_embeddings"], tables["position_embeddings"], tables["token_type_embeddings"]
    pos = torch.arange(6)

    def ln(x):
        return reference_layer_norm(x, gamma, beta, 1e-12)

    mistakes = {
        "the position embeddings are missing": ln(w[ids] + t[types]),
        "the segment (token type) embeddings are missing": ln(w[ids] + p[pos]),
        "LayerNorm is missing (or applied before summing)": w[ids] + p[pos] + t[types],
        "positions must be 0, 1, ..., T-1 for every sentence, not the token ids": ln(w[ids] + p[ids.clamp(max=9)] + t[types]),
    }
    with ck.case("a batch of 2 sentence pairs, T=6") as case:
        got = fn(ids, types, w, p, t, gamma, beta, 1e-12)
        case.expect_close(got, reference_embed(ids, types, w, p, t, gamma, beta), mistakes=mistakes)
    with ck.case("one sentence of 3 tokens (positions 0..2 only)") as case:
        ids1, types1 = torch.tensor([[2, 4, 3]]), torch.zeros(1, 3, dtype=torch.long)
        case.expect_close(fn(ids1, types1, w, p, t, gamma, beta, 1e-12),
                          reference_embed(ids1, types1, w, p, t, gamma, beta))
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

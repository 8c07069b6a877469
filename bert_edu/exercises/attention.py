"""Checkers for notebook 03 (attention): scaled dot-product attention with a padding mask, head split/merge."""

from __future__ import annotations

import math

import torch

from bert_edu.model.attention import additive_attention_mask, merge_heads, scaled_dot_product_attention, split_heads
from bert_edu.exercises._harness import Checker


def reference_attention(query, key, value, mask=None):
    """(output, weights) of softmax(Q K^T / sqrt(d_k) + additive(mask)) V; mask: 1 = attend, 0 = padding,
    any shape that broadcasts to (..., T_q, T_k), e.g. (batch, 1, 1, T)."""
    additive = None if mask is None else additive_attention_mask(mask, query.dtype)
    return scaled_dot_product_attention(query, key, value, additive)


def _wrong_attention(query, key, value, mask, *, scale="d", axis=-1, mask_mode="add"):
    d, t = query.shape[-1], key.shape[-2]
    scores = query @ key.transpose(-2, -1)
    if scale == "d":
        scores = scores / math.sqrt(d)
    elif scale == "T":
        scores = scores / math.sqrt(t)
    elif scale == "d_no_sqrt":
        scores = scores / d
    if mask is not None and mask_mode == "add":
        scores = scores + additive_attention_mask(mask, scores.dtype)
    if mask is not None and mask_mode == "multiply_scores":
        scores = scores * mask
    weights = torch.softmax(scores, dim=axis)
    if mask is not None and mask_mode == "after_softmax":
        weights = weights * mask
    return weights @ value, weights


def check_attention(fn, quiet: bool = False) -> bool:
    """fn(query, key, value, mask=None) -> (output, weights); query/key/value (batch, heads, T, d_k),
    mask (batch, 1, 1, T) with 1 = real token, 0 = padding."""
    ck = Checker("attention", fn, quiet=quiet)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 16, generator=g) * 1.5 for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])[:, None, None, :]

    def hints(mask_):
        out = {}
        for hint, kwargs in [
            ("divide the scores by sqrt(d_k), the head width (query.shape[-1]), not sqrt(T)", dict(scale="T")),
            ("the scores must be scaled: divide Q K^T by sqrt(d_k)", dict(scale=None)),
            ("divide by the square root of d_k, not by d_k itself", dict(scale="d_no_sqrt")),
            ("the softmax goes over the keys, the last axis (dim=-1)", dict(axis=-2)),
            ("apply the mask before the softmax (add a large negative number to masked scores); "
             "zeroing weights after the softmax leaves rows that no longer sum to 1", dict(mask_mode="after_softmax")),
            ("the mask must be added as a large negative number, not multiplied into the scores "
             "(a score of 0 still gets weight)", dict(mask_mode="multiply_scores")),
            ("the padding mask was not applied", dict(mask_mode="none")),
        ]:
            if mask_ is None and "mask" in hint:
                continue
            out[hint] = _wrong_attention(q, k, v, mask_, **kwargs)
        return out

    for name, mask_ in [("no padding (mask=None)", None), ("second sentence padded after 3 tokens", mask)]:
        with ck.case(name) as case:
            got = fn(q, k, v, mask_)
            case.expect(isinstance(got, tuple) and len(got) == 2,
                        "return a tuple (output, weights): the weights are what we plot later")
            ref_out, ref_w = reference_attention(q, k, v, mask_)
            wrong = hints(mask_)
            case.expect_close(got[1], ref_w, what="weights", mistakes={h: w[1] for h, w in wrong.items()})
            case.expect_close(got[0], ref_out, what="output", mistakes={h: w[0] for h, w in wrong.items()})
    with ck.case("large scores (numerical stability: no NaN or inf)") as case:
        big = q[:1, :1] * 1000
        got = fn(big, big, v[:1, :1], None)
        case.expect_close(got[1], reference_attention(big, big, v[:1, :1])[1], what="weights", atol=1e-4)
    return ck.verdict()


def check_split_heads(fn, quiet: bool = False) -> bool:
    """fn(x, num_heads): (batch, T, hidden) -> (batch, heads, T, hidden // heads)."""
    ck = Checker("split_heads", fn, quiet=quiet)
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)
    for heads in (2, 3):
        with ck.case(f"(2, 4, 6) into {heads} heads") as case:
            b, t, h = x.shape
            case.expect_close(fn(x, heads), split_heads(x, heads), mistakes={
                "reshape to (batch, T, heads, d_k) first, then transpose T and heads: reshaping straight to "
                "(batch, heads, T, d_k) mixes different tokens into one head": x.reshape(b, heads, t, h // heads),
                "each head takes a contiguous slice of the features: view as (batch, T, heads, d_k), "
                "not (batch, T, d_k, heads)": x.view(b, t, h // heads, heads).permute(0, 3, 1, 2),
            })
    return ck.verdict()


def check_merge_heads(fn, quiet: bool = False) -> bool:
    """fn(x): (batch, heads, T, d_k) -> (batch, T, heads * d_k), the inverse of split_heads."""
    ck = Checker("merge_heads", fn, quiet=quiet)
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    b, h, t, d = x.shape
    with ck.case("(2, 3 heads, 4 tokens, 5) -> (2, 4, 15)") as case:
        case.expect_close(fn(x), merge_heads(x), mistakes={
            "transpose heads and T back first (x.transpose(1, 2)), then reshape": x.reshape(b, t, h * d),
            "after transposing to (batch, T, heads, d_k), concatenate the heads: "
            "reshape(batch, T, heads * d_k)": x.permute(0, 2, 3, 1).reshape(b, t, h * d),
        })
    with ck.case("round trip: merge_heads(split_heads(y)) == y") as case:
        y = torch.randn(3, 7, 12)
        case.expect_close(fn(split_heads(y, 4)), y)
    return ck.verdict()


def check_attention_memory(fn, quiet: bool = False) -> bool:
    """fn(batch, heads, seq_len, bytes_per_number) -> bytes that the attention weights of ONE layer take."""
    ck = Checker("attention_memory", fn, quiet=quiet)
    for args in [(32, 12, 512, 4), (1, 12, 128, 2), (8, 16, 1024, 4)]:
        b, h, t, n = args
        with ck.case(f"batch {b}, {h} heads, T={t}, {n} bytes per number") as case:
            case.expect_equal(fn(*args), b * h * t * t * n, what="bytes", mistakes={
                "each head has a T x T matrix: T squared, not T": b * h * t * n,
                "every head stores its own T x T matrix: multiply by the number of heads": b * t * t * n,
                "every sentence in the batch has its own matrices: multiply by batch": h * t * t * n,
            })
    return ck.verdict()

"""Checkers for notebook 03 (attention): attention with a padding mask, head split/merge, the causal mask, and the
learner's modules BertSelfAttention, BertSelfOutput, BertAttention (checked against bert_edu.model.attention)."""

from __future__ import annotations

import math

import torch

from bert_edu.exercises._harness import CaseFailed, Checker
from bert_edu.exercises._modules import expect_dropout, pair, tiny_config
from bert_edu.model.attention import (BertAttention, BertSelfAttention, BertSelfOutput, additive_attention_mask,
                                      merge_heads, scaled_dot_product_attention, split_heads)


def reference_attention(query, key, value, mask=None, dropout=None):
    """(output, weights) of softmax(Q K^T / sqrt(d_k) + additive(mask)) V; mask: 1 = attend, 0 = padding,
    any shape that broadcasts to (..., T_q, T_k), e.g. (batch, 1, 1, T). ``dropout`` (e.g. an nn.Dropout), when
    given, is applied to the weights before they multiply the values; the weights returned are before dropout."""
    additive = None if mask is None else additive_attention_mask(mask, query.dtype)
    output, weights = scaled_dot_product_attention(query, key, value, additive)
    if dropout is not None:
        output = dropout(weights) @ value
    return output, weights


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


# --------------------------------------------------------------------------- the modules of notebook 03

def reference_causal_attention_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, T) 1 = token / 0 = padding -> (batch, 1, T, T) boolean: query i may attend key j when j <= i and
    key j is a real token (a decoder's left-to-right mask combined with the padding mask)."""
    seq_len = attention_mask.shape[-1]
    causal = torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=attention_mask.device))
    return causal[None, None] & attention_mask[:, None, None, :].bool()


def check_causal_mask(fn, quiet: bool = False) -> bool:
    """fn(attention_mask) -> (batch, 1, T, T) boolean, True where query i may attend key j (j <= i, j not padding)."""
    ck = Checker("causal_mask", fn, quiet=quiet)
    for name, mask in [("one sentence of 4 tokens, no padding", torch.ones(1, 4, dtype=torch.long)),
                       ("2 sentences, the second padded after 3 tokens",
                        torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))]:
        with ck.case(name) as case:
            got = fn(mask)
            expected = reference_causal_attention_mask(mask)
            case.expect(got is not None, "your function returned None: did you forget the `return` statement?")
            case.expect(isinstance(got, torch.Tensor), f"return a torch.Tensor, got {type(got).__name__}")
            if got.dtype.is_floating_point and (got < 0).any():
                raise CaseFailed("return a boolean mask (True = may attend), not an additive one with large "
                                 "negative numbers: BertSelfAttention turns it into scores itself")
            t = mask.shape[1]
            pad = mask[:, None, None, :].bool()
            upper = torch.triu(torch.ones(t, t, dtype=torch.bool))
            case.expect_equal(got.bool() if got.dtype != torch.bool else got, expected, what="mask", mistakes={
                "a token must not see the FUTURE: keep keys j <= i (torch.tril), not j >= i (torch.triu)":
                    upper[None, None] & pad,
                "a token may attend to itself: keep the diagonal (j <= i, not j < i)":
                    torch.tril(torch.ones(t, t, dtype=torch.bool), diagonal=-1)[None, None] & pad,
                "combine with the padding mask: padded keys stay masked (&)": expected | (
                    torch.tril(torch.ones(t, t, dtype=torch.bool))[None, None] & ~pad),
                "the padding mask masks keys (the last axis), not queries: use attention_mask[:, None, None, :]":
                    torch.tril(torch.ones(t, t, dtype=torch.bool))[None, None] & mask[:, None, :, None].bool(),
            })
    return ck.verdict()


def _self_attention(ref, h, mask=None, *, scale=True, axis=-1, interleaved=False, use_mask=True):
    """The reference self-attention's computation with one thing done differently (to name a mistake)."""
    heads = ref.num_attention_heads
    b, t, hidden = h.shape
    d = hidden // heads

    def split(x):
        if interleaved:
            return x.view(b, t, d, heads).permute(0, 3, 1, 2)
        return x.view(b, t, heads, d).transpose(1, 2)

    q, k, v = split(ref.query(h)), split(ref.key(h)), split(ref.value(h))
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d) if scale else 1.0)
    if mask is not None and use_mask:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=axis)
    return merge_heads(weights @ v), weights


def _hidden(b=2, t=5, hidden=16, seed=3):
    return torch.randn(b, t, hidden, generator=torch.Generator().manual_seed(seed))


def check_bert_self_attention(cls, quiet: bool = False) -> bool:
    """cls(config) with query/key/value/dropout; forward(hidden_states, mask=None, output_attentions=False)
    -> (context (batch, T, hidden), weights (batch, heads, T, T) or None); mask boolean, True = may attend."""
    ck = Checker("bert_self_attention", cls, quiet=quiet)
    config = tiny_config()
    h = _hidden()
    pad = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])[:, None, None, :].bool()
    causal = reference_causal_attention_mask(torch.ones(2, 5, dtype=torch.long))
    with ck.case("parameter names and shapes: query, key, value (transformers' names)") as case:
        module, reference = pair(cls, BertSelfAttention, config)
    for name, mask in [("no padding, output_attentions=True", None),
                       ("a padded batch: mask (batch, 1, 1, T), True = may attend", pad),
                       ("a causal mask (batch, 1, T, T) broadcasts over the heads too", causal)]:
        with ck.case(name) as case:
            module, reference = pair(cls, BertSelfAttention, config)
            with torch.no_grad():
                got = module(h, mask, output_attentions=True)
                expected = reference(h, mask, output_attentions=True)
                wrong = {
                    "divide the scores by sqrt(d_k), d_k = hidden // num_attention_heads": dict(scale=False),
                    "the softmax goes over the keys, the last axis (dim=-1)": dict(axis=-2),
                    "split the heads as view(batch, T, heads, d_k).transpose(1, 2): each head owns a contiguous "
                    "slice of the features": dict(interleaved=True),
                    "the mask was not applied (masked keys need a large negative score before the softmax)":
                        dict(use_mask=False),
                }
                wrong = {hint: _self_attention(reference, h, mask, **kw) for hint, kw in wrong.items()
                         if mask is not None or "mask" not in hint}
            case.expect(isinstance(got, tuple) and len(got) == 2,
                        "forward returns a tuple (context, weights), like the package's BertSelfAttention")
            case.expect_close(got[1], expected[1], what="weights", mistakes={k: w[1] for k, w in wrong.items()})
            case.expect_close(got[0], expected[0], what="context", mistakes={k: w[0] for k, w in wrong.items()})
    with ck.case("output_attentions=False still gives the same context") as case:
        module, reference = pair(cls, BertSelfAttention, config)
        with torch.no_grad():
            got = module(h, pad)
        case.expect(isinstance(got, tuple) and len(got) == 2, "forward returns (context, weights or None)")
        case.expect_close(got[0], reference(h, pad)[0], what="context")
    with ck.case("dropout on the attention weights (attention_probs_dropout_prob) in training mode") as case:
        expect_dropout(case, cls, lambda m: m(h, pad, output_attentions=True),
                       where="to the attention weights, with config.attention_probs_dropout_prob",
                       active={"attention_probs_dropout_prob": 0.5}, inactive={"hidden_dropout_prob": 0.5})
    return ck.verdict()


def check_bert_self_output(cls, quiet: bool = False) -> bool:
    """cls(config) with dense/LayerNorm/dropout; forward(hidden_states, input_tensor)
    -> LayerNorm(dropout(dense(hidden_states)) + input_tensor): W_O, then add & norm (post-LN)."""
    ck = Checker("bert_self_output", cls, quiet=quiet)
    h, x = _hidden(seed=4), _hidden(seed=5)
    with ck.case("W_O, then LayerNorm(x + ...) on a (2, 5, 16) batch") as case:
        module, reference = pair(cls, BertSelfOutput, tiny_config())
        with torch.no_grad():
            dense, norm = reference.dense(h), reference.LayerNorm
            case.expect_close(module(h, x), reference(h, x), mistakes={
                "that is pre-LN (x + LayerNorm(...)); BERT normalises after the sum: LayerNorm(dense(h) + x)":
                    x + norm(dense),
                "the residual is missing: add the sub-layer's input (input_tensor) before the LayerNorm":
                    norm(dense),
                "the residual adds the sub-layer's INPUT (input_tensor), not the attention context":
                    norm(dense + h),
                "LayerNorm is missing after the residual sum": dense + x,
            })
    with ck.case("dropout (hidden_dropout_prob) in training mode") as case:
        expect_dropout(case, cls, lambda m: m(h, x), where="to dense(h) before the residual sum",
                       active={"hidden_dropout_prob": 0.5}, inactive={"attention_probs_dropout_prob": 0.5})
    return ck.verdict()


def check_bert_attention(cls, quiet: bool = False) -> bool:
    """cls(config) with ``self`` (BertSelfAttention) and ``output`` (BertSelfOutput); forward(hidden_states,
    mask=None, output_attentions=False) -> (LayerNorm(x + W_O context), weights)."""
    ck = Checker("bert_attention", cls, quiet=quiet)
    h = _hidden(seed=6)
    pad = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])[:, None, None, :].bool()
    with ck.case("self-attention then output, a padded batch") as case:
        module, reference = pair(cls, BertAttention, tiny_config())
        with torch.no_grad():
            got = module(h, pad, output_attentions=True)
            expected = reference(h, pad, output_attentions=True)
            context = reference.self(h, pad)[0]
            mistakes = {
                "the residual adds the layer's input hidden_states: self.output(context, hidden_states)":
                    reference.output(context, context),
                "pass the mask on to self.self": reference.output(reference.self(h)[0], h),
            }
        case.expect(isinstance(got, tuple) and len(got) == 2, "forward returns (output, weights)")
        case.expect_close(got[0], expected[0], mistakes=mistakes)
        case.expect_close(got[1], expected[1], what="weights")
    return ck.verdict()

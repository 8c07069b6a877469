"""Checkers for notebook 06 (attention maps): find the previous-token head, head entropy, mask a head."""

from __future__ import annotations

import math

import torch

from bert_edu.analysis import attention_heads  # the references (bert_edu.course.viz re-exports them)
from bert_edu.exercises._harness import Checker


# ---------------------------------------------------------------------------------------------- previous-token head


def reference_previous_token_head(attn: torch.Tensor) -> tuple[int, int]:
    """(layer, head) whose tokens attend most, on average, to the token just before them.
    attn: (layers, heads, T, T); the first token has no previous token and is not counted."""
    layer, head, _ = attention_heads.top_heads(attention_heads.offset_attention(attn, -1), k=1)[0]
    return layer, head


def _best(scores: torch.Tensor, n_heads: int, swap: bool = False) -> tuple[int, int]:
    i = int(scores.flatten().argmax())
    layer, head = divmod(i, n_heads)
    return (head, layer) if swap else (layer, head)


def _pattern(kind: str, T: int) -> torch.Tensor:
    """A (T, T) attention matrix where each row looks at one neighbour (rows without one look at themselves)."""
    eye = torch.eye(T)
    if kind == "previous":
        m = torch.diag(torch.ones(T - 1), -1)
        m[0, 0] = 1
    elif kind == "next":
        m = torch.diag(torch.ones(T - 1), 1)
        m[-1, -1] = 1
    elif kind == "self":
        m = eye
    else:  # "cls": everything to position 0
        m = torch.zeros(T, T)
        m[:, 0] = 1
    return m


def _previous_token_case(layers: int, heads: int, T: int, plant: dict, seed: int) -> torch.Tensor:
    """Random attention (rows sum to 1) with some heads mixed towards a pattern: {(layer, head): (kind, share)}."""
    g = torch.Generator().manual_seed(seed)
    attn = torch.softmax(torch.randn(layers, heads, T, T, generator=g), dim=-1)
    for (layer, head), (kind, share) in plant.items():
        attn[layer, head] = (1 - share) * attn[layer, head] + share * _pattern(kind, T)
    return attn


def check_previous_token_head(fn, quiet: bool = False) -> bool:
    """fn(attn) -> (layer, head): attn (layers, heads, T, T); the head whose tokens put the most attention,
    on average, on the token right before them."""
    ck = Checker("previous_token_head", fn, quiet=quiet)
    cases = [
        ("3 layers x 5 heads, one previous-token head", 3, 5, 9,
         {(2, 1): ("previous", 0.8), (0, 3): ("next", 0.9), (1, 4): ("self", 0.95)}),
        ("a stronger next-token head and a [CLS] head nearby", 4, 6, 12,
         {(1, 5): ("previous", 0.6), (3, 0): ("next", 0.9), (2, 2): ("cls", 0.95), (0, 4): ("self", 0.9)}),
        ("two candidates: the stronger one wins", 2, 4, 7,
         {(0, 2): ("previous", 0.5), (1, 3): ("previous", 0.7), (1, 0): ("next", 0.95)}),
    ]
    for name, layers, heads, T, plant in cases:
        with ck.case(name) as case:
            attn = _previous_token_case(layers, heads, T, plant, seed=len(name))
            got = fn(attn.clone())
            case.expect(isinstance(got, (tuple, list)) and len(got) == 2,
                        f"return a pair (layer, head), got {type(got).__name__}")
            got = (int(got[0]), int(got[1]))
            expected = reference_previous_token_head(attn)
            next_scores = attention_heads.offset_attention(attn, +1)
            case.expect_equal(got, expected, what="(layer, head)", mistakes={
                "that is the next-token head: the previous token of query i is key i - 1, the entries "
                "attn[..., i, i - 1] just BELOW the diagonal (torch.diagonal(attn, offset=-1, dim1=-2, dim2=-1)); "
                "attn[..., i - 1, i] is query i - 1 looking at the next token": _best(next_scores, heads),
                "that head attends to itself: the previous token is one step off the diagonal, not on it":
                    _best(attention_heads.offset_attention(attn, 0), heads),
                "layer and head are swapped: for a flat index i over (layers, heads), layer = i // n_heads and "
                "head = i % n_heads": _best(attention_heads.offset_attention(attn, -1), heads, swap=True),
            })
    return ck.verdict()


# ---------------------------------------------------------------------------------------------- entropy


def reference_head_entropy(attn: torch.Tensor) -> torch.Tensor:
    """attn (..., T, T) -> (...): entropy in nats of each query's attention row, averaged over queries."""
    return attention_heads.head_entropy(attn)


def check_head_entropy(fn, quiet: bool = False) -> bool:
    """fn(attn) -> entropy: attn (..., T, T) with rows summing to 1; the result has shape attn.shape[:-2]:
    -sum_j p_ij log p_ij (natural log) for each query i, averaged over the queries."""
    ck = Checker("head_entropy", fn, quiet=quiet)
    g = torch.Generator().manual_seed(0)
    random = torch.softmax(2 * torch.randn(2, 3, 6, 6, generator=g), dim=-1)
    with_zeros = random.clone()
    with_zeros[..., -2:] = 0  # the last two keys are padding: exactly zero weight
    with_zeros = with_zeros / with_zeros.sum(-1, keepdim=True)

    def wrong(attn):
        logp = torch.log(attn.clamp_min(1e-30))
        rows = -(attn * logp)
        return {
            "use the natural log (torch.log), not log2: entropy in nats": rows.sum(-1).mean(-1) / math.log(2),
            "average over the queries (mean over the rows' entropies), do not sum them": rows.sum(-1).sum(-1),
            "take each query's entropy first, then average: averaging the rows first gives the entropy of the "
            "average row, which is larger": _entropy_of_mean_row(attn),
            "entropy is -sum p log p: the minus sign is missing": -rows.sum(-1).mean(-1),
        }

    for name, attn in [("2 layers x 3 heads, 6 tokens", random),
                       ("a focused head (identity: zeros off the diagonal) and a uniform head",
                        torch.stack([torch.eye(5), torch.full((5, 5), 0.2)])),
                       ("padding: the last two keys get exactly 0", with_zeros)]:
        with ck.case(name) as case:
            got = fn(attn.clone())
            case.expect(not (isinstance(got, torch.Tensor) and torch.isnan(got).any()),
                        "NaN: a weight of exactly 0 gives 0 * log(0) = 0 * -inf = nan. Count those terms as 0, "
                        "e.g. with torch.special.xlogy(p, p), or clamp p to a tiny positive number before the log")
            case.expect_close(got, reference_head_entropy(attn), mistakes=wrong(attn), atol=1e-5)
    return ck.verdict()


def _entropy_of_mean_row(attn):
    mean = attn.mean(-2)
    return -(mean * torch.log(mean.clamp_min(1e-30))).sum(-1)


# ---------------------------------------------------------------------------------------------- head masking


def reference_mask_head(context: torch.Tensor, head: int, num_heads: int) -> torch.Tensor:
    """context (..., num_heads * head_dim) -> a copy with head ``head``'s features set to 0."""
    return attention_heads.mask_head(context, head, num_heads)


def check_mask_head(fn, quiet: bool = False) -> bool:
    """fn(context, head, num_heads) -> a new tensor: context (batch, T, num_heads * head_dim) with the
    features of head ``head`` zeroed and the input left unchanged."""
    ck = Checker("mask_head", fn, quiet=quiet)
    g = torch.Generator().manual_seed(0)
    for name, shape, head, num_heads in [("batch 2, T 3, 4 heads of width 5: head 1", (2, 3, 20), 1, 4),
                                         ("12 heads of width 2: the last head", (1, 4, 24), 11, 12),
                                         ("3 heads of width 4: head 0", (2, 5, 12), 0, 3)]:
        with ck.case(name) as case:
            context = torch.randn(*shape, generator=g)
            original = context.clone()
            got = fn(context, head, num_heads)
            case.expect(torch.equal(context, original),
                        "your function changed its input: clone it first (context.clone()), so the model's "
                        "other uses of the tensor are not affected")
            width = shape[-1] // num_heads
            interleaved = context.clone().view(*shape[:-1], width, num_heads)
            interleaved[..., head] = 0
            keep_only = torch.zeros_like(context)
            keep_only[..., head * width:(head + 1) * width] = context[..., head * width:(head + 1) * width]
            case.expect_close(got, reference_mask_head(context, head, num_heads), atol=0, rtol=0, mistakes={
                "head h owns the contiguous features h * head_dim .. (h + 1) * head_dim (merge_heads concatenates "
                "the heads); you zeroed every num_heads-th feature": interleaved.view(shape),
                "zero the chosen head and keep the others, not the other way round": keep_only,
                "the slice has width head_dim = hidden // num_heads: zero context[..., h * head_dim:"
                "(h + 1) * head_dim]": _zero_slice(context, head, num_heads, width=1),
            })
    return ck.verdict()


def _zero_slice(context, head, num_heads, width):
    out = context.clone()
    out[..., head * width:(head + 1) * width] = 0
    return out

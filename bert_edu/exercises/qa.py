"""Checkers for notebook 11 (question answering): reading the best valid answer span off start/end logits."""

from __future__ import annotations

import torch

from bert_edu.evaluation.squad import best_span, span_scores
from bert_edu.exercises._harness import Checker


def reference_best_span(start_logits, end_logits, context_mask, max_answer_length=30):
    """(start, end): token indices (end included) of the valid span with the highest start + end logit.
    Valid: start <= end, at most max_answer_length tokens, both inside the context (context_mask True)."""
    start, end, _ = best_span(start_logits, end_logits, context_mask, max_answer_length)
    return start, end


def _argmax_pair(scores: torch.Tensor) -> tuple[int, int]:
    return divmod(int(torch.argmax(scores)), scores.shape[1])


def _wrong_spans(s, e, mask, max_len) -> dict:
    """What typical wrong implementations return on these logits."""
    n = len(s)
    plain = s[:, None] + e[None, :]
    both = mask[:, None] & mask[None, :]
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    masked_s, masked_e = s.masked_fill(~mask, float("-inf")), e.masked_fill(~mask, float("-inf"))
    best = reference_best_span(s, e, mask, max_len)
    return {
        "the start and the end were chosen separately (two argmaxes): the end can then come before the start, "
        "or the span be too long; score each PAIR start <= end":
            (int(masked_s.argmax()), int(masked_e.argmax())),
        "spans longer than max_answer_length were allowed":
            _argmax_pair(plain.masked_fill(~(both & (i <= j)), float("-inf"))),
        "a span of max_answer_length + 1 tokens was allowed: a span i..j holds j - i + 1 tokens":
            _argmax_pair(plain.masked_fill(~(both & (i <= j) & (j - i <= max_len)), float("-inf"))),
        "the span left the context: use context_mask for BOTH the start and the end (the question and [CLS] "
        "are not answers)":
            _argmax_pair(span_scores(s, e, None, max_len)),
        "spans with the end before the start were allowed: require start <= end":
            _argmax_pair(plain.masked_fill(~(both & ((j - i).abs() < max_len)), float("-inf"))),
        "the end is the index of the answer's LAST token (included), not one past it": (best[0], best[1] + 1),
        "(0, 0) is [CLS], which is not in the context: the function must search the spans":
            (0, 0),
    }


def _as_pair(got):
    """Accept (start, end) as ints, 0-d tensors or a longer tuple (start, end, score)."""
    if isinstance(got, (tuple, list)) and len(got) >= 2:
        try:
            return int(got[0]), int(got[1])
        except (TypeError, ValueError, RuntimeError):
            return got
    return got


def _case(ck, name, fn, s, e, mask, max_len):
    with ck.case(name) as case:
        got = fn(s.clone(), e.clone(), mask.clone(), max_len)
        expected = reference_best_span(s, e, mask, max_len)
        case.expect(got is not None, "your function returned None: did you forget the `return` statement?")
        case.expect(isinstance(got, (tuple, list)) and len(got) >= 2,
                    f"return a pair (start, end) of token indices, got {type(got).__name__} {got!r:.60}")
        case.expect_equal(_as_pair(got), expected, what="(start, end)",
                          mistakes=_wrong_spans(s, e, mask, max_len))


def check_best_span(fn, quiet: bool = False) -> bool:
    """fn(start_logits, end_logits, context_mask, max_answer_length) -> (start, end).

    start_logits, end_logits: float tensors (T,); context_mask: bool tensor (T,), True on context tokens;
    the span start..end (end included) must have start <= end, at most max_answer_length tokens, and both
    ends in the context; among those, return the one with the highest start_logits[start] + end_logits[end].
    """
    ck = Checker("best_span", fn, quiet=quiet)
    mask = torch.tensor([False, False, False] + [True] * 8 + [False])  # [CLS] q q [SEP] ... context ... [SEP]
    # the best start comes AFTER the best end: separate argmaxes give an impossible span
    s = torch.tensor([9.0, 8.0, 0.0, 0.1, 0.2, 3.0, 0.0, 0.5, 6.0, 0.1, 0.0, 9.0])
    e = torch.tensor([9.0, 0.0, 8.0, 0.0, 5.0, 0.2, 0.0, 0.0, 0.1, 0.3, 1.0, 9.0])
    _case(ck, "the best start lies after the best end", fn, s, e, mask, 30)
    # unlimited, the best span is 3..10 (8 tokens); with at most 3 tokens it is 3..5 (3..6 would be 4 tokens)
    s = torch.tensor([0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    e = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 4.0, 0.0])
    _case(ck, "the highest-scoring span is longer than max_answer_length", fn, s, e, mask, 3)
    gen = torch.Generator().manual_seed(11)
    for k, (n, max_len) in enumerate([(40, 30), (64, 5), (25, 1)]):
        s, e = torch.randn(n, generator=gen) * 3, torch.randn(n, generator=gen) * 3
        m = torch.zeros(n, dtype=torch.bool)
        m[n // 4:n - 1] = True
        s[1], e[2] = 20.0, 20.0  # the question holds the highest logits: a trap for a missing mask
        _case(ck, f"random logits, {n} tokens, max_answer_length={max_len}", fn, s, e, m, max_len)
    return ck.verdict()


__all__ = ["check_best_span", "reference_best_span"]

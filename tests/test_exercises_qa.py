"""The notebook-11 checker accepts correct versions of best_span and names the mistake in typical wrong ones."""

import torch

from bert_edu.exercises.qa import check_best_span, reference_best_span
from exercise_helpers import assert_checker_fails, assert_checker_passes


def loop_best_span(start_logits, end_logits, context_mask, max_answer_length=30):
    """A plain double loop, as a learner may write it."""
    best, best_score = None, float("-inf")
    n = len(start_logits)
    for i in range(n):
        if not context_mask[i]:
            continue
        for j in range(i, min(n, i + max_answer_length)):
            if context_mask[j] and start_logits[i] + end_logits[j] > best_score:
                best, best_score = (i, j), float(start_logits[i] + end_logits[j])
    return best


def with_score(start_logits, end_logits, context_mask, max_answer_length=30):
    start, end = reference_best_span(start_logits, end_logits, context_mask, max_answer_length)
    return torch.tensor(start), torch.tensor(end), float(start_logits[start] + end_logits[end])


def test_accepts_correct_versions(capsys):
    assert_checker_passes(check_best_span, reference_best_span, capsys)
    assert_checker_passes(check_best_span, loop_best_span, capsys)
    assert_checker_passes(check_best_span, with_score, capsys)  # tensors and a score are fine too


def test_names_typical_mistakes(capsys):
    def two_argmaxes(s, e, mask, max_len=30):
        return int(s.masked_fill(~mask, -1e9).argmax()), int(e.masked_fill(~mask, -1e9).argmax())

    def no_length_limit(s, e, mask, max_len=30):
        return loop_best_span(s, e, mask, max_answer_length=len(s))

    def one_too_long(s, e, mask, max_len=30):
        return loop_best_span(s, e, mask, max_len + 1)

    def no_mask(s, e, mask, max_len=30):
        return loop_best_span(s, e, torch.ones_like(mask), max_len)

    def exclusive_end(s, e, mask, max_len=30):
        start, end = loop_best_span(s, e, mask, max_len)
        return start, end + 1

    assert_checker_fails(check_best_span, two_argmaxes, capsys, hint="chosen separately")
    assert_checker_fails(check_best_span, no_length_limit, capsys, hint="longer than max_answer_length")
    assert_checker_fails(check_best_span, one_too_long, capsys, hint="max_answer_length + 1")
    assert_checker_fails(check_best_span, no_mask, capsys, hint="left the context")
    assert_checker_fails(check_best_span, exclusive_end, capsys, hint="LAST token (included)")


def test_rejects_do_nothing_answers(capsys):
    def returns_nothing(s, e, mask, max_len=30):
        pass

    def cls_span(s, e, mask, max_len=30):
        return 0, 0

    def not_started(s, e, mask, max_len=30):
        raise NotImplementedError()

    assert_checker_fails(check_best_span, returns_nothing, capsys, hint="forget the `return`")
    assert_checker_fails(check_best_span, cls_span, capsys, hint="[CLS], which is not in the context")
    assert check_best_span(not_started) is False
    assert "not implemented yet" in capsys.readouterr().out
    assert check_best_span(not_started, quiet=True) is False
    assert capsys.readouterr().out == ""

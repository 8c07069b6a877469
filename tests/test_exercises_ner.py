"""The notebook-10 checker accepts correct label alignments and names the mistake in typical wrong ones."""

import torch

from bert_edu.exercises.ner import check_align_labels, reference_align_labels
from exercise_helpers import assert_checker_fails, assert_checker_passes


def my_align(word_ids, word_labels):
    out, seen = [], set()
    for w in word_ids:
        if w is None or w in seen:
            out.append(-100)
        else:
            out.append(word_labels[w])
            seen.add(w)
    return torch.tensor(out)  # a tensor is accepted as well as a list


def test_accepts_correct_versions(capsys):
    assert_checker_passes(check_align_labels, reference_align_labels, capsys)
    assert_checker_passes(check_align_labels, my_align, capsys)


def test_names_typical_mistakes(capsys):
    def every_piece(word_ids, word_labels):
        return [-100 if w is None else word_labels[w] for w in word_ids]

    def last_piece(word_ids, word_labels):
        out = []
        for i, w in enumerate(word_ids):
            nxt = word_ids[i + 1] if i + 1 < len(word_ids) else None
            out.append(-100 if w is None or nxt == w else word_labels[w])
        return out

    def zero_for_rest(word_ids, word_labels):
        out, prev = [], None
        for w in word_ids:
            out.append(-100 if w is None else (0 if w == prev else word_labels[w]))
            prev = w
        return out

    def zero_for_special(word_ids, word_labels):
        out, prev = [], None
        for w in word_ids:
            out.append(0 if w is None else (-100 if w == prev else word_labels[w]))
            prev = w
        return out

    assert_checker_fails(check_align_labels, every_piece, capsys, hint="you labelled every piece")
    assert_checker_fails(check_align_labels, last_piece, capsys, hint="not on its last")
    assert_checker_fails(check_align_labels, zero_for_rest, capsys, hint="not 0: 0 is the label 'O'")
    assert_checker_fails(check_align_labels, zero_for_special, capsys, hint="[CLS] and [SEP]")


def test_rejects_a_do_nothing_answer(capsys):
    def unchanged(word_ids, word_labels):
        return word_labels

    def nothing(word_ids, word_labels):
        pass

    def not_started(word_ids, word_labels):
        raise NotImplementedError()

    assert_checker_fails(check_align_labels, unchanged, capsys, hint="one label per PIECE")
    assert_checker_fails(check_align_labels, nothing, capsys, hint="forget the `return`")
    assert not check_align_labels(not_started)
    assert "not implemented yet" in capsys.readouterr().out

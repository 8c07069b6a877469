"""Checker for notebook 10 (named entities): aligning word labels with WordPiece pieces."""

from __future__ import annotations

from bert_edu.data.conll import align_labels
from bert_edu.exercises._harness import Checker
from bert_edu.model.config import IGNORE_INDEX

reference_align_labels = align_labels

# (case name, word_ids as transformers' encoding.word_ids() gives them, one label id per word)
CASES = [
    ("'Peter Blackburn' -> [CLS] peter black ##burn [SEP]", [None, 0, 1, 1, None], [7, 8]),
    ("a word of three pieces, then a word of one", [None, 0, 0, 0, 1, None], [3, 0]),
    ("no word is split", [None, 0, 1, 2, None], [5, 0, 3]),
    ("label 0 ('O') on a split word: its other pieces are still ignored", [None, 0, 0, 1, 2, 2, None], [0, 1, 0]),
    ("a truncated sentence (no [SEP] at the end)", [None, 0, 1, 1], [2, 4]),
]


def _all_pieces(word_ids, word_labels):
    return [IGNORE_INDEX if w is None else word_labels[w] for w in word_ids]


def _last_piece(word_ids, word_labels):
    return [IGNORE_INDEX if w is None or (i + 1 < len(word_ids) and word_ids[i + 1] == w) else word_labels[w]
            for i, w in enumerate(word_ids)]


def _mistakes(word_ids, word_labels):
    ref = align_labels(word_ids, word_labels)
    return {
        "only the FIRST piece of a word gets its label; the other pieces get -100 (you labelled every piece)":
            _all_pieces(word_ids, word_labels),
        "the label goes on the FIRST piece of a word, not on its last": _last_piece(word_ids, word_labels),
        "the other pieces of a word get -100 (ignored by the loss), not 0: 0 is the label 'O', so the model "
        "would learn that '##burn' is outside every entity":
            [0 if (r == IGNORE_INDEX and w is not None) else r for r, w in zip(ref, word_ids)],
        "[CLS] and [SEP] (word id None) get -100, not 0": [0 if w is None else r for r, w in zip(ref, word_ids)],
    }


def _as_list(x):
    if hasattr(x, "tolist"):  # a tensor or an array is fine too
        x = x.tolist()
    return list(x) if isinstance(x, (list, tuple)) else x


def check_align_labels(fn, quiet: bool = False) -> bool:
    """fn(word_ids, word_labels) -> one label per piece (a list of ints, as long as ``word_ids``)."""
    ck = Checker("align_labels", fn, quiet=quiet)
    for name, word_ids, word_labels in CASES:
        with ck.case(name) as case:
            got = _as_list(fn(list(word_ids), list(word_labels)))
            expected = align_labels(word_ids, word_labels)
            if isinstance(got, list) and len(got) != len(word_ids):
                what = "as many as there are words" if len(got) == len(word_labels) else f"{len(got)} labels"
                case.expect(False, f"return one label per PIECE ({len(word_ids)} here, one per entry of word_ids), "
                                   f"not {what}")
            case.expect_equal(got, expected, what="labels", mistakes=_mistakes(word_ids, word_labels))
    return ck.verdict()

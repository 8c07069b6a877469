"""Each tokenization checker passes the reference and fails, with the right hint, on typical mistakes."""

import unicodedata

from exercise_helpers import assert_checker_fails, assert_checker_passes

from bert_edu.exercises import tokenization as ex
from bert_edu.text.tokenizer import wordpiece


# --- wordpiece ----------------------------------------------------------------------------------


def test_wordpiece_reference_passes(capsys):
    assert_checker_passes(ex.check_wordpiece, wordpiece, capsys)


def test_wordpiece_shortest_match_fails(capsys):
    assert_checker_fails(ex.check_wordpiece, ex._shortest_match, capsys, hint="shortest piece")


def test_wordpiece_missing_prefix_fails(capsys):
    assert_checker_fails(ex.check_wordpiece, ex._no_prefix, capsys, hint="'##' prefix")


def test_wordpiece_partial_unk_fails(capsys):
    assert_checker_fails(ex.check_wordpiece, ex._partial_unk, capsys, hint="the whole word becomes")


def test_wordpiece_no_length_limit_fails(capsys):
    assert_checker_fails(ex.check_wordpiece, ex._no_length_limit, capsys, hint="longer than 100 characters")


def test_wordpiece_crash_is_reported(capsys):
    def broken(word, vocab):
        return word.nope()

    assert_checker_fails(ex.check_wordpiece, broken, capsys, hint="AttributeError")


# --- strip_accents ------------------------------------------------------------------------------


def test_strip_accents_reference_passes(capsys):
    assert_checker_passes(ex.check_strip_accents, ex.reference_strip_accents, capsys)


def test_strip_accents_package_version_passes(capsys):
    from bert_edu.text.tokenizer import strip_accents

    assert_checker_passes(ex.check_strip_accents, strip_accents, capsys)


def test_strip_accents_nfkd_fails(capsys):
    def nfkd(text):
        return "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) != "Mn")

    assert_checker_fails(ex.check_strip_accents, nfkd, capsys, hint="NFKD")


def test_strip_accents_ascii_fails(capsys):
    def ascii_only(text):
        return text.encode("ascii", "ignore").decode("ascii")

    assert_checker_fails(ex.check_strip_accents, ascii_only, capsys, hint="non-ASCII")


def test_strip_accents_without_nfd_fails(capsys):
    def no_nfd(text):
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    assert_checker_fails(ex.check_strip_accents, no_nfd, capsys, hint="without decomposing")


def test_strip_accents_all_marks_fails(capsys):
    def all_marks(text):
        return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c)[0] != "M")

    assert_checker_fails(ex.check_strip_accents, all_marks, capsys, hint="spacing marks (Mc)")


# --- truncate_longest_first ---------------------------------------------------------------------


def test_truncate_reference_passes(capsys):
    assert_checker_passes(ex.check_truncate_longest_first, ex.reference_truncate_longest_first, capsys)


def test_truncate_one_at_a_time_fails(capsys):
    assert_checker_fails(ex.check_truncate_longest_first, ex._one_at_a_time, capsys, hint="one at a time")


def test_truncate_second_only_fails(capsys):
    assert_checker_fails(ex.check_truncate_longest_first, ex._cut_second_only, capsys,
                         hint="only cut the second")


def test_truncate_from_front_fails(capsys):
    assert_checker_fails(ex.check_truncate_longest_first, ex._cut_from_front, capsys, hint="keeping the start")


def test_truncate_not_implemented(capsys):
    def todo(ids_a, ids_b, max_tokens):
        raise NotImplementedError()

    assert ex.check_truncate_longest_first(todo) is False
    assert "not implemented yet" in capsys.readouterr().out


# --- predict_lengths ----------------------------------------------------------------------------


def _true_lengths():
    from bert_edu.data.assets import minilm_path
    from transformers import BertTokenizer

    hf = BertTokenizer.from_pretrained(minilm_path())
    return [len(hf(s)["input_ids"]) for s in ex.PREDICT_SENTENCES]


def test_predict_right_answer_passes(capsys):
    lengths = _true_lengths()
    assert_checker_passes(ex.check_predict_lengths, lambda: list(lengths), capsys)


def test_predict_forgot_specials_fails(capsys):
    lengths = _true_lengths()
    assert_checker_fails(ex.check_predict_lengths, lambda: [n - 2 for n in lengths], capsys, hint="[CLS] and [SEP]")


def test_predict_counted_words_fails(capsys):
    words = [len(s.split()) + 2 for s in ex.PREDICT_SENTENCES]
    assert_checker_fails(ex.check_predict_lengths, lambda: words, capsys, hint="punctuation")


def test_predict_wrong_type_fails(capsys):
    assert_checker_fails(ex.check_predict_lengths, lambda: 7, capsys, hint="list of 3 ints")


# --- best_pair (the WordPiece training step) ------------------------------------------------------


def test_best_pair_reference_passes(capsys):
    assert_checker_passes(ex.check_best_pair, ex.reference_best_pair, capsys)


def test_best_pair_unweighted_fails(capsys):
    assert_checker_fails(ex.check_best_pair, ex._best_pair_unweighted, capsys, hint="counted each word once")


def test_best_pair_last_on_tie_fails(capsys):
    assert_checker_fails(ex.check_best_pair, ex._best_pair_last_on_tie, capsys, hint="pair seen last")


def test_best_pair_ignoring_the_score_fails(capsys):
    assert_checker_fails(ex.check_best_pair, ex._best_pair_ignores_score, capsys, hint="divide count(ab)")


def test_best_pair_counting_words_not_pieces_fails(capsys):
    assert_checker_fails(ex.check_best_pair, ex._best_pair_word_counts, capsys, hint="not in how many words")


def test_best_pair_do_nothing_is_rejected(capsys):
    def nothing(splits, score="frequency"):
        pass

    assert_checker_fails(ex.check_best_pair, nothing, capsys, hint="forget the `return`")


def test_best_pair_is_the_first_merge_of_train_wordpiece():
    """The exercise's reference makes the choice the package's trainer makes (both scores)."""
    from bert_edu.text.wordpiece import count_words, initial_vocabulary, train_wordpiece

    texts = ["the cat sat on the mat", "a hat for the cat", "that bat is fat", "unhappy hippos hop",
             "the banana bandana", "hug pug pun bun hugs"] * 3
    words = sorted(count_words(texts))
    counts = count_words(texts)
    splits = {tuple([w[0]] + ["##" + c for c in w[1:]]): counts[w] for w in words}
    n_initial = len(initial_vocabulary(words))
    for score in ("frequency", "likelihood"):
        a, b = ex.reference_best_pair(splits, score)
        vocab = train_wordpiece(texts, vocab_size=n_initial + 1, min_frequency=1, score=score)
        assert vocab[-1] == a + b.removeprefix("##"), score

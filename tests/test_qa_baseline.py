"""The sliding-window word-overlap baseline (SQuAD paper, section 5, simplified) answers with a piece of the
context, follows its rules on hand-made cases, and on real questions beats chance but not by much."""

import random

import pytest

from bert_edu.data import assets
from bert_edu.evaluation.squad import squad_scores
from bert_edu.evaluation.baselines import sliding_window_answer, words_with_offsets

CONTEXT = ("The tower was finished in 1889. The tower was designed by the engineer Gustave Eiffel. "
           "Visitors climb 674 steps to the second floor.")
SECOND = "The tower was designed by the engineer Gustave Eiffel."


def test_words_with_offsets():
    assert words_with_offsets("Don't stop, Bob!") == [("don't", 0, 5), ("stop", 6, 10), (",", 10, 11),
                                                      ("bob", 12, 15), ("!", 15, 16)]


def test_answers_come_from_the_sentence_that_shares_the_question_words():
    answer = sliding_window_answer("Who designed the tower?", CONTEXT)
    assert CONTEXT[answer["start"]:answer["end"]] == answer["answer"]
    # the second sentence shares "tower", "designed" and the bigram "the tower" with the question: most overlap
    assert CONTEXT.index(SECOND) <= answer["start"] < answer["end"] <= CONTEXT.index(SECOND) + len(SECOND)
    assert "designed" not in answer["answer"] and "tower" not in answer["answer"]  # never a question word
    steps = sliding_window_answer("How many steps do visitors climb?", CONTEXT)
    assert "674" in steps["answer"] or "second floor" in steps["answer"]


def test_degenerate_inputs():
    assert sliding_window_answer("What?", "") == {"answer": "", "start": 0, "end": 0}
    assert sliding_window_answer("Who is it?", "the of a.")["answer"] == ""  # only stop words: no candidate
    one = sliding_window_answer("What colour?", "Blue.")
    assert one["answer"] == "Blue"


def test_on_real_questions_it_is_a_weak_baseline():
    from bert_edu.data.cloze_qa import cloze_path
    from bert_edu.data.squad import gold_answers, read_squad

    examples = random.Random(0).sample(read_squad(cloze_path("wiki")), 200)
    predictions = {ex.id: sliding_window_answer(ex.question, ex.context)["answer"] for ex in examples}
    scores = squad_scores(gold_answers(examples), predictions)
    assert 0.05 < scores["f1"] < 0.35  # Wikipedia cloze: 0.17 on these 200, 0.14 on 1,000; SQuAD paper's: ~0.20
    assert scores["exact_match"] < scores["f1"]

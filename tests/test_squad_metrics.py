"""SQuAD v1.1 exact match and F1 follow the official evaluation script (evaluate-v1.1.py), and best_span finds
the best valid span. The worked cases below are derived by hand from the script's rules:

normalise = lower-case -> delete ASCII punctuation -> replace the words a/an/the by a space -> collapse
whitespace; EM = normalised strings equal; F1 = bag-of-words overlap (0 if nothing is shared, even when both
sides normalise to nothing); a question scores the max over its gold answers; unanswered questions score 0.
"""

import random

import pytest
import torch

from bert_edu.evaluation.squad import (best_span, exact_match_score, f1_score, normalize_answer, question_type,
                                       span_scores, squad_scores)


@pytest.mark.parametrize("text, normalised", [
    ("The Denver Broncos!", "denver broncos"),
    ("  an   apple,\tthe pie. ", "apple pie"),           # articles and whitespace
    ("theater", "theater"),                               # "the" only as a word
    ("Another day", "another day"),                       # "an" only as a word
    ("A.B.C.", "abc"),                                    # punctuation goes before articles are looked for
    ("a-ha", "aha"),                                      # "-" is deleted, not replaced by a space
    ("the-end", "theend"),
    ("1,000", "1000"),
    ("O'Neill's", "oneills"),
    ("“Smart quotes” — dash", "“smart quotes” — dash"),   # non-ASCII punctuation stays
    ("Saint-Étienne", "saintétienne"),                    # accents stay
    ("The the THE", ""),
    ("", ""),
])
def test_normalisation(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_worked_cases():
    assert exact_match_score("the Broncos", ["Denver Broncos", "Broncos"]) == 1.0   # max over the golds
    assert exact_match_score("Denver", ["Denver Broncos"]) == 0.0
    assert exact_match_score("Denver Broncos.", "denver broncos") == 1.0           # one gold as a string
    assert exact_match_score("a", ["the"]) == 1.0                                 # both normalise to ""


def test_f1_worked_cases():
    assert f1_score("Denver", "Denver Broncos") == pytest.approx(2 / 3)              # P 1, R 1/2
    assert f1_score("the Denver Broncos team", "Denver Broncos") == pytest.approx(0.8)  # P 2/3, R 1
    assert f1_score("cat cat", "the cat") == pytest.approx(2 / 3)                    # counts: 1 of 2 shared
    assert f1_score("Broncos Denver", "Denver Broncos") == 1.0                       # order does not matter
    assert f1_score("Panthers", "Denver Broncos") == 0.0
    assert f1_score("a", "the") == 0.0                                               # v1.1: nothing shared -> 0
    assert f1_score("Denver", ["Carolina Panthers", "Denver Broncos", "Denver"]) == 1.0  # max over golds
    assert f1_score("in 1990s", ["1990s", "the 1990s", "during the 1990s"]) == pytest.approx(2 / 3)


def test_dataset_scores_average_over_questions_and_count_unanswered():
    golds = {"q1": ["Denver Broncos"], "q2": ["Santa Clara, California", "Levi's Stadium"], "q3": ["2015"]}
    preds = {"q1": "Denver", "q2": "Levi's Stadium"}                                  # q3 unanswered
    scores = squad_scores(golds, preds)
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert (scores["n"], scores["n_unanswered"]) == (3, 1)
    with pytest.raises(ValueError):
        squad_scores({}, {})
    with pytest.raises(ValueError, match="at least one gold"):
        f1_score("x", [])


def brute_force_span(s, e, mask, max_len):
    best, score = None, float("-inf")
    for i in range(len(s)):
        for j in range(i, min(len(s), i + max_len)):
            if mask[i] and mask[j] and float(s[i] + e[j]) > score:
                best, score = (i, j), float(s[i] + e[j])
    return best, score


def test_best_span_equals_brute_force():
    rng = random.Random(0)
    for trial in range(200):
        n = rng.randint(1, 40)
        s, e = torch.randn(n), torch.randn(n)
        mask = torch.rand(n) < 0.7
        if not mask.any():
            mask[rng.randrange(n)] = True
        max_len = rng.randint(1, 12)
        start, end, score = best_span(s, e, mask, max_len)
        expected, expected_score = brute_force_span(s, e, mask, max_len)
        assert (start, end) == expected and score == pytest.approx(expected_score, abs=1e-6)
        assert start <= end < start + max_len and mask[start] and mask[end]


def test_best_span_edge_cases():
    s = torch.tensor([5.0, 1.0, 1.0, 0.0])
    e = torch.tensor([5.0, 0.0, 1.0, 1.0])
    assert best_span(s, e)[:2] == (0, 0)                                       # no mask: [CLS] is allowed
    assert best_span(s, e, torch.tensor([False, True, True, True]))[:2] == (1, 2)  # tie: earliest start, then end
    assert best_span(s, e, torch.tensor([False, True, True, True]), max_answer_length=1)[:2] == (2, 2)
    with pytest.raises(ValueError, match="no valid span"):
        best_span(s, e, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same length"):
        best_span(s, e[:3])
    scores = span_scores(s, e, None, 2)
    assert torch.isinf(scores[2, 0]) and torch.isinf(scores[0, 2]) and scores[1, 2] == 2.0


@pytest.mark.parametrize("question, kind", [
    ("How many points did the Broncos score?", "how many"),
    ("How much did it cost?", "how much"),
    ("How did he die?", "how"),
    ("What is the capital?", "what"),
    ("In what year did it open?", "what"),
    ("Who wrote Hamlet?", "who"),
    ("To whom was it sent?", "who"),
    ("Whose idea was it?", "who"),
    ("When was the war?", "when"),
    ("The game was played where?", "where"),
    ("Which team won?", "which"),
    ("Why is the sky blue?", "why"),
    ("Name the winner.", "other"),
    ("What year and how many times?", "what"),                                 # the first wh-phrase wins
])
def test_question_type(question, kind):
    assert question_type(question) == kind

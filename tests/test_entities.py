"""Entity-level scores (bert_edu.evaluation.entities) equal seqeval's conlleval-style scores."""

import random
import warnings

import pytest

from bert_edu.evaluation.entities import entity_scores, format_table, get_entities

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def test_worked_examples():
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert get_entities(["O", "I-PER", "I-PER"]) == [("PER", 1, 3)]  # conlleval: I after O starts an entity
    assert get_entities(["B-PER", "I-LOC"]) == [("PER", 0, 1), ("LOC", 1, 2)]
    assert get_entities(["B-PER", "B-PER"]) == [("PER", 0, 1), ("PER", 1, 2)]
    assert get_entities([]) == []
    # "New York" tagged B-LOC O: one wrong entity and one missed one, nothing for the right first word
    s = entity_scores([["B-LOC", "I-LOC", "O"]], [["B-LOC", "O", "O"]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    s = entity_scores([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 0.5, pytest.approx(2 / 3))


def test_rejects_tags_that_are_not_bio():
    with pytest.raises(ValueError, match="not a BIO tag"):
        get_entities(["B-PER", "E-PER"])
    with pytest.raises(ValueError, match="not a BIO tag"):
        get_entities(["PER"])
    with pytest.raises(ValueError, match="2 gold tags but 1"):
        entity_scores([["O", "O"]], [["O"]])


def _random_corpus(rng, n_sentences):
    gold, pred = [], []
    for _ in range(n_sentences):
        n = rng.randint(0, 12)
        g = [rng.choice(TAGS) for _ in range(n)]
        # predictions: mostly a noisy copy of the gold tags, so many entities match and many do not
        p = [t if rng.random() < 0.7 else rng.choice(TAGS) for t in g]
        gold.append(g)
        pred.append(p)
    return gold, pred


@pytest.mark.parametrize("seed", range(40))
def test_equal_to_seqeval_on_random_sequences(seed):
    import seqeval.metrics as seqeval  # a test dependency (pyproject: [test])
    from seqeval.metrics.sequence_labeling import get_entities as seqeval_entities

    rng = random.Random(seed)
    gold, pred = _random_corpus(rng, rng.randint(1, 60))
    for sentence in gold + pred:
        assert [(t, s, e + 1) for t, s, e in seqeval_entities(sentence)] == get_entities(sentence)
    ours = entity_scores(gold, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where a ratio is undefined (it uses 0, as we do)
        assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-12)
        assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-12)
        assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-12)
        report = seqeval.classification_report(gold, pred, output_dict=True)
    for kind, row in ours["per_type"].items():
        theirs = report[kind]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (theirs["precision"], theirs["recall"], theirs["f1-score"]), abs=1e-12)
        assert row["support"] == theirs["support"]


def test_no_entities_anywhere_scores_zero_not_a_crash():
    s = entity_scores([["O", "O"], []], [["O", "O"], []])
    assert (s["precision"], s["recall"], s["f1"], s["per_type"]) == (0.0, 0.0, 0.0, {})


def test_table_lists_every_type_and_the_total():
    s = entity_scores([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "B-ORG"]])
    table = format_table(s)
    assert [line.split()[0] for line in table.splitlines()] == ["type", "LOC", "ORG", "PER", "all"]
    assert "100.0" in table.splitlines()[3]


def test_bootstrap_interval_brackets_the_score_and_is_reproducible():
    from bert_edu.evaluation.entities import f1_interval

    rng = random.Random(0)
    gold, pred = _random_corpus(rng, 300)
    lo, hi = f1_interval(gold, pred, n_resamples=200)
    assert lo < entity_scores(gold, pred)["f1"] < hi
    assert (lo, hi) == f1_interval(gold, pred, n_resamples=200)
    assert hi - lo < 0.2


def test_error_kinds_sort_every_mistake():
    from bert_edu.evaluation.entities import error_kinds

    gold = [["B-ORG", "O", "B-LOC", "I-LOC", "O", "B-PER", "O", "O"]]
    pred = [["B-LOC", "O", "B-LOC", "O", "O", "O", "O", "B-MISC"]]
    kinds = error_kinds(gold, pred)
    assert kinds["wrong type"] == [(0, ("ORG", 0, 1), ("LOC", 0, 1))]
    assert kinds["wrong span"] == [(0, ("LOC", 2, 4), ("LOC", 2, 3))]
    assert kinds["missed"] == [(0, ("PER", 5, 6), None)]
    assert kinds["spurious"] == [(0, None, ("MISC", 7, 8))]
    assert kinds["wrong type and span"] == []

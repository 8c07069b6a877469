"""The bag-of-words logistic regression of notebook 08's learning curve (bert_edu/train/baselines.py)."""

import torch

from bert_edu.evaluation.baselines import (BagOfWords, LogisticRegression, bow_accuracy, fit_logistic_regression,
                                      train_logistic_regression, words)

TEXTS = ["A gorgeous, witty film.", "Dull and far too long.", "Witty and gorgeous!", "Long, dull, dull."]
LABELS = [1, 0, 1, 0]


def test_words_lowercase_and_split_punctuation():
    assert words("Not bad, REALLY!") == ["not", "bad", ",", "really", "!"]
    assert words("It isn't dull") == ["it", "isn't", "dull"]


def test_vocabulary_is_sorted_and_encoding_counts_each_word_once():
    bow = BagOfWords.fit(TEXTS)
    assert list(bow.vocab) == sorted(bow.vocab)
    ids, offsets = bow.encode(["dull, dull and unknownword", "gorgeous"])
    first = ids[: offsets[1]].tolist()
    assert sorted(first) == first and len(set(first)) == len(first) == 3  # dull , and: once each
    assert offsets.tolist() == [0, 3] and ids[3].item() == bow.vocab["gorgeous"]


def test_min_count_drops_rare_words():
    assert set(BagOfWords.fit(TEXTS, min_count=2).vocab) == {",", ".", "and", "dull", "gorgeous", "long", "witty"}


def test_logistic_regression_is_a_linear_layer_over_word_indicators():
    bow = BagOfWords.fit(TEXTS)
    torch.manual_seed(0)
    model = LogisticRegression(len(bow.vocab))
    torch.nn.init.normal_(model.weight.weight)
    ids, offsets = bow.encode(TEXTS)
    x = torch.zeros(len(TEXTS), len(bow.vocab))
    for i, t in enumerate(TEXTS):
        for w in set(words(t)):
            x[i, bow.vocab[w]] = 1
    torch.testing.assert_close(model(ids, offsets), x @ model.weight.weight + model.bias)


def test_training_separates_the_training_set_and_starts_at_zero():
    bow = BagOfWords.fit(TEXTS)
    untrained = train_logistic_regression(bow, TEXTS, LABELS, l2=0.01, steps=0)
    assert untrained.weight.weight.abs().sum() == 0  # convex: a fixed start, no seed
    model = train_logistic_regression(bow, TEXTS, LABELS, l2=0.01, steps=100)
    assert bow_accuracy(model, bow, TEXTS, LABELS) == 1.0
    assert bow_accuracy(model, bow, ["so witty"], [1]) == 1.0


def test_stronger_penalty_gives_smaller_weights_and_validation_picks_one():
    bow = BagOfWords.fit(TEXTS)
    weak = train_logistic_regression(bow, TEXTS, LABELS, l2=0.01, steps=100)
    strong = train_logistic_regression(bow, TEXTS, LABELS, l2=10.0, steps=100)
    assert strong.weight.weight.norm() < weak.weight.weight.norm()
    model, info = fit_logistic_regression(bow, TEXTS, LABELS, ["witty film", "dull film"], [1, 0], steps=50)
    assert info["validation_accuracy"] == 1.0 and info["l2"] in info["scores"]
    assert isinstance(model, LogisticRegression)

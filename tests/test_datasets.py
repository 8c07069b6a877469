"""The sentiment split and the pretraining corpus derived from the Rotten Tomatoes asset."""

from collections import Counter

from bert_edu.data import __main__ as data_cli, classification, corpus, sentiment


def test_split_is_fixed_stratified_disjoint_and_deduplicated():
    a, b = sentiment.sentiment_splits(), sentiment.sentiment_splits()
    assert a == b  # reproducible
    assert sentiment.sentiment_splits(seed=1)["test"] != a["test"]  # the seed matters
    texts = {name: [ex.text for ex in exs] for name, exs in a.items()}
    for name, items in texts.items():
        assert len(items) == len(set(items)), f"duplicates inside {name}"
    assert not set(texts["train"]) & set(texts["test"])
    assert not set(texts["train"]) & set(texts["validation"])
    assert not set(texts["validation"]) & set(texts["test"])
    total = sum(len(v) for v in a.values())
    assert total == len(sentiment.sentiment_examples()) == 12752
    overall = sum(ex.label for exs in a.values() for ex in exs) / total
    for name, exs in a.items():
        share = sum(ex.label for ex in exs) / len(exs)
        assert abs(share - overall) < 0.005, f"{name} is not stratified: {share:.3f} vs {overall:.3f}"
    assert {len(a["validation"]), len(a["test"])} == {1275}


def test_labels_follow_the_categories():
    rows = [
        {"category": "fresh", "text": "A delight.", "movie_name": "m", "has_plot_and_reviews": "False"},
        {"category": "rotten", "text": "A  chore. ", "movie_name": "m", "has_plot_and_reviews": "False"},
        {"category": "plot", "text": "A man. A plan.", "movie_name": "m", "has_plot_and_reviews": "False"},
        {"category": "fresh", "text": "A delight.", "movie_name": "n", "has_plot_and_reviews": "False"},
    ]
    assert sentiment.sentiment_examples(rows) == [classification.Example("A delight.", 1), classification.Example("A chore.", 0)]
    assert sentiment.LABELS[1] == "positive"


def test_pretraining_corpus_never_contains_held_out_sentences():
    splits = sentiment.sentiment_splits()
    held_out = {ex.text for name in ("validation", "test") for ex in splits[name]}
    docs = corpus.read_corpus(corpus.corpus_path())
    sentences = [s for doc in docs for s in doc]
    assert all(len(doc) >= 2 for doc in docs)  # NSP needs a next sentence
    assert not held_out & set(sentences)
    assert len(set(s for s in sentences) & {ex.text for ex in splits["train"]}) > 9000


def test_corpus_round_trip(tmp_path):
    docs = [["First sentence.", "Second one."], ["Another document.", "With two lines."]]
    path = corpus.write_corpus(docs, tmp_path / "c.txt")
    assert path.read_text() == "First sentence.\nSecond one.\n\nAnother document.\nWith two lines.\n"
    assert corpus.read_corpus(path) == docs


def test_sentence_splitter():
    assert corpus.split_sentences("He runs. She (Ann) hides! Why? 3 men came.") == [
        "He runs.", "She (Ann) hides!", "Why?", "3 men came."]
    assert corpus.split_sentences("Mr. smith stays whole.") == ["Mr. smith stays whole."]


def test_sentiment_split_export_reads_back_through_the_finetune_loader(tmp_path, capsys):
    from bert_edu.data.classification import load_classification_data

    assert data_cli.main(["sentiment", str(tmp_path)]) == 0
    assert "10,202 sentences" in capsys.readouterr().out
    data = load_classification_data(tmp_path / "train.csv", tmp_path / "validation.csv", tmp_path / "test.csv")
    splits = sentiment.sentiment_splits()
    assert list(data.label_names) == list(sentiment.LABELS)
    for got, name in ((data.train, "train"), (data.eval, "validation"), (data.test, "test")):
        assert [(ex.text, data.label_names[ex.label]) for ex in got] == \
            [(ex.text, sentiment.LABELS[ex.label]) for ex in splits[name]]


def test_corpus_export_matches_the_course_corpus(tmp_path):
    assert data_cli.main(["corpus", str(tmp_path / "corpus.txt")]) == 0
    assert corpus.read_corpus(tmp_path / "corpus.txt") == corpus.read_corpus(corpus.corpus_path())

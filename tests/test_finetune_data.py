"""Data for fine-tuning: the fixed sentiment split, and reading the user's own TSV/CSV files."""

import pytest

from bert_edu.data import corpus, sentiment
from bert_edu.data.classification import (DataError, label_names_from, load_classification_data,
                                          read_labelled_file, to_examples)
from bert_edu.data.classification import Example

# ------------------------------------------------------------------------------------- the sentiment split


@pytest.fixture(scope="module")
def rows():
    return sentiment.read_rotten_tomatoes()


@pytest.fixture(scope="module")
def splits(rows):
    return sentiment.sentiment_splits(rows=rows)


def test_split_is_reproducible(rows, splits):
    again = sentiment.sentiment_splits(rows=rows)
    assert again == splits
    other = sentiment.sentiment_splits(seed=1, rows=rows)
    assert other["test"] != splits["test"], "a different seed must give a different split"


def test_splits_are_disjoint_and_deduplicated(splits):
    texts = {name: [ex.text for ex in split] for name, split in splits.items()}
    for name, t in texts.items():
        assert len(t) == len(set(t)), f"{name} holds a duplicate sentence"
    assert not set(texts["train"]) & set(texts["validation"])
    assert not set(texts["train"]) & set(texts["test"])
    assert not set(texts["validation"]) & set(texts["test"])


def test_splits_cover_every_example_with_its_label(rows, splits):
    everything = sentiment.sentiment_examples(rows)
    union = [ex for split in splits.values() for ex in split]
    assert sorted(union) == sorted(everything)
    assert {ex.label for ex in union} == {0, 1}


def test_splits_are_stratified(splits):
    def positive_share(split):
        return sum(ex.label for ex in split) / len(split)

    overall = positive_share([ex for s in splits.values() for ex in s])
    for name, split in splits.items():
        assert abs(positive_share(split) - overall) < 0.005, name
    assert len(splits["validation"]) == len(splits["test"]) == pytest.approx(0.1 * sum(map(len, splits.values())), abs=2)


# ------------------------------------------------------------------------------------- user files


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_csv_and_tsv_with_quotes_and_blank_lines(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'text,label\n"Good, really good",pos\nbad,neg\n\n')
    assert read_labelled_file(csv_file) == [("Good, really good", "pos"), ("bad", "neg")]
    tsv_file = write(tmp_path / "a.tsv", "label\ttext\npos\tfine , yes\nneg\tno\n")
    assert read_labelled_file(tsv_file) == [("fine , yes", "pos"), ("no", "neg")]
    # no telling extension: the header decides; a byte-order mark does not hide the first column
    txt_file = write(tmp_path / "a.txt", "\ufefftext\tlabel\nyes\t1\nno\t0\n")
    assert read_labelled_file(txt_file) == [("yes", "1"), ("no", "0")]


def test_other_column_names(tmp_path):
    f = write(tmp_path / "reviews.csv", "id,review,stars\n1,great,5\n2,awful,1\n")
    assert read_labelled_file(f, text_column="review", label_column="stars") == [("great", "5"), ("awful", "1")]


def test_label_order_is_deterministic():
    assert label_names_from(["pos", "neg", "pos"]) == ["neg", "pos"]
    assert label_names_from(["10", "2", "1", "2"]) == ["1", "2", "10"], "numbers sort as numbers"
    assert label_names_from(["b", "a", "c"]) == label_names_from(["c", "b", "a"])
    ex = to_examples([("x", "pos"), ("y", "neg")], ["neg", "pos"])
    assert ex == [Example("x", 1), Example("y", 0)]


def test_load_maps_labels_from_training_file(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,sports\nb,politics\nc,arts\n")
    dev = write(tmp_path / "dev.csv", "text,label\nd,arts\n")
    data = load_classification_data(train, dev)
    assert data.label_names == ["arts", "politics", "sports"]
    assert [ex.label for ex in data.train] == [2, 1, 0]
    assert data.eval == [Example("d", 0)] and data.test is None


@pytest.mark.parametrize("content, phrase", [
    ("", "is empty"),
    ("   \n\n", "is empty"),
    ("text,label\n", "no examples"),
    ("sentence,label\nhi,pos\n", "no column 'text'"),
    ("text,polarity\nhi,pos\n", "no column 'label'"),
    ("text,label\nhi,pos\nho,pos\n", "single class"),
    ("text,label\nhi,pos\n,neg\n", "line 3"),
    ("text,label\nhi,pos\nho,\n", "'label' cell is empty"),
])
def test_bad_training_file(tmp_path, content, phrase):
    train = write(tmp_path / "train.csv", content)
    dev = write(tmp_path / "dev.csv", "text,label\nx,pos\n")
    with pytest.raises(DataError, match=phrase) as err:
        load_classification_data(train, dev)
    assert str(train) in str(err.value), "the error names the file"


def test_missing_column_error_lists_columns_and_fix(tmp_path):
    f = write(tmp_path / "t.tsv", "sentence\tsentiment\nhi\tpos\n")
    with pytest.raises(DataError) as err:
        read_labelled_file(f)
    message = str(err.value)
    assert "['sentence', 'sentiment']" in message and "--text-column" in message and "tab-separated" in message


def test_eval_label_never_seen_in_training(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n")
    dev = write(tmp_path / "dev.csv", "text,label\nc,pos\nd,neutral\ne,Pos\n")
    with pytest.raises(DataError, match=r"\['Pos', 'neutral'\], never seen in the training data"):
        load_classification_data(train, dev)
    test = write(tmp_path / "test.csv", "text,label\nc,mixed\n")
    with pytest.raises(DataError, match="test.csv has the label"):
        load_classification_data(train, write(tmp_path / "dev.csv", "text,label\nc,pos\n"), test)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_labelled_file(tmp_path / "nope.csv")

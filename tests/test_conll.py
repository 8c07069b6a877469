"""CoNLL files (bert_edu.data.conll): reading, the POS column, BIO checks with file:line, WordPiece alignment."""

import pytest

from bert_edu.data.classification import DataError
from bert_edu.data.conll import (IGNORE_INDEX, Sentence, align_labels, encode_sentences, label_list, read_conll,
                                 word_piece_ids)

GOOD = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC"""  # no blank line at the end: the last sentence still counts


def write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_sentences_tags_and_pos(tmp_path):
    sentences = read_conll(write(tmp_path, GOOD))
    assert [s.words for s in sentences] == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert sentences[1].tags == ["B-PER", "I-PER"]
    assert sentences[0].pos == ["NNP", "VBZ", "JJ"] and sentences[0].columns["chunk"] == ["B-NP", "B-VP", "B-NP"]
    assert [s.line for s in sentences] == [3, 7, 13]
    assert label_list(sentences) == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_two_columns_and_named_columns(tmp_path):
    path = write(tmp_path, "Paris B-LOC\nis O\n")
    (s,) = read_conll(path)
    assert (s.words, s.tags, s.pos) == (["Paris", "is"], ["B-LOC", "O"], None)
    path = write(tmp_path, "Paris\tNNP\tB-LOC\nis\tVBZ\tO\n", "three.tsv")
    (s,) = read_conll(path, columns=("word", "pos", "tag"))
    assert s.pos == ["NNP", "VBZ"]
    with pytest.raises(ValueError, match="must name one column 'word' and one 'tag'"):
        read_conll(path, columns=("token", "pos", "label"))


@pytest.mark.parametrize("text, message", [
    ("EU B-ORG\nrejects\n", r"data.txt:2: one column \('rejects'\)"),
    ("EU NNP B-ORG\nrejects O\n", r"data.txt:2: 2 columns where the file's first line has 3"),
    ("EU NNP ORG\n", r"data.txt:1: tag 'ORG' is not a BIO tag"),
    ("EU S-ORG\n", r"data.txt:1: tag 'S-ORG' is not a BIO tag"),
    ("text,label\ngreat film,pos\n", r"data.txt:1: one column"),
    ("The O\nEuropean I-ORG\n", r"data.txt:2: I-ORG follows O, but in BIO \(IOB2\) form an entity begins with B-ORG"),
    ("New B-LOC\nYork I-PER\n", r"data.txt:2: I-PER follows B-LOC"),
    ("", r"holds no sentences"),
    ("-DOCSTART- -X- -X- O\n\n\n", r"holds no sentences"),
])
def test_bad_files_name_the_line_and_the_fix(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_conll(tmp_path / "nope.txt")


def test_align_labels_first_piece_only():
    assert align_labels([None, 0, 1, 1, None], [7, 8]) == [IGNORE_INDEX, 7, 8, IGNORE_INDEX, IGNORE_INDEX]


class ToyTokenizer:
    """Each word -> one piece per 3 characters (ids 10, 11, ...): enough to test the bookkeeping."""
    cls_token_id, sep_token_id, unk_token_id, pad_token_id = 1, 2, 3, 0

    def encode(self, word, add_special_tokens=False):
        return [10 + i for i in range(0, len(word), 3)]


def test_encode_sentences_aligns_and_splits_long_sentences():
    tok = ToyTokenizer()
    sentence = Sentence(["Peter", "Blackburn", "x", "Lancashire"], ["B-PER", "I-PER", "O", "B-LOC"])
    label2id = {t: i for i, t in enumerate(label_list([sentence]))}
    (f,) = encode_sentences(tok, [sentence], label2id, max_length=16)
    assert f["word_ids"] == [None, 0, 0, 1, 1, 1, 2, 3, 3, 3, 3, None]
    assert f["labels"] == [-100, label2id["B-PER"], -100, label2id["I-PER"], -100, -100, 0,
                           label2id["B-LOC"], -100, -100, -100, -100]
    # 10 pieces do not fit in max_length 8 (6 + [CLS] + [SEP]): cut at word boundaries, no word lost
    parts = encode_sentences(tok, [sentence], label2id, max_length=8)
    assert [(p["first_word"], len(p["input_ids"])) for p in parts] == [(0, 8), (3, 6)]
    firsts = [p["first_word"] + w for p in parts for pos, w in enumerate(p["word_ids"])
              if w is not None and (pos == 0 or p["word_ids"][pos - 1] != w)]
    assert firsts == [0, 1, 2, 3]
    assert all(len(p["input_ids"]) <= 8 for p in parts)


def test_a_word_without_pieces_becomes_unk():
    class Empty(ToyTokenizer):
        def encode(self, word, add_special_tokens=False):
            return []

    assert word_piece_ids(Empty(), ["\u200b"]) == [[3]]

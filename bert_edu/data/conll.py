"""Named-entity data in the CoNLL format, and word labels aligned with WordPiece pieces (notebook 10,
``python -m bert_edu.ner``; notebook 12 probes the part-of-speech column).

A CoNLL file holds one word a line, its tag in the LAST whitespace-separated column, a blank line between
sentences; ``-DOCSTART-`` lines mark documents and are skipped. CoNLL-2003 has four columns::

    EU NNP B-NP B-ORG            word, part of speech, syntactic chunk, named-entity tag
    rejects VBZ B-VP O

The tags are BIO (IOB2): ``B-X`` begins an entity of type X, ``I-X`` continues it, ``O`` is outside.
Every problem a file can have is found when it is read, with ``file:line`` and the fix, before a model
is loaded.

WordPiece splits words into pieces ("Blackburn" -> ``black ##burn``), but the labels belong to words.
:func:`align_labels` gives each word's label to its FIRST piece and ``-100`` (ignored by the loss) to the
other pieces and to ``[CLS]``/``[SEP]``, as BERT did for CoNLL-2003 (paper, section 5.3).

    train = read_conll(conll2003_path("train"))        # [Sentence(words, tags, columns={"pos": ...}), ...]
    labels = label_list(train)                         # ["O", "B-LOC", "I-LOC", ...]
    features = encode_sentences(tokenizer, train, {t: i for i, t in enumerate(labels)})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bert_edu.data.classification import DataError
from bert_edu.model.config import IGNORE_INDEX

SPLITS = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
CONLL2003_COLUMNS = ("word", "pos", "chunk", "tag")


@dataclass
class Sentence:
    words: list[str]
    tags: list[str]
    columns: dict = field(default_factory=dict)  # the other named columns, e.g. {"pos": [...], "chunk": [...]}
    line: int = 0  # line of the first word in its file (for error messages and for reading the file)

    @property
    def pos(self) -> list[str] | None:
        """Part-of-speech tags (CoNLL-2003's second column), or None when the file has none."""
        return self.columns.get("pos")


def conll2003_path(split: str = "train") -> Path:
    """The CoNLL-2003 English file of a split ('train', 'validation', 'test') from the pinned asset."""
    from bert_edu.data import assets

    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, not {split!r}")
    return assets.get("conll2003") / SPLITS[split]


def check_bio(tags, where) -> None:
    """Raise DataError unless ``tags`` (one sentence) are BIO (IOB2); ``where(i)`` names the i-th word's line."""
    previous = "O"
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if tag != "O" and (prefix not in ("B", "I") or not kind):
            raise DataError(f"{where(i)}: tag {tag!r} is not a BIO tag; the last column must hold 'O', "
                            "'B-TYPE' or 'I-TYPE' (is the tag in another column, or is this not a CoNLL file?)")
        if prefix == "I" and previous not in (f"B-{kind}", f"I-{kind}"):
            raise DataError(f"{where(i)}: {tag} follows {previous}, but in BIO (IOB2) form an entity begins with "
                            f"B-{kind}; convert the file to IOB2 (tag the first word of every entity B-)")
        previous = tag


def _column_names(n: int, columns, where: str) -> tuple:
    if columns is None:  # word first, tag last; CoNLL-2003's names when there are four columns
        return CONLL2003_COLUMNS if n == 4 else ("word",) + (None,) * (n - 2) + ("tag",)
    if len(columns) != n:
        raise DataError(f"{where}: {n} columns, but columns={tuple(columns)} names {len(columns)}")
    return tuple(columns)


def _sentence(rows, names, path) -> Sentence:
    lines = [n for n, _ in rows]
    named = {name: list(cells) for name, cells in zip(names, zip(*[parts for _, parts in rows])) if name}
    words, tags = named.pop("word"), named.pop("tag")
    check_bio(tags, lambda i: f"{path}:{lines[i]}")
    return Sentence(words, tags, named, lines[0])


def read_conll(path, columns=None) -> list[Sentence]:
    """The sentences of a CoNLL file. ``columns`` names every column (e.g. ``("word", "pos", "tag")``);
    by default the first is the word, the last the tag, and a 4-column file gets CoNLL-2003's names."""
    path = Path(path)
    if columns is not None and not {"word", "tag"} <= set(columns):
        raise ValueError(f"columns={tuple(columns)} must name one column 'word' and one 'tag'")
    if not path.is_file():
        raise DataError(f"{path} does not exist (or is not a file); pass a CoNLL file (one word a line, "
                        "the tag in the last column, a blank line between sentences)")
    sentences, rows, names = [], [], None
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if parts and parts[0] == "-DOCSTART-":
                continue
            if not parts:
                if rows:
                    sentences.append(_sentence(rows, names, path))
                rows = []
                continue
            if len(parts) < 2:
                raise DataError(f"{path}:{n}: one column ({line.strip()[:40]!r}); a CoNLL line holds a word and "
                                "its tag (and maybe other columns between them), separated by whitespace")
            if names is None:
                names = _column_names(len(parts), columns, f"{path}:{n}")
            elif len(parts) != len(names):
                raise DataError(f"{path}:{n}: {len(parts)} columns where the file's first line has {len(names)}; "
                                "a word with a space in it? every line must have the same columns")
            rows.append((n, parts))
    if rows:
        sentences.append(_sentence(rows, names, path))
    if not sentences:
        raise DataError(f"{path} holds no sentences; a CoNLL file has one word and its tag a line, "
                        "with a blank line between sentences")
    return sentences


def read_documents(path, columns=None) -> list[list[Sentence]]:
    """The sentences of a CoNLL file grouped by document: one list per ``-DOCSTART-`` line, in file order (a
    document with no sentence gives an empty list). Notebook 11's news questions are made per document."""
    path = Path(path)
    starts = [n for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1)
              if line.startswith("-DOCSTART-")]
    docs, k = [], -1
    for sentence in read_conll(path, columns):
        while k + 1 < len(starts) and starts[k + 1] < sentence.line:
            k += 1
            docs.append([])
        if not docs:
            raise DataError(f"{path}:{sentence.line}: a sentence before the first -DOCSTART- line; documents "
                            "need one -DOCSTART- line each")
        docs[-1].append(sentence)
    return docs + [[] for _ in range(len(starts) - len(docs))]


def label_list(sentences) -> list[str]:
    """``"O"``, then ``B-X``, ``I-X`` for each entity type X in alphabetical order (fixed ids for the model)."""
    kinds = sorted({tag[2:] for s in sentences for tag in s.tags if tag != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]


# ---------------------------------------------------------------------------------- words -> pieces


def align_labels(word_ids, word_labels) -> list[int]:
    """One label per piece: the word's label on its first piece, IGNORE_INDEX (-100) on the others
    and on special tokens (``word_ids`` is None there, as in transformers' ``encoding.word_ids()``)."""
    labels, previous = [], None
    for w in word_ids:
        labels.append(IGNORE_INDEX if w is None or w == previous else word_labels[w])
        previous = w
    return labels


def word_piece_ids(tokenizer, words, cache: dict | None = None) -> list[list[int]]:
    """The WordPiece ids of each word (a word that yields no piece, e.g. a lone control character, becomes
    ``[UNK]``, so that every word keeps its label)."""
    cache = {} if cache is None else cache
    out = []
    for word in words:
        if word not in cache:
            cache[word] = tokenizer.encode(word, add_special_tokens=False) or [tokenizer.unk_token_id]
        out.append(cache[word])
    return out


def _chunks(pieces: list[list[int]], budget: int) -> list[tuple[int, int]]:
    """Cut a sentence into runs of whole words of at most ``budget`` pieces (a longer word is truncated)."""
    spans, start, used = [], 0, 0
    for i, p in enumerate(pieces):
        if used and used + len(p) > budget:
            spans.append((start, i))
            start, used = i, 0
        used += len(p)
    spans.append((start, len(pieces)))
    return spans


def encode_sentences(tokenizer, sentences, label2id: dict | None = None, max_length: int = 128) -> list[dict]:
    """Model inputs, one dict per sentence (a sentence longer than ``max_length`` pieces becomes several):
    ``input_ids`` ([CLS] pieces [SEP]), ``word_ids``, ``sentence`` (its index), ``first_word`` (of this part)
    and, with ``label2id``, ``labels`` aligned by :func:`align_labels`."""
    cache, features = {}, []
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for s, sentence in enumerate(sentences):
        pieces = word_piece_ids(tokenizer, sentence.words, cache)
        for start, end in _chunks(pieces, max_length - 2):
            ids, word_ids = [cls], [None]
            for w in range(start, end):
                kept = pieces[w][: max_length - 2]
                ids += kept
                word_ids += [w - start] * len(kept)
            ids.append(sep)
            word_ids.append(None)
            feature = {"input_ids": ids, "word_ids": word_ids, "sentence": s, "first_word": start}
            if label2id is not None:
                feature["labels"] = align_labels(word_ids, [label2id[t] for t in sentence.tags[start:end]])
            features.append(feature)
    return features

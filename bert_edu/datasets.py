"""The course's data, all derived from the Rotten Tomatoes asset (see :mod:`bert_edu.assets`).

* Sentiment: fresh -> positive (1), rotten -> negative (0); plot synopses dropped; exact duplicates
  removed; one fixed, seeded, stratified train / validation / test split.
* Pretraining corpus: plot synopses (split into sentences) and, grouped by movie, the review snippets
  of the *training* split only, so pretraining never sees a validation or test sentence of the
  sentiment task. Written in the original BERT format: one sentence per line, a blank line between
  documents.
"""

from __future__ import annotations

import bz2
import csv
import random
import re
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import NamedTuple

from bert_edu import assets

LABELS = ("negative", "positive")
SPLIT_SEED = 0
SPLIT_FRACTIONS = {"validation": 0.1, "test": 0.1}  # the rest is train


class Example(NamedTuple):
    text: str
    label: int  # index into LABELS


def read_rotten_tomatoes(path: Path | None = None) -> list[dict]:
    """All rows of the CSV as dicts (category, text, movie_name, has_plot_and_reviews)."""
    path = Path(path) if path else assets.rotten_tomatoes_path()
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def sentiment_examples(rows: list[dict] | None = None) -> list[Example]:
    """De-duplicated (text, label) pairs in file order; a text seen twice keeps its first row."""
    rows = read_rotten_tomatoes() if rows is None else rows
    label_of = {"rotten": 0, "fresh": 1}
    seen, out = set(), []
    for row in rows:
        if row["category"] not in label_of:
            continue  # plot synopses are not opinions
        text = " ".join(row["text"].split())
        if not text or text in seen:
            continue
        seen.add(text)
        out.append(Example(text, label_of[row["category"]]))
    return out


def sentiment_splits(seed: int = SPLIT_SEED, rows: list[dict] | None = None) -> dict[str, list[Example]]:
    """Fixed stratified split: {'train', 'validation', 'test'} -> list of Example.

    Stratified: each class is shuffled on its own and cut at the same fractions, so every split has
    the class balance of the whole. The same seed always gives the same split.
    """
    by_label = defaultdict(list)
    for ex in sentiment_examples(rows):
        by_label[ex.label].append(ex)
    rng = random.Random(seed)
    splits = {"train": [], "validation": [], "test": []}
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n_val = round(len(group) * SPLIT_FRACTIONS["validation"])
        n_test = round(len(group) * SPLIT_FRACTIONS["test"])
        splits["test"] += group[:n_test]
        splits["validation"] += group[n_test : n_test + n_val]
        splits["train"] += group[n_test + n_val :]
    for name in splits:  # mix the classes again, deterministically
        rng.shuffle(splits[name])
    return splits


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[])")


def split_sentences(text: str) -> list[str]:
    """A simple rule-based splitter: good enough for synopses, no model needed."""
    text = " ".join(text.split())
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def pretraining_documents(rows: list[dict] | None = None, seed: int = SPLIT_SEED) -> list[list[str]]:
    """Documents (lists of sentences) for MLM + NSP pretraining.

    Synopses are real running text, so "B follows A" means the next sentence. Review snippets of one
    movie form a document too: there "B follows A" means "another critic on the same film", which
    NSP can learn from topic alone, like much of what NSP learns from real books.
    """
    rows = read_rotten_tomatoes() if rows is None else rows
    held_out = {ex.text for name in ("validation", "test") for ex in sentiment_splits(seed, rows)[name]}
    docs = []
    reviews_by_movie = OrderedDict()
    for row in rows:
        if row["category"] == "plot":
            sentences = split_sentences(row["text"])
            if len(sentences) >= 2:
                docs.append(sentences)
        else:
            text = " ".join(row["text"].split())
            if text and text not in held_out:
                reviews_by_movie.setdefault(row["movie_name"], []).append(text)
    for snippets in reviews_by_movie.values():
        unique = list(dict.fromkeys(snippets))
        if len(unique) >= 2:
            docs.append(unique)
    return docs


def write_corpus(documents: list[list[str]], path: Path) -> Path:
    """One sentence per line, a blank line between documents (the original BERT input format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(doc) for doc in documents) + "\n")
    tmp.replace(path)
    return path


def read_corpus(path: Path) -> list[list[str]]:
    """Read the one-sentence-per-line format back into documents. Empty documents are dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus file {path} does not exist; pass a text file with one sentence per line and a blank "
            "line between documents"
        )
    docs, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                current.append(line)
            elif current:
                docs.append(current)
                current = []
    if current:
        docs.append(current)
    if not docs:
        raise ValueError(f"corpus file {path} holds no text")
    return docs


def corpus_path() -> Path:
    """The course's pretraining corpus, built from the Rotten Tomatoes asset on first use and cached."""
    source = assets.rotten_tomatoes_path()
    path = assets.cache_dir() / "data" / f"rt_pretraining_corpus_seed{SPLIT_SEED}.txt"
    if not path.is_file() or path.stat().st_mtime < source.stat().st_mtime:
        write_corpus(pretraining_documents(read_rotten_tomatoes(source)), path)
    return path


# ------------------------------------------------------------------------------------------------
# command line: the course's data as files, for the command-line tools and for other software


def write_sentiment_splits(out_dir: Path, seed: int = SPLIT_SEED) -> dict[str, Path]:
    """``train.csv``, ``validation.csv`` and ``test.csv`` (columns ``text,label``; label names, not ids)
    in ``out_dir``: the very split of notebook 08, for ``python -m bert_edu.finetune``."""
    from bert_edu.classification_data import write_labelled_file

    return {name: write_labelled_file(Path(out_dir) / f"{name}.csv", examples, LABELS)
            for name, examples in sentiment_splits(seed).items()}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bert_edu.datasets",
                                     description="Write the course's data to files.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sentiment", help="the fixed sentiment split as train/validation/test .csv files")
    p.add_argument("out_dir")
    p = sub.add_parser("corpus", help="the pretraining corpus (one sentence per line, blank line between "
                                      "documents) copied to a file")
    p.add_argument("out_file")
    args = parser.parse_args(argv)
    if args.command == "sentiment":
        for name, path in write_sentiment_splits(Path(args.out_dir)).items():
            n = sum(1 for _ in open(path, encoding="utf-8")) - 1
            print(f"{name:10s} {n:6,d} sentences -> {path}")
    else:
        documents = read_corpus(corpus_path())
        print(f"{len(documents):,} documents -> {write_corpus(documents, Path(args.out_file))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

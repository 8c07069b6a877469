"""The sentiment task of notebook 08, derived from the Rotten Tomatoes asset (see :mod:`bert_edu.data.assets`).

Fresh -> positive (1), rotten -> negative (0); plot synopses dropped; exact duplicates removed; one fixed,
seeded, stratified train / validation / test split. ``python -m bert_edu.data sentiment DIR`` writes it as
CSV files for the command lines.
"""

from __future__ import annotations

import bz2
import csv
import random
from collections import defaultdict
from pathlib import Path

from bert_edu.data import assets
from bert_edu.data.classification import Example, write_labelled_file

LABELS = ("negative", "positive")
SPLIT_SEED = 0
SPLIT_FRACTIONS = {"validation": 0.1, "test": 0.1}  # the rest is train


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


def write_sentiment_splits(out_dir: Path, seed: int = SPLIT_SEED) -> dict[str, Path]:
    """``train.csv``, ``validation.csv`` and ``test.csv`` (columns ``text,label``; label names, not ids)
    in ``out_dir``: the very split of notebook 08, for ``python -m bert_edu.finetune``."""
    return {name: write_labelled_file(Path(out_dir) / f"{name}.csv", examples, LABELS)
            for name, examples in sentiment_splits(seed).items()}

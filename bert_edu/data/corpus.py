"""The pretraining corpus of notebook 07, in the original BERT format: one sentence per line, a blank line
between documents.

Plot synopses (split into sentences) and, grouped by movie, the review snippets of the sentiment task's
*training* split only, so pretraining never sees a validation or test sentence of the sentiment task.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

from bert_edu.data import assets
from bert_edu.data.sentiment import SPLIT_SEED, read_rotten_tomatoes, sentiment_splits

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

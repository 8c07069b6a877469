"""Cloze question answering built from text the course already ships: extractive QA data with no download of
its own (the fallback while the ``squad`` asset cannot be fetched; notebook 11, ``python -m bert_edu.qa``).

A cloze question is a sentence of a document with one name or number blanked out; the context is the rest of the
document, where that name or number occurs again; the gold answers are its occurrences there. This is the design
of the Children's Book Test (Hill et al., 2016: the query is a sentence with a word removed, the context the
sentences around it) and of the CNN / Daily Mail questions (Hermann et al., 2015). Unlike SQuAD's, the questions
are made by a rule, not written by people: they are a reading test, not a test of understanding questions.

Three domains, all from pinned assets (nothing here downloads anything but them):

* ``wiki``: Wikipedia lead summaries (asset ``wiki_summaries``; Wikipedia text, CC BY-SA 4.0), one document per
  article. Candidates: capitalised names and numbers.
* ``news``: Reuters news of 1996 (asset ``conll2003``, the test file; research use under the terms of the Reuters
  Corpus), one document per ``-DOCSTART-``. Candidates: the gold entities (PER, LOC, ORG, MISC).
* ``plots``: the plot synopses of the ``rotten_tomatoes`` asset. Candidates: capitalised names and numbers.

Every example is a :class:`bert_edu.data.squad.SquadExample` and :func:`cloze_path` writes each domain as a
SQuAD v1.1 JSON file, so everything that reads SQuAD reads these too.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from bert_edu.data.squad import SquadExample, write_squad

BLANK = "_____"
RULE_VERSION = 1  # part of the cached files' names: raise it when the rule changes, so no stale file is read
DOMAINS = ("wiki", "news", "plots")
MIN_QUESTION_WORDS = 5  # words with a letter: a blanked sentence with fewer says too little to be a question
# words that open sentences with a capital but name nothing
_NOT_NAMES = frozenset("""a an the it its he she his her hers they them their this that these those there here in on
at of for from to by with as after before during when while where which who what however although though but and
or so also some many most other one two i we you our your my since until unlike like if because both each every
all no not nor yet then thus today later early late first last new""".split())
_JOINERS = frozenset({"of", "de", "the", "von", "van", "da", "del", "la"})
_NAME = re.compile(r"[A-Z][\w'’.-]*\w"  # a capitalised word, then more, maybe joined by "of", "de", "van", ...
                   r"(?:\s+(?:of\s+|de\s+|the\s+|von\s+|van\s+|da\s+|del\s+|la\s+)?[A-Z][\w'’.-]*\w)*")
_NUMBER = re.compile(r"(?<![\w.,])\d(?:[\d,.]*\d)?(?![\w])")


def _occurrences(text: str, context: str) -> list[int]:
    """Where ``text`` stands in ``context`` as whole words."""
    return [m.start() for m in re.finditer(r"(?<!\w)" + re.escape(text) + r"(?!\w)", context)]


def text_candidates(sentence: str) -> list[tuple[int, int]]:
    """Character spans of the names (capitalised word runs, a leading "The" dropped) and numbers of a sentence."""
    spans = []
    for m in _NAME.finditer(sentence):
        words = [(w.start(), w.group()) for w in re.finditer(r"\S+", m.group())]
        if words[0][1].lower() in _NOT_NAMES:  # "In the United States" -> "United States"; "De Gaulle" stays
            while words and words[0][1].lower() in _NOT_NAMES | _JOINERS:
                words.pop(0)
        if words:  # "He" -> nothing
            spans.append((m.start() + words[0][0], m.end()))
    spans += [(m.start(), m.end()) for m in _NUMBER.finditer(sentence)]
    return spans


def cloze_examples(documents, source: str) -> list[SquadExample]:
    """At most one question per sentence of each document.

    ``documents``: ``(title, sentences, spans)`` triples, where ``spans[i]`` lists the candidate answer spans
    ``(start, end)`` of ``sentences[i]`` (characters). Of the candidates that occur again in the rest of the
    document, the longest is blanked (the first of equals); its occurrences in the rest are the gold answers."""
    examples = []
    for d, (title, sentences, spans) in enumerate(documents):
        for i, sentence in enumerate(sentences):
            rest = sentences[:i] + sentences[i + 1:]
            if not rest:
                continue
            context = " ".join(rest)
            best = None
            for start, end in spans[i]:
                text = sentence[start:end]
                if len(text) < 2 or text.lower() in _NOT_NAMES:
                    continue
                hits = _occurrences(text, context)
                if hits and (best is None or end - start > best[1] - best[0]):
                    best = (start, end, hits)
            if best is None:
                continue
            start, end, hits = best
            question = sentence[:start] + BLANK + sentence[end:]
            if sum(any(ch.isalpha() for ch in word) for word in question.split()) < MIN_QUESTION_WORDS:
                continue  # too short, or a row of a results table ("_____ 17 8 4 5 30 20 28")
            text = sentence[start:end]
            examples.append(SquadExample(f"{source}-{d}-{i}", question, context, [text] * len(hits), hits, title))
    return examples


# ------------------------------------------------------------------------------------------------ the domains


def wiki_cloze(entries=None) -> list[SquadExample]:
    """Questions from the Wikipedia lead summaries (asset ``wiki_summaries``), in file order."""
    from bert_edu.data.corpus import read_wiki_summaries, split_sentences

    entries = read_wiki_summaries() if entries is None else entries
    docs = []
    for entry in entries:
        sentences = split_sentences(entry["extract"])
        docs.append((entry["title"], sentences, [text_candidates(s) for s in sentences]))
    return cloze_examples(docs, "wiki")


def plots_cloze(rows=None) -> list[SquadExample]:
    """Questions from the plot synopses of the ``rotten_tomatoes`` asset, in file order."""
    from bert_edu.data.corpus import split_sentences
    from bert_edu.data.sentiment import read_rotten_tomatoes

    rows = read_rotten_tomatoes() if rows is None else rows
    docs = []
    for row in rows:
        if row["category"] == "plot":
            sentences = split_sentences(row["text"])
            docs.append((row["movie_name"], sentences, [text_candidates(s) for s in sentences]))
    return cloze_examples(docs, "plots")


def conll_documents(path) -> list[tuple[str, list[str], list[list[tuple[int, int]]]]]:
    """The ``-DOCSTART-`` documents of a CoNLL file: sentences as words joined by spaces, and the character
    spans of their gold entities."""
    from bert_edu.data.conll import read_documents

    path = Path(path)
    docs = []
    for k, sentences in enumerate(read_documents(path)):
        docs.append((f"{path.stem}-{k}", [], []))
        for sentence in sentences:
            text, spans, at, open_span = "", [], 0, None
            for word, tag in zip(sentence.words, sentence.tags):
                at = len(text) + (1 if text else 0)
                text = f"{text} {word}" if text else word
                if tag.startswith("B-") or (tag.startswith("I-") and open_span is None):
                    open_span = [at, at + len(word)]
                    spans.append(open_span)
                elif tag.startswith("I-"):
                    open_span[1] = at + len(word)
                else:
                    open_span = None
            docs[-1][1].append(text)
            docs[-1][2].append([tuple(s) for s in spans])
    return docs


def news_cloze(path=None) -> list[SquadExample]:
    """Questions from the Reuters news of CoNLL-2003's test file (asset ``conll2003``), blanking gold entities."""
    from bert_edu.data.conll import conll2003_path

    return cloze_examples(conll_documents(path or conll2003_path("test")), "news")


BUILDERS = {"wiki": wiki_cloze, "news": news_cloze, "plots": plots_cloze}


def cloze_path(domain: str) -> Path:
    """The SQuAD v1.1 JSON file of a domain, built from the assets on first use and cached (like the corpus)."""
    from bert_edu.data import assets

    if domain not in BUILDERS:
        raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, not {domain!r}")
    path = assets.cache_dir() / "data" / "cloze_qa" / f"{domain}-rule{RULE_VERSION}.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{domain}-", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is readable like the rest of it
        try:
            write_squad(BUILDERS[domain](), tmp)
            os.replace(tmp, path)  # atomic: a reader never sees half a file, two writers never mix
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path

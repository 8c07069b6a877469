"""Rule-made *wh*-questions from text the course already ships: the training data of notebook 11's demo model
(``benchmarks/qa_demo_checkpoint.py``), so that a model answers "Who ...?", "When ...?" and "Where ...?" with no
human-written question data (SQuAD is no longer served by the package index).

A cloze question (:mod:`bert_edu.data.cloze_qa`) has a blank and no question word; people ask with a *wh*-word
and fewer, reordered words. The rule here is the "noisy cloze" translation of Lewis, Denoyer and Riedel (2019,
"Unsupervised Question Answering by Cloze Translation", ACL, arXiv:1906.04980): the TYPE of the answer chooses the
*wh*-word (a person or an organisation: *who*; a place: *where*; a date: *when*; a count: *how many*; another
name: *what*), the answer is removed from its sentence, a few words around it are kept (or, for an answer far into its
sentence, half the time the sentence's opening words, often its subject, and the word before the answer), some
are dropped and the rest are shuffled locally, and the *wh*-word goes in front. Unlike a cloze question, the sentence stays in the
context: as in SQuAD, the answer is in the sentence the question was made from.

Two sources:

* ``news``: Reuters news of 1996 (asset ``conll2003``). Its GOLD entity tags give the type (PER, ORG: *who*; LOC:
  *where*; MISC proper nouns: *what*); its part-of-speech tags find years and counts (CD), and weekday names
  are dates. Training uses the ``train`` file, evaluation the ``test`` file: different articles.
* ``wiki``: Wikipedia lead summaries (asset ``wiki_summaries``): only years after *in*, *from*, *since*, ... (a
  date: *when*), the one type a rule finds reliably without entity tags.

The questions are made by a rule, not written by people: they teach the mapping from *wh*-word to answer type,
not the grammar of questions. Every example is a :class:`bert_edu.data.squad.SquadExample`.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from bert_edu.data.squad import SquadExample

WH_BY_TYPE = {"PER": "who", "ORG": "who", "LOC": "where", "MISC": "what", "DATE": "when", "COUNT": "how many"}
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
MONTHS = frozenset("january february march april may june july august september october november december".split())
_YEAR = re.compile(r"^(1[5-9]\d\d|20[0-4]\d)$")
_WIKI_YEAR = re.compile(r"\b(?:in|from|since|until|to|between|and|of|by) (1[5-9]\d\d|20[0-4]\d)\b")
_NO_SPACE_BEFORE = frozenset({",", ".", ";", ":", "?", "!", ")", "'s", "n't", "%", "'"})
_NO_SPACE_AFTER = frozenset({"(", "$"})
CONTEXT_CHARS = 900  # a context is the question's sentence and its neighbours, up to about this many characters
MIN_SENTENCE_WORDS = 8  # words with a letter: fewer is a headline, a dateline or a row of a results table
# the noisy-cloze noise (Lewis et al. 2019): words kept on each side of the answer, dropping, local shuffling
KEEP_WORDS = (2, 7)
HEAD_PROBABILITY = 0.5  # an answer far into its sentence: how often the question keeps the sentence's opening words
DROP_PROBABILITY = 0.1
SHUFFLE_WINDOW = 3


def detokenize(words: list[str]) -> tuple[str, list[int]]:
    """CoNLL's space-separated words as text ("lamb ." -> "lamb."), and where each word starts in it."""
    text, starts = "", []
    for i, word in enumerate(words):
        glue = i > 0 and word not in _NO_SPACE_BEFORE and words[i - 1] not in _NO_SPACE_AFTER
        text += " " if glue else ""
        starts.append(len(text))
        text += word
    return text, starts


def _typed_spans(words, tags, pos) -> list[tuple[int, int, str]]:
    """Word spans ``(first, last + 1, type)`` of the answers a sentence offers: gold entities and dates/counts."""
    spans, i = [], 0
    while i < len(words):
        tag = tags[i]
        if tag.startswith("B-") or tag.startswith("I-"):
            kind, j = tag[2:], i + 1
            while j < len(words) and tags[j] == f"I-{kind}":
                j += 1
            if kind != "MISC" or all(p.startswith("NNP") for p in pos[i:j]):  # "German" (JJ) names no thing
                spans.append((i, j, kind))
            i = j
            continue
        low = words[i].lower()
        if pos[i] == "CD" and _YEAR.match(words[i]):
            spans.append((i, i + 1, "DATE"))
        elif low in WEEKDAYS or (low in MONTHS and low != "may"):
            spans.append((i, i + 1, "DATE"))
        elif pos[i] == "CD" and re.fullmatch(r"\d[\d,]*", words[i]) and i + 1 < len(words) and pos[i + 1] == "NNS":
            spans.append((i, i + 1, "COUNT"))  # "12 people": how many
        i += 1
    return spans


def noisy_question(left: list[str], right: list[str], wh: str, rng: random.Random) -> str | None:
    """The noisy-cloze question: a few words each side of the removed answer, some dropped, the rest shuffled
    within a small window, the *wh*-word in front; None when too few words with a letter are left."""
    if len(left) > KEEP_WORDS[1] and rng.random() < HEAD_PROBABILITY:
        # the sentence's opening words (often its subject: "the eiffel tower is") and the word or two before the
        # answer ("in"): people ask about the subject, and the answer can stand far from it
        near = rng.randint(0, 2)
        left = left[:rng.randint(2, 6)] + (left[len(left) - near:] if near else [])
        right = right[:rng.randint(0, 2)]
    else:
        left = left[len(left) - rng.randint(*KEEP_WORDS):] if left else []
        right = right[:rng.randint(*KEEP_WORDS)]
    words = [w.strip(",.;:!?()\"'") for w in left + right]
    words = [w for w in words if any(ch.isalnum() for ch in w)]
    kept = [w for w in words if rng.random() >= DROP_PROBABILITY] or words
    keys = [i + rng.uniform(0, SHUFFLE_WINDOW) for i in range(len(kept))]  # each word moves a few places at most
    shuffled = [w for _, w in sorted(zip(keys, kept))]
    if sum(any(ch.isalpha() for ch in w) for w in shuffled) < 2:
        return None
    return f"{wh} {' '.join(shuffled)}?".lower()


def _context(sentences: list[str], i: int) -> tuple[str, int]:
    """Sentence ``i`` with its neighbours (alternately after, then before) up to :data:`CONTEXT_CHARS`; returns
    the context and where sentence ``i`` starts in it."""
    lo, hi = i, i + 1
    while sum(len(s) + 1 for s in sentences[lo:hi]) < CONTEXT_CHARS and (lo > 0 or hi < len(sentences)):
        if hi < len(sentences):
            hi += 1
        if lo > 0 and sum(len(s) + 1 for s in sentences[lo:hi]) < CONTEXT_CHARS:
            lo -= 1
    return " ".join(sentences[lo:hi]), sum(len(s) + 1 for s in sentences[lo:i])


def _example(qid, title, sentences, i, start, end, question) -> SquadExample:
    """One question: the answer's occurrences in the context, the one the question was made from first."""
    context, offset = _context(sentences, i)
    text = sentences[i][start:end]
    first = offset + start
    others = [m.start() for m in re.finditer(r"(?<!\w)" + re.escape(text) + r"(?!\w)", context) if m.start() != first]
    starts = [first] + others
    return SquadExample(qid, question, context, [text] * len(starts), starts, title)


def news_questions(split: str = "train", seed: int = 0, path=None) -> list[SquadExample]:
    """At most one question per sentence of the CoNLL-2003 file ``split``, its answer type from the gold tags."""
    from bert_edu.data.conll import conll2003_path, read_documents

    path = Path(path or conll2003_path(split))
    rng = random.Random(seed)
    docs = read_documents(path)
    examples = []
    for d, doc in enumerate(docs):
        texts = [detokenize(s.words) for s in doc]
        sentences = [t for t, _ in texts]
        for i, s in enumerate(doc):
            if sum(any(ch.isalpha() for ch in w) for w in s.words) < MIN_SENTENCE_WORDS:
                continue
            spans = _typed_spans(s.words, s.tags, s.pos or ["?"] * len(s.words))
            if not spans:
                continue
            a, b, kind = rng.choice(spans)
            question = noisy_question(s.words[:a], s.words[b:], WH_BY_TYPE[kind], rng)
            if question is None:
                continue
            word_starts = texts[i][1]
            start, end = word_starts[a], word_starts[b - 1] + len(s.words[b - 1])
            examples.append(_example(f"wh-news-{split}-{d}-{i}", f"{path.stem}-{d}", sentences, i, start, end,
                                     question))
    return examples


def wiki_questions(entries=None, exclude_titles=frozenset(), seed: int = 0) -> list[SquadExample]:
    """*When* questions from the Wikipedia lead summaries: at most one per sentence, a year after a preposition;
    ``exclude_titles``: articles kept out (notebook 11's held-out test articles)."""
    from bert_edu.data.corpus import read_wiki_summaries, split_sentences

    rng = random.Random(seed)
    entries = read_wiki_summaries() if entries is None else entries
    examples = []
    for d, entry in enumerate(entries):
        if entry["title"] in exclude_titles:
            continue
        sentences = split_sentences(entry["extract"])
        for i, sentence in enumerate(sentences):
            years = list(_WIKI_YEAR.finditer(sentence))
            if not years or len(sentence.split()) < MIN_SENTENCE_WORDS:
                continue
            m = rng.choice(years)  # group 1 is the year; the preposition stays in the question
            left, right = sentence[:m.start(1)].split(), sentence[m.end(1):].split()
            question = noisy_question(left, right, "when", rng)
            if question is not None:
                examples.append(_example(f"wh-wiki-{d}-{i}", entry["title"], sentences, i, m.start(1), m.end(1),
                                         question))
    return examples

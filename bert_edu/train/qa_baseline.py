"""A question-answering baseline without learning: the sliding-window word-overlap baseline of the SQuAD paper
(Rajpurkar et al. 2016, "SQuAD: 100,000+ Questions for Machine Comprehension of Text", section 5), which
notebook 11 compares BERT with.

The paper's recipe, and where this version is simpler:

1. **Candidates.** The paper takes the constituents of a parse tree; we take every span of 1 to
   ``max_words`` words inside one sentence (no parser), without punctuation at its ends, with at least one
   word that is not a stop word, and with no content word of the question (an answer rarely repeats the
   question).
2. **Sentence overlap.** For each candidate, the unigram and bigram overlap between the question and the
   sentence that contains it, the candidate itself left out. The candidates with the largest overlap stay.
3. **Sliding window** (after Richardson et al. 2013, MCTest). Among those, the one whose neighbourhood (a window
   of as many words as the question has, on each side) holds the most question words, each weighted by its
   inverse frequency in the context, log(1 + 1/count): rare shared words count more than common ones.
   Then the shorter candidate, then the earlier one.

The paper's abstract puts its version at about 20% F1, against 51.0% for its logistic regression and 86.8%
for humans (the SQuAD test set).

    answer = sliding_window_answer("Where was the game played?", context)   # {"answer", "start", "end"}
"""

from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
STOP_WORDS = frozenset(
    "a an the of in on at to for from by with about as into than then and or but if is are was were be been "
    "being do does did has have had it its this that these those there their they them he she his her him we "
    "our you your i me my what which who whom whose when where why how many much".split())


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased words and punctuation marks with their character spans: ``[(word, start, end), ...]``."""
    return [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _sentences(words) -> list[tuple[int, int]]:
    """(first, last + 1) word indices of each sentence (a sentence ends after . ! or ?)."""
    spans, start = [], 0
    for i, (w, _, _) in enumerate(words):
        if w in ".!?":
            spans.append((start, i + 1))
            start = i + 1
    if start < len(words):
        spans.append((start, len(words)))
    return spans


def _content(words) -> set:
    return {w for w in words if w not in STOP_WORDS and (w[0].isalnum() or w[0] == "_")}


def _bigrams(words) -> set:
    return set(zip(words, words[1:]))


def sliding_window_answer(question: str, context: str, max_words: int = 4) -> dict:
    """The baseline's answer: ``{"answer", "start", "end"}`` with ``context[start:end] == answer``."""
    q = [w for w, _, _ in words_with_offsets(question)]
    q_content, q_bigrams = _content(q), _bigrams(q)
    words = words_with_offsets(context)
    tokens = [w for w, _, _ in words]
    counts = Counter(tokens)
    weight = {w: math.log(1 + 1 / counts[w]) for w in q_content if w in counts}  # rare shared words count more
    reach = max(1, len(q))
    best, best_key = None, None
    for first, last in _sentences(words):
        sentence = tokens[first:last]
        for i in range(first, last):
            for j in range(i, min(last, i + max_words)):
                span = tokens[i:j + 1]
                if not (span[0][0].isalnum() and span[-1][0].isalnum()) or not _content(span) \
                        or _content(span) & q_content:
                    continue
                rest = sentence[:i - first] + sentence[j + 1 - first:]
                overlap = len(_content(rest) & q_content) + len(_bigrams(rest) & q_bigrams)
                near = set(tokens[max(0, i - reach):i]) | set(tokens[j + 1:j + 1 + reach])
                window = sum(weight.get(w, 0.0) for w in near)
                key = (overlap, window, -len(span), -i)
                if best_key is None or key > best_key:
                    best, best_key = (i, j), key
    if best is None:
        return {"answer": "", "start": 0, "end": 0}
    start, end = words[best[0]][1], words[best[1]][2]
    return {"answer": context[start:end], "start": start, "end": end}

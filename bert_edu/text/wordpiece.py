"""Training a WordPiece vocabulary (notebook 01): start from characters, merge the best pair of pieces, repeat.

1. Split the texts into words with the tokenizer's own normalisation and count them (:func:`count_words`).
2. Start from characters: "word" -> w ##o ##r ##d. The vocabulary is the special tokens, then every character
   both as a word start ("o") and as a continuation ("##o") (:func:`initial_vocabulary`).
3. Repeat until the vocabulary is full: score every adjacent pair of pieces (a, b) (:func:`pair_scores`), merge
   the best into one new piece "ab" everywhere it occurs (:func:`merge_pair`), add it to the vocabulary.

``bert_edu.data.corpus.course_tokenizer`` trains one on the course corpus once and caches it (the data layer
holds it, so ``text/`` stays a leaf that imports nothing else of the package).
"""

from __future__ import annotations

import collections
import warnings
from typing import Iterable, Sequence

import numpy as np

from bert_edu.text.tokenizer import BertTokenizer, _describe, basic_tokenize

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
TRAINER_VERSION = "1"  # bump when train_wordpiece changes, so cached vocabularies are retrained


def count_words(texts: Iterable[str], do_lower_case: bool = True, strip_accents: bool | None = None,
                tokenize_chinese_chars: bool = True) -> collections.Counter:
    """How often each word of the basic tokenizer occurs in ``texts``."""
    counts: collections.Counter = collections.Counter()
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"train_wordpiece needs an iterable of strings; item {i} is {_describe(text)}")
        counts.update(basic_tokenize(text, do_lower_case, strip_accents, tokenize_chinese_chars))
    return counts


def initial_vocabulary(words: Sequence[str], special_tokens: Sequence[str] = SPECIALS) -> list[str]:
    """The special tokens, then each character of the corpus as a word start and as a continuation."""
    tokens = list(dict.fromkeys(special_tokens))
    for c in sorted({c for w in words for c in w}):
        tokens += [c, "##" + c]
    return list(dict.fromkeys(tokens))


def pair_scores(pair_count: np.ndarray, left_count: np.ndarray, right_count: np.ndarray, score: str,
                min_frequency: int) -> np.ndarray:
    """The score of each pair; -1 for pairs seen fewer than ``min_frequency`` times.

    ``"frequency"``: count(ab) (BPE's rule with ``##`` continuations, as HF tokenizers' WordPieceTrainer).
    ``"likelihood"``: count(ab) / (count(a) * count(b)), the WordPiece paper's greedy merge: how much more
    often a and b occur together than chance predicts.
    """
    if score == "likelihood":
        with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 for pairs that are gone
            scores = pair_count / (left_count * right_count)
    else:
        scores = pair_count.astype(np.float64, copy=True)
    scores[pair_count < min_frequency] = -1.0
    return scores


def merge_pair(seq: list[int], a: int, b: int, new: int) -> list[int]:
    """``seq`` with every adjacent (a, b) replaced by ``new``, left to right."""
    merged, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
            merged.append(new)
            i += 2
        else:
            merged.append(seq[i])
            i += 1
    return merged


class PairTable:
    """Counts of pieces and of adjacent pairs (weighted by word frequency) and the words each pair occurs in,
    mirrored in numpy arrays so the best pair is one vectorised argmax per merge."""

    def __init__(self, seqs: list[list[int]], freqs: list[int], vocab_size: int):
        self.piece_count = np.zeros(max(2 * vocab_size, 1024), dtype=np.float64)
        self.ids: dict[tuple[int, int], int] = {}
        self.left, self.right, self.count, self.where = [], [], [], []
        self.touched: set[int] = set()  # pairs whose count changed since the last sync
        for w, (seq, f) in enumerate(zip(seqs, freqs)):
            for p in seq:
                self.piece_count[p] += f
            for pair in zip(seq, seq[1:]):
                self.add(pair, f, w)
        cap = max(1024, 2 * len(self.left))
        self.np_left, self.np_right = np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64)
        self.np_count = np.zeros(cap, dtype=np.float64)
        self.n_synced = 0
        self.sync()

    def add(self, pair: tuple[int, int], delta: float, word: int) -> int:
        pid = self.ids.get(pair)
        if pid is None:
            pid = self.ids[pair] = len(self.left)
            self.left.append(pair[0])
            self.right.append(pair[1])
            self.count.append(0)
            self.where.append(set())
        self.count[pid] += delta
        self.touched.add(pid)
        if delta > 0:
            self.where[pid].add(word)
        return pid

    def best(self, score: str, min_frequency: int) -> int | None:
        """The id of the best-scoring pair (the first on ties), or None when no pair is frequent enough."""
        n = self.n_synced
        left, right = self.np_left[:n], self.np_right[:n]
        scores = pair_scores(self.np_count[:n], self.piece_count[left], self.piece_count[right], score,
                             min_frequency)
        best = int(np.argmax(scores))
        return None if scores[best] < 0 else best

    def update(self, w: int, seq: list[int], merged: list[int], f: int) -> None:
        """Word ``w`` (frequency ``f``) went from ``seq`` to ``merged``: move its piece and pair counts."""
        for p in seq:
            self.piece_count[p] -= f
        for p in merged:
            self.piece_count[p] += f
        old_pairs, new_pairs = list(zip(seq, seq[1:])), list(zip(merged, merged[1:]))
        for pair in old_pairs:
            self.add(pair, -f, w)
        for pair in new_pairs:
            self.add(pair, f, w)
        for pair in set(old_pairs) - set(new_pairs):
            self.where[self.ids[pair]].discard(w)

    def new_piece(self, new: int) -> None:
        if new >= len(self.piece_count):
            self.piece_count = np.resize(self.piece_count, 2 * len(self.piece_count))
            self.piece_count[new:] = 0

    def sync(self) -> None:
        """Copy new pairs and changed counts into the numpy mirrors (only what changed: merges are many)."""
        n = len(self.left)
        if n > len(self.np_left):
            cap = 2 * n
            self.np_left, self.np_right, self.np_count = (np.resize(a, cap) for a in
                                                          (self.np_left, self.np_right, self.np_count))
        self.np_left[self.n_synced:n] = self.left[self.n_synced:n]
        self.np_right[self.n_synced:n] = self.right[self.n_synced:n]
        self.np_count[self.n_synced:n] = self.count[self.n_synced:n]
        self.n_synced = n
        for pid in self.touched:
            self.np_count[pid] = self.count[pid]
        self.touched = set()


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2,
                    do_lower_case: bool = True, strip_accents: bool | None = None,
                    tokenize_chinese_chars: bool = True, special_tokens: Sequence[str] = SPECIALS,
                    score: str = "frequency") -> list[str]:
    """Learn a WordPiece vocabulary of ``vocab_size`` tokens; returns the tokens in id order.

    ``score="frequency"`` (the default) merges the most frequent pair; ``score="likelihood"`` uses the WordPiece
    paper's score, which on its own prefers pairs whose parts are rare, so on a small corpus it spends the
    vocabulary on rare fragments (notebook 01 measures this). Only pairs seen at least ``min_frequency`` times
    are merged. Ties go to the pair seen first, so the result is deterministic, and the vocabulary for a
    smaller size is a prefix of that for a larger size.
    """
    if score not in ("likelihood", "frequency"):
        raise ValueError(f"score={score!r}: use 'likelihood' (WordPiece) or 'frequency' (BPE)")
    if isinstance(texts, str):
        raise TypeError("train_wordpiece needs an iterable of texts (e.g. a list of sentences), not one string")
    word_counts = count_words(texts, do_lower_case, strip_accents, tokenize_chinese_chars)
    words = sorted(word_counts)  # a fixed order makes every tie-break deterministic
    freqs = [word_counts[w] for w in words]
    tokens = initial_vocabulary(words, special_tokens)
    if vocab_size < len(tokens):
        raise ValueError(f"vocab_size={vocab_size} is smaller than the {len(tokens)} special tokens and "
                         "characters of this corpus; ask for a larger vocabulary")
    token_id = {t: i for i, t in enumerate(tokens)}
    seqs = [[token_id[w[0]]] + [token_id["##" + c] for c in w[1:]] for w in words]
    table = PairTable(seqs, freqs, vocab_size)
    while len(tokens) < vocab_size:
        best = table.best(score, min_frequency)
        if best is None:  # no pair is frequent enough: the corpus cannot fill a larger vocabulary
            warnings.warn(f"train_wordpiece: the corpus ran out of pairs seen >= {min_frequency} times after "
                          f"{len(tokens)} tokens; returning {len(tokens)} instead of vocab_size={vocab_size} "
                          "(use more text, a smaller vocab_size or min_frequency=1)", stacklevel=2)
            break
        a, b = table.left[best], table.right[best]
        merged_token = tokens[a] + tokens[b][2:]  # b is a continuation: "##..."
        new = token_id.get(merged_token)
        if new is None:
            new = token_id[merged_token] = len(tokens)
            tokens.append(merged_token)
            table.new_piece(new)
        for w in sorted(table.where[best]):
            merged = merge_pair(seqs[w], a, b, new)
            if len(merged) != len(seqs[w]):
                table.update(w, seqs[w], merged, freqs[w])
                seqs[w] = merged
        table.sync()
    return tokens


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2,
                    do_lower_case: bool = True, strip_accents: bool | None = None,
                    tokenize_chinese_chars: bool = True, score: str = "frequency", **kwargs) -> BertTokenizer:
    """Learn a WordPiece vocabulary from ``texts`` and return a :class:`BertTokenizer` that uses it."""
    vocab = train_wordpiece(texts, vocab_size, min_frequency=min_frequency, do_lower_case=do_lower_case,
                            strip_accents=strip_accents, tokenize_chinese_chars=tokenize_chinese_chars,
                            score=score)
    return BertTokenizer(vocab, do_lower_case=do_lower_case, strip_accents=strip_accents,
                         tokenize_chinese_chars=tokenize_chinese_chars, **kwargs)

"""What BERT must beat: every baseline of the course in one place (notebooks 07, 08, 10, 11 and 12).

* text classification (notebook 08): :func:`majority_baseline` (always the most frequent training label) and
  a bag-of-words logistic regression (:class:`BagOfWords`, :func:`fit_logistic_regression`);
* named entities (notebook 10): :func:`most_frequent_tag_baseline` (each word's most frequent training tag);
* probes (notebook 12): :func:`tag_baselines` (the most frequent tag, and each word's most frequent tag);
* question answering (notebook 11): :func:`sliding_window_answer` (the SQuAD paper's word-overlap baseline).

Pure functions of the data (torch and the standard library only): no model, no training loop.
* pretraining (notebook 07): :func:`pretraining_baselines` (the most frequent token, the unigram loss and the
  NSP majority class), given the training token counts and the held-out targets.

## Bag of words (notebook 08)

Baselines without BERT, for notebook 08's learning curve (``benchmarks/learning_curve.py``).

A bag-of-words logistic regression, written in torch: each sentence becomes the SET of its words (order
thrown away), and one weight per word and label is learnt. It is the classic text classifier, and the number
a pretrained model has to beat to show that it learnt more than which words are positive::

    bow = BagOfWords.fit(train_texts)                      # the vocabulary of the training sentences
    model = fit_logistic_regression(bow, train_texts, train_labels, val_texts, val_labels)
    accuracy = bow_accuracy(model, bow, test_texts, test_labels)

The L2 penalty (the only setting) is chosen on the validation set, as the epoch is for the BERT models.

## Word overlap for question answering (notebook 11)

A question-answering baseline without learning: the sliding-window word-overlap baseline of the SQuAD paper
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
from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# ------------------------------------------------------------------------------------------------
# classification: the majority class (notebook 08)


def pretraining_baselines(token_counts: Counter, mlm_targets: torch.Tensor, nsp_labels: torch.Tensor) -> dict:
    """What a pretraining model that ignores its input scores on held-out MLM targets and NSP labels.

    * MLM: always predict the most frequent training token (accuracy), and the loss of predicting the
      training unigram distribution (the best context-free guess: a model that learnt only token
      frequencies gets exactly this; a token never seen in training counts as half an occurrence).
    * NSP: always predict the majority class of the held-out pairs (about 50%).
    """
    if not len(mlm_targets) or not len(nsp_labels):
        raise ValueError("pretraining_baselines needs at least one MLM target and one NSP label")
    total = sum(token_counts.values())
    top_token, _ = token_counts.most_common(1)[0]
    unigram_nll = -sum(math.log(token_counts.get(int(t), 0.5) / total) for t in mlm_targets) / len(mlm_targets)
    majority = max(nsp_labels.eq(label).float().mean().item() for label in nsp_labels.unique())
    return {"mlm_accuracy": (mlm_targets == top_token).float().mean().item(), "mlm_top_token": top_token,
            "mlm_unigram_loss": unigram_nll, "nsp_accuracy": majority}


def majority_baseline(train_labels, eval_labels) -> dict:
    """Always predict the most frequent training label: the accuracy any classifier must beat."""
    counts = torch.bincount(torch.as_tensor(train_labels))
    majority = int(counts.argmax())
    accuracy = (torch.as_tensor(eval_labels) == majority).float().mean().item()
    return {"label": majority, "accuracy": accuracy}


# ------------------------------------------------------------------------------------------------
# classification: bag of words (notebook 08, benchmarks/learning_curve.py)

_BOW_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")  # words (with "n't"-style endings) and punctuation
L2_GRID = (0.01, 0.1, 1.0, 10.0)  # times 1/n: sklearn's C = 1 is l2 = 0.5


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: ``"Not bad, really!"`` -> ``['not', 'bad', ',', 'really', '!']``."""
    return _BOW_WORD.findall(text.lower())


@dataclass
class BagOfWords:
    vocab: dict  # word -> column

    @classmethod
    def fit(cls, texts, min_count: int = 1) -> "BagOfWords":
        """The vocabulary: every word seen at least ``min_count`` times in ``texts`` (sorted, so reproducible)."""
        counts = Counter(w for t in texts for w in set(words(t)))
        return cls({w: i for i, w in enumerate(sorted(w for w, c in counts.items() if c >= min_count))})

    def encode(self, texts) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, offsets) for ``nn.EmbeddingBag``: the ids of each sentence's distinct known words, concatenated."""
        ids, offsets = [], []
        for t in texts:
            offsets.append(len(ids))
            ids += sorted({self.vocab[w] for w in words(t) if w in self.vocab})
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


class LogisticRegression(torch.nn.Module):
    """logits = sum of the weights of the words present + bias: ``EmbeddingBag`` is exactly a sparse linear layer."""

    def __init__(self, vocab_size: int, num_labels: int = 2):
        super().__init__()
        self.weight = torch.nn.EmbeddingBag(vocab_size, num_labels, mode="sum")
        self.bias = torch.nn.Parameter(torch.zeros(num_labels))
        torch.nn.init.zeros_(self.weight.weight)  # a convex problem: start at 0, no seed needed

    def forward(self, ids, offsets):
        return self.weight(ids, offsets) + self.bias


def train_logistic_regression(bow: BagOfWords, texts, labels, l2: float, steps: int = 300,
                              lr: float = 0.1, num_labels: int = 2) -> LogisticRegression:
    """Full-batch Adam on cross-entropy + ``l2`` * (sum of squared word weights) / number of sentences."""
    ids, offsets = bow.encode(texts)
    y = torch.as_tensor(labels, dtype=torch.long)
    model = LogisticRegression(len(bow.vocab), num_labels)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(model(ids, offsets), y) + l2 * model.weight.weight.pow(2).sum() / len(y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def bow_accuracy(model: LogisticRegression, bow: BagOfWords, texts, labels) -> float:
    ids, offsets = bow.encode(texts)
    return (model(ids, offsets).argmax(-1) == torch.as_tensor(labels)).float().mean().item()


def fit_logistic_regression(bow: BagOfWords, texts, labels, val_texts, val_labels, l2_grid=L2_GRID,
                            steps: int = 300) -> tuple[LogisticRegression, dict]:
    """Train one model per L2 penalty; keep the best on the validation set (ties: the stronger penalty)."""
    best, best_acc, scores = None, -1.0, {}
    for l2 in sorted(l2_grid, reverse=True):
        model = train_logistic_regression(bow, texts, labels, l2, steps)
        scores[l2] = bow_accuracy(model, bow, val_texts, val_labels)
        if scores[l2] > best_acc:
            best, best_acc = model, scores[l2]
    return best, {"validation_accuracy": best_acc, "l2": [k for k, v in scores.items() if v == best_acc][0],
                  "scores": scores}


# ------------------------------------------------------------------------------------------------
# named entities: the most frequent tag (notebook 10)


def tag_baselines(train_words, train_tags, test_words, test_tags) -> dict[str, float]:
    """Two accuracies with no network at all: the most frequent tag everywhere, and each word's most frequent
    training tag (unseen words get the overall most frequent tag)."""
    overall = Counter(train_tags).most_common(1)[0][0]
    by_word: dict[str, Counter] = {}
    for w, t in zip(train_words, train_tags):
        by_word.setdefault(w.lower(), Counter())[t] += 1
    majority = sum(t == overall for t in test_tags) / len(test_tags)
    lookup = [by_word[w.lower()].most_common(1)[0][0] if w.lower() in by_word else overall for w in test_words]
    per_word = sum(p == t for p, t in zip(lookup, test_tags)) / len(test_tags)
    return {"most frequent tag": majority, "most frequent tag of the word": per_word}


def most_frequent_tag_baseline(train_sentences, sentences) -> list[list[str]]:
    """Each word gets the tag it had most often in training (``O`` for an unseen word): the baseline of
    the CoNLL-2003 shared task, which tagged only entities seen in training."""
    counts = defaultdict(Counter)
    for s in train_sentences:
        for word, tag in zip(s.words, s.tags):
            counts[word][tag] += 1
    # an I-X after O is read as the start of an entity, as conlleval reads it
    return [[counts[w].most_common(1)[0][0] if w in counts else "O" for w in s.words] for s in sentences]


# ------------------------------------------------------------------------------------------------
# question answering: sliding-window word overlap (notebook 11)

_QA_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
STOP_WORDS = frozenset(
    "a an the of in on at to for from by with about as into than then and or but if is are was were be been "
    "being do does did has have had it its this that these those there their they them he she his her him we "
    "our you your i me my what which who whom whose when where why how many much".split())


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased words and punctuation marks with their character spans: ``[(word, start, end), ...]``."""
    return [(m.group().lower(), m.start(), m.end()) for m in _QA_WORD.finditer(text)]


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

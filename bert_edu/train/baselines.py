"""Baselines without BERT, for notebook 08's learning curve (``benchmarks/learning_curve.py``).

A bag-of-words logistic regression, written in torch: each sentence becomes the SET of its words (order
thrown away), and one weight per word and label is learnt. It is the classic text classifier, and the number
a pretrained model has to beat to show that it learnt more than which words are positive::

    bow = BagOfWords.fit(train_texts)                      # the vocabulary of the training sentences
    model = fit_logistic_regression(bow, train_texts, train_labels, val_texts, val_labels)
    accuracy = bow_accuracy(model, bow, test_texts, test_labels)

The L2 penalty (the only setting) is chosen on the validation set, as the epoch is for the BERT models.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")  # words (with "n't"-style endings) and punctuation
L2_GRID = (0.01, 0.1, 1.0, 10.0)  # times 1/n: sklearn's C = 1 is l2 = 0.5


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: ``"Not bad, really!"`` -> ``['not', 'bad', ',', 'really', '!']``."""
    return _WORD.findall(text.lower())


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

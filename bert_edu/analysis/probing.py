"""Linear probes: what does each layer make linearly readable? (notebooks 12 and 08)

A *probe* is a small classifier trained on a frozen model's vectors to predict a property the model was
never trained on; here the part of speech of each word (CoNLL-2003's second column, ``Sentence.pos``). One
probe per layer (the embeddings are "layer 0") says where in the stack that property becomes linearly
available. A probe's accuracy alone says little, so every number is read against two controls:

* **random weights**: the same architecture with untrained weights reads the same words; whatever its probe
  reaches comes from the word identities and the probe itself, not from pretraining;
* **a control task** (Hewitt and Liang 2019, *Designing and Interpreting Probes with Control Tasks*): each word
  type gets a random tag, drawn once from the tag frequencies. Only memorising word types solves it, so a probe's
  accuracy on it measures how much the probe can memorise; *selectivity* = real accuracy - control accuracy.

Each word is represented by the vector of its first WordPiece (as BERT's paper does for tagging, section 5.3).
The probe is multinomial logistic regression, trained full-batch with L-BFGS and a little weight decay.
"""

from __future__ import annotations

import random
from collections import Counter

import torch
import torch.nn.functional as F

from bert_edu.evaluation.baselines import tag_baselines  # noqa: F401  (notebook 12 reads it here)


@torch.no_grad()
def word_vectors(model, tokenizer, sentences, batch_size: int = 32, max_length: int = 128) -> torch.Tensor:
    """(layers + 1, words, hidden): every layer's vector of the first piece of every word, in reading order.

    ``sentences`` have ``.words``; ``model`` is a BertModel (or anything returning ``hidden_states``).
    A sentence longer than ``max_length`` pieces is cut into parts, so every word keeps its vector.
    """
    from bert_edu.data.conll import encode_sentences

    features = encode_sentences(tokenizer, sentences, max_length=max_length)
    device = next(model.parameters()).device
    model.eval()
    per_feature = []
    for start in range(0, len(features), batch_size):
        chunk = features[start:start + batch_size]
        longest = max(len(f["input_ids"]) for f in chunk)
        ids = torch.full((len(chunk), longest), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, f in enumerate(chunk):
            ids[i, :len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[i, :len(f["input_ids"])] = 1
        hidden = torch.stack(model(ids.to(device), attention_mask=mask.to(device),
                                   output_hidden_states=True).hidden_states)  # (layers + 1, batch, T, hidden)
        for i, f in enumerate(chunk):
            first = [t for t, w in enumerate(f["word_ids"]) if w is not None and f["word_ids"][t - 1] != w]
            per_feature.append(hidden[:, i, first].float().cpu())
    return torch.cat(per_feature, dim=1)


@torch.no_grad()
def sentence_vectors(model, tokenizer, texts, batch_size: int = 64, max_length: int = 128) -> torch.Tensor:
    """(layers + 1, sentences, hidden): every layer's mean over each sentence's tokens (padding excluded).

    What a frozen encoder offers a sentence classifier (notebook 08 probes its pretrained checkpoint against
    random weights with it); ``model`` is a BertModel or anything returning ``hidden_states``."""
    from bert_edu.model.bert import mean_pooling

    device = next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        mask = enc["attention_mask"].to(device)
        hidden = model(enc["input_ids"].to(device), attention_mask=mask, output_hidden_states=True).hidden_states
        out.append(torch.stack([mean_pooling(h, mask).float().cpu() for h in hidden]))
    return torch.cat(out, dim=1)


def word_tags(sentences, column: str = "pos") -> list[str]:
    """The tags of every word, in the order of :func:`word_vectors`."""
    tags = []
    for s in sentences:
        row = s.columns.get(column) if hasattr(s, "columns") else getattr(s, column)
        if row is None:
            raise ValueError(f"a sentence has no {column!r} column; read CoNLL-2003 with its four columns "
                             "(word, pos, chunk, tag)")
        tags += list(row)
    return tags


def control_tags(words: list[str], tags: list[str], seed: int = 0) -> dict[str, str]:
    """Hewitt and Liang's control task: each (lower-cased) word type gets one tag, drawn at random with the
    frequencies the real tags have. Returns {word type: control tag}."""
    counts = Counter(tags)
    names, weights = list(counts), [counts[t] for t in counts]
    rng = random.Random(seed)
    return {w: rng.choices(names, weights)[0] for w in sorted({w.lower() for w in words})}


def fit_probe(x: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float = 1e-3,
              max_iter: int = 100) -> torch.nn.Linear:
    """Multinomial logistic regression on (n, d) features: one linear layer, cross-entropy + L2, L-BFGS."""
    torch.manual_seed(0)
    probe = torch.nn.Linear(x.shape[1], num_classes)
    optimizer = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(x), y) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe


def standardise(train: torch.Tensor, *others: torch.Tensor):
    """Centre and scale every feature with the TRAINING set's mean and std (same transform for the others):
    layers differ in scale by orders of magnitude, and one weight decay should mean the same for all."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


def probe_accuracy(train_x, train_y, test_x, test_y, num_classes: int, **kwargs) -> float:
    """Test accuracy of a linear probe fitted on the training words."""
    train_x, test_x = standardise(train_x, test_x)
    probe = fit_probe(train_x, train_y, num_classes, **kwargs)
    with torch.no_grad():
        return (probe(test_x).argmax(-1) == test_y).float().mean().item()


def probe_layers(train_vectors, train_y, test_vectors, test_y, num_classes: int, **kwargs) -> list[float]:
    """One probe per layer: ``*_vectors`` are (layers + 1, words, hidden) from :func:`word_vectors`."""
    return [probe_accuracy(a, train_y, b, test_y, num_classes, **kwargs)
            for a, b in zip(train_vectors, test_vectors)]

"""How SQuAD v1.1 scores an extractive answer, and how a span is read off start/end logits (notebook 11,
``python -m bert_edu.qa``).

The metrics follow the official SQuAD v1.1 evaluation script (``evaluate-v1.1.py``) exactly:

* **normalisation** (:func:`normalize_answer`): lower-case, delete ASCII punctuation, delete the words
  "a", "an", "the", collapse whitespace. "The Denver Broncos!" and "denver broncos" are the same answer.
* **exact match**: the normalised prediction equals a normalised gold answer (1 or 0);
* **F1**: overlap of the normalised words (a bag of words: counts matter, order does not), 2PR/(P+R);
  0 when no word is shared, even if both sides normalise to nothing (v1.1's rule; v2.0 changed it);
* each question has up to a few gold answers (crowd workers disagree on the span): a prediction gets the
  **maximum** over them, and the dataset score is the mean over questions. A question without a prediction
  scores 0. We return fractions (0-1); the script prints percentages.

Decoding (:func:`best_span`): the model scores every token as a start and as an end; the answer is the span
``start <= end``, at most ``max_answer_length`` tokens, inside the context, with the highest
``start_logit + end_logit`` (the sum of logits is the log of the product of the two probabilities, up to a
constant), as in the BERT paper (section 4.2) and transformers' question-answering examples.

:func:`question_type` sorts questions by their wh-word, for the error analysis of notebook 11.

Pure functions: strings, plus torch for the logits. No model code.
"""

from __future__ import annotations

import re
import string
from collections import Counter

import torch

_PUNCTUATION = set(string.punctuation)  # ASCII only, as the official script: "–" and "“" stay
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop articles, collapse whitespace (in the official script's order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(ground_truths) -> list[str]:
    golds = [ground_truths] if isinstance(ground_truths, str) else list(ground_truths)
    if not golds:
        raise ValueError("a question needs at least one gold answer to be scored")
    return golds


def _f1_one(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)  # shared words, with multiplicity
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truths) -> float:
    """1.0 if the normalised prediction equals some normalised gold answer, else 0.0."""
    return float(max(normalize_answer(prediction) == normalize_answer(g) for g in _golds(ground_truths)))


def f1_score(prediction: str, ground_truths) -> float:
    """Word-overlap F1 with the best-matching gold answer (``ground_truths``: one string or a list)."""
    return max(_f1_one(prediction, g) for g in _golds(ground_truths))


def squad_scores(gold_answers: dict, predictions: dict) -> dict:
    """``gold_answers``: question id -> list of gold texts; ``predictions``: question id -> text.

    -> ``{"exact_match", "f1"}`` as fractions (0-1) averaged over every gold question (a question without a
    prediction scores 0, as in the official script), ``n`` questions and ``n_unanswered``.
    """
    if not gold_answers:
        raise ValueError("no gold questions to score")
    em = f1 = 0.0
    unanswered = 0
    for qid, golds in gold_answers.items():
        if qid not in predictions:
            unanswered += 1
            continue
        em += exact_match_score(predictions[qid], golds)
        f1 += f1_score(predictions[qid], golds)
    n = len(gold_answers)
    return {"exact_match": em / n, "f1": f1 / n, "n": n, "n_unanswered": unanswered}


# ------------------------------------------------------------------------------------------------ decoding


def span_scores(start_logits: torch.Tensor, end_logits: torch.Tensor, context_mask: torch.Tensor | None = None,
                max_answer_length: int = 30) -> torch.Tensor:
    """(T, T) matrix: ``start_logits[i] + end_logits[j]`` where span i..j is valid, ``-inf`` elsewhere.

    Valid: ``i <= j``, ``j - i + 1 <= max_answer_length``, both i and j in the context (``context_mask``
    True; None means every position)."""
    if start_logits.dim() != 1 or start_logits.shape != end_logits.shape:
        raise ValueError(f"start_logits and end_logits must be 1-D and of the same length, got "
                         f"{tuple(start_logits.shape)} and {tuple(end_logits.shape)}")
    if max_answer_length < 1:
        raise ValueError(f"max_answer_length must be at least 1, got {max_answer_length}")
    n = start_logits.shape[0]
    scores = start_logits.float()[:, None] + end_logits.float()[None, :]
    ones = torch.ones(n, n, dtype=torch.bool, device=scores.device)
    valid = torch.triu(ones) & ~torch.triu(ones, diagonal=max_answer_length)  # 0 <= j - i < max length
    if context_mask is not None:
        mask = torch.as_tensor(context_mask, dtype=torch.bool, device=scores.device)
        valid &= mask[:, None] & mask[None, :]
    return scores.masked_fill(~valid, float("-inf"))


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, context_mask: torch.Tensor | None = None,
              max_answer_length: int = 30) -> tuple[int, int, float]:
    """The valid span with the highest start + end logit: ``(start, end, score)``, token indices, end included.

    Ties go to the earliest start, then the earliest end. Raises ValueError when no span is valid (an empty
    context)."""
    scores = span_scores(start_logits, end_logits, context_mask, max_answer_length)
    flat = int(torch.argmax(scores))  # the first maximum in row-major order
    start, end = divmod(flat, scores.shape[1])
    score = float(scores[start, end])
    if score == float("-inf"):
        raise ValueError("no valid span: the context mask selects no token")
    return start, end, score


# ------------------------------------------------------------------------------------------ error analysis

QUESTION_TYPES = ("how many", "how much", "how", "what", "which", "who", "whom", "whose", "when", "where",
                  "why")


def question_type(question: str) -> str:
    """The question's wh-phrase ("how many", "what", "who", ...; the first one found), or "other"."""
    words = re.findall(r"[a-z]+", question.lower())
    text = " " + " ".join(words) + " "
    first, found = len(text), "other"
    for kind in QUESTION_TYPES:
        at = text.find(f" {kind} ")
        if at != -1 and at < first:  # "how many" is listed before "how": on the same position it wins
            first, found = at, kind
    return {"whom": "who", "whose": "who"}.get(found, found)

"""Entity-level precision, recall and F1 for BIO-tagged sequences, as the CoNLL-2003 shared task scores them
(notebook 10, ``python -m bert_edu.ner``).

A prediction counts only when a WHOLE entity is right: same first word, same last word, same type.
Getting "New York" as ``B-LOC O`` earns nothing for the first word: it is a wrong entity ("New") plus a
missed one ("New York"). Scores are micro-averaged over all entities of all types.

Chunks are read the way the ``conlleval`` script (and ``seqeval``'s default mode) reads them, so a tagger's
raw output need not be valid BIO: an ``I-X`` that follows ``O`` or another type starts a new entity.
The tests check these numbers equal seqeval's on thousands of random tag sequences.

    get_entities(["B-PER", "I-PER", "O", "B-LOC"])      # [("PER", 0, 2), ("LOC", 3, 4)]  (end exclusive)
    entity_scores(gold_sentences, predicted_sentences)  # {"precision", "recall", "f1", "per_type", ...}
    print(format_table(scores))                         # the per-type table

Pure Python: no model, no torch.
"""

from __future__ import annotations


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. Anything else is not a BIO tag."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if prefix not in ("B", "I") or not sep or not kind:
        raise ValueError(f"{tag!r} is not a BIO tag: expected 'O', 'B-TYPE' or 'I-TYPE'")
    return prefix, kind


def get_entities(tags) -> list[tuple[str, int, int]]:
    """The entities in one sentence's tags as ``(type, start, end)`` with ``end`` exclusive.

    An entity starts at ``B-X``, or at ``I-X`` when the previous tag is not part of an ``X`` entity
    (conlleval's reading of invalid sequences); it goes on over the following ``I-X`` tags.
    """
    entities, start, current = [], None, ""
    for i, tag in enumerate(list(tags) + ["O"]):  # the "O" closes an entity that runs to the end
        prefix, kind = split_tag(tag)
        if start is not None and (prefix != "I" or kind != current):
            entities.append((current, start, i))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, current = i, kind
    return entities


def _prf(correct: int, predicted: int, gold: int) -> dict:
    # 0 where a ratio is undefined (no prediction / no gold entity), as seqeval's default does
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold,
            "predicted": predicted, "correct": correct}


def entity_scores(gold, predicted) -> dict:
    """Micro precision/recall/F1 over all entities, plus ``per_type``: ``{type: {precision, recall, f1,
    support (gold entities), predicted, correct}}``.

    ``gold`` and ``predicted``: one list of tags per sentence, of equal lengths. Entities never cross
    sentence boundaries.
    """
    gold, predicted = list(gold), list(predicted)
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    gold_set, pred_set = set(), set()
    for s, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {s}: {len(g)} gold tags but {len(p)} predicted tags")
        gold_set.update((s, *e) for e in get_entities(g))
        pred_set.update((s, *e) for e in get_entities(p))
    correct = gold_set & pred_set
    types = sorted({e[1] for e in gold_set | pred_set})
    per_type = {t: _prf(sum(e[1] == t for e in correct), sum(e[1] == t for e in pred_set),
                        sum(e[1] == t for e in gold_set)) for t in types}
    return {**_prf(len(correct), len(pred_set), len(gold_set)), "per_type": per_type}


def format_table(scores: dict, digits: int = 1) -> str:
    """The per-type table (percentages) with the micro average as its last row, like conlleval prints."""
    lines = [f"{'type':8s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'gold':>6s} {'predicted':>9s}"]
    rows = list(scores["per_type"].items()) + [("all", scores)]
    for name, s in rows:
        lines.append(f"{name:8s} {100 * s['precision']:9.{digits}f} {100 * s['recall']:7.{digits}f} "
                     f"{100 * s['f1']:6.{digits}f} {s['support']:6d} {s['predicted']:9d}")
    return "\n".join(lines)


def f1_interval(gold, predicted, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """A bootstrap interval for entity F1: resample the SENTENCES with replacement ``n_resamples`` times
    and take the central ``level`` share of the F1s. It shows how much F1 would move on another test
    set of the same size and kind (not how much it moves from one training run to the next)."""
    import random

    counts = []  # (correct, predicted, gold) entities per sentence
    for g, p in zip(gold, predicted):
        g_set, p_set = set(get_entities(g)), set(get_entities(p))
        counts.append((len(g_set & p_set), len(p_set), len(g_set)))
    rng, f1s = random.Random(seed), []
    for _ in range(n_resamples):
        sample = [counts[rng.randrange(len(counts))] for _ in counts]
        f1s.append(_prf(*(sum(c[i] for c in sample) for i in range(3)))["f1"])
    f1s.sort()
    lo = int((1 - level) / 2 * n_resamples)
    return f1s[lo], f1s[min(n_resamples - 1, n_resamples - 1 - lo)]


ERROR_KINDS = ("wrong type", "wrong span", "wrong type and span", "missed", "spurious")


def error_kinds(gold, predicted) -> dict[str, list[tuple[int, tuple, tuple | None]]]:
    """Every mistake, sorted into the kinds worth reading: ``{kind: [(sentence, gold entity or None,
    predicted entity or None), ...]}``. A gold entity that no prediction matches exactly is a 'wrong type'
    (same span), a 'wrong span' (same type, overlapping), 'wrong type and span' (overlapping) or 'missed'
    (nothing overlaps); a prediction that overlaps no gold entity is 'spurious'."""
    out = {kind: [] for kind in ERROR_KINDS}
    for s, (g, p) in enumerate(zip(gold, predicted)):
        g_set, p_set = set(get_entities(g)), set(get_entities(p))
        for ge in sorted(g_set - p_set, key=lambda e: e[1]):
            overlapping = [pe for pe in p_set if pe[1] < ge[2] and ge[1] < pe[2]]
            same_span = [pe for pe in overlapping if pe[1:] == ge[1:]]
            same_type = [pe for pe in overlapping if pe[0] == ge[0]]
            kind = ("wrong type" if same_span else "wrong span" if same_type
                    else "wrong type and span" if overlapping else "missed")
            out[kind].append((s, ge, (same_span or same_type or overlapping or [None])[0]))
        for pe in sorted(p_set - g_set, key=lambda e: e[1]):
            if not any(ge[1] < pe[2] and pe[1] < ge[2] for ge in g_set):
                out["spurious"].append((s, None, pe))
    return out

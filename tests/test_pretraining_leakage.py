"""No sentence of notebook 08's validation or test split is in notebook 07's pretraining text (issue 26).

The course corpus includes Rotten Tomatoes review snippets, the very source of notebook 08's sentiment splits, so a
held-out review that reached the pretraining text would let (b) see its test sentences before fine-tuning.
`bert_edu.data.corpus.pretraining_documents` leaves them out; this checks the corpus file notebook 07 really reads.
"""

from __future__ import annotations

import re

from bert_edu.data import corpus, sentiment


def _norm(text: str) -> str:
    """Lower case, punctuation to spaces, runs of whitespace to one: a copy that differs only in spacing still counts."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def leaked(held_out: list[str], documents: list[list[str]], min_chars: int = 30) -> list[str]:
    """The held-out texts found in the pretraining documents: as a whole sentence, or (when longer than
    ``min_chars`` characters, so that short phrases such as "a mess" do not count) inside one."""
    sentences = {_norm(s) for doc in documents for s in doc}
    text = "\n".join(sentences)
    found = []
    for raw in held_out:
        t = _norm(raw)
        if t in sentences or (len(t) > min_chars and t in text):
            found.append(raw)
    return found


def test_no_held_out_sentence_of_08_is_in_07_s_pretraining_text():
    documents = corpus.read_corpus(corpus.corpus_path(corpus.COURSE_CORPUS))  # what notebook 07 pretrains on
    splits = sentiment.sentiment_splits()
    held_out = [ex.text for name in ("validation", "test") for ex in splits[name]]
    assert len(held_out) == 2550
    found = leaked(held_out, documents)
    assert not found, f"{len(found)} validation/test sentences of notebook 08 are in the pretraining corpus, e.g. " \
        f"{found[:3]}"
    # the check sees the source at all: the training split's reviews are in the corpus (they may be)
    train = [ex.text for ex in splits["train"][:200]]
    assert len(leaked(train, documents)) > 100


def test_the_check_finds_a_leaked_sentence():
    docs = [["A film about nothing.", "It is a quiet, devastating triumph of a movie, start to finish."]]
    assert leaked(["it is a quiet devastating triumph of a movie start to finish"], docs) != []
    assert leaked(["It is a quiet, devastating triumph of a movie"], docs) != []  # inside a longer sentence
    assert leaked(["A quiet film."], docs) == []

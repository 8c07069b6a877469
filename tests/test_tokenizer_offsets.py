"""Offset mappings and overflowing windows of our BertTokenizer equal transformers' fast tokenizer's.

The texts are those of tests/test_tokenization.py (fragments of many scripts, odd whitespace, control
characters, special tokens typed in the text, accents, CJK, over-long words), so every normalisation step
that moves, deletes or adds characters is exercised.
"""

import os
import random

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import BertTokenizer as HFBertTokenizer  # noqa: E402

from bert_edu.data.assets import minilm_path  # noqa: E402
from bert_edu.text.tokenizer import BertTokenizer  # noqa: E402
from test_tokenization import TEXTS, generate_texts  # noqa: E402

SETTINGS = [{}, {"do_lower_case": False}, {"strip_accents": False}, {"tokenize_chinese_chars": False}]


@pytest.fixture(scope="module")
def pair():
    return BertTokenizer.from_pretrained(minilm_path()), HFBertTokenizer.from_pretrained(minilm_path())


def same(ours, theirs):
    assert set(ours) == set(theirs)
    for key in theirs:
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(s) or "uncased")
def test_offsets_equal_fast_tokenizer(settings):
    ours = BertTokenizer.from_pretrained(minilm_path(), **settings)
    theirs = HFBertTokenizer.from_pretrained(minilm_path(), **settings)
    assert theirs.is_fast
    texts = TEXTS + generate_texts(800, seed=3)[len(TEXTS) // 2:]
    differ = []
    for text in texts:
        a, b = ours(text, return_offsets_mapping=True), theirs(text, return_offsets_mapping=True)
        if a["input_ids"] != b["input_ids"] or a["offset_mapping"] != b["offset_mapping"]:
            differ.append(text)
    assert not differ, f"{len(differ)} texts differ, e.g. {differ[:3]}"


def test_offsets_point_at_the_text(pair):
    ours, _ = pair
    text = "Jane Austen's novel «Emma» (1815) — unaffable, naïve!"
    enc = ours(text, return_offsets_mapping=True)
    pieces = [text[a:b] for a, b in enc["offset_mapping"]]
    assert pieces[0] == pieces[-1] == ""  # [CLS], [SEP]
    assert pieces[1:4] == ["Jane", "Austen", "'"]
    assert "naïve" in pieces and "«" in pieces
    assert [p for p, t in zip(pieces, ours.convert_ids_to_tokens(enc["input_ids"])) if t.startswith("##")]


@pytest.mark.parametrize("max_length, stride", [(24, 5), (48, 0), (64, 16), (128, 40), (384, 128)])
@pytest.mark.parametrize("padding", [False, "max_length", True])
def test_overflowing_windows_equal_fast_tokenizer(pair, max_length, stride, padding):
    ours, theirs = pair
    rng = random.Random(max_length + stride)
    questions = [rng.choice(TEXTS)[:80] for _ in range(40)]
    contexts = [" ".join(rng.sample(TEXTS, 8)) for _ in range(40)]
    kw = dict(truncation="only_second", max_length=max_length, stride=stride, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding=padding)
    for q, c in zip(questions, contexts):  # one pair at a time: the fast tokenizer panics on a bad stride
        try:
            expected = theirs(q, c, **kw)
        except BaseException:  # pyo3's PanicException: our tokenizer must refuse the same pair, clearly
            with pytest.raises(ValueError, match="stride|max_length"):
                ours(q, c, **kw)
            continue
        same(ours(q, c, **kw), expected)


def test_overflow_batches_and_tensors(pair):
    ours, theirs = pair
    rng = random.Random(0)
    texts = [t for t in TEXTS if len(t) < 60][:30]
    contexts = [" ".join(rng.sample(TEXTS, 6)) for _ in texts]
    kw = dict(truncation="only_second", max_length=64, stride=16, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding="max_length")
    same(ours(texts, contexts, **kw), theirs(texts, contexts, **kw))
    a, b = ours(texts, contexts, return_tensors="pt", **kw), theirs(texts, contexts, return_tensors="pt", **kw)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in b)
    assert a["offset_mapping"].shape == (a["input_ids"].shape[0], 64, 2)
    # single texts and only_first windows
    kw = dict(truncation=True, max_length=8, stride=2, return_overflowing_tokens=True, return_offsets_mapping=True)
    same(ours(TEXTS[:100], **kw), theirs(TEXTS[:100], **kw))
    kw = dict(truncation="only_first", max_length=60, stride=3, return_overflowing_tokens=True)
    same(ours(contexts, texts, **kw), theirs(contexts, texts, **kw))


def test_overflow_errors_are_clear(pair):
    ours, _ = pair
    with pytest.raises(ValueError, match="only_second"):
        ours("a b c", "d e f " * 50, truncation=True, max_length=16, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="stride=20"):
        ours("a b c", "d e f " * 50, truncation="only_second", max_length=16, stride=20,
             return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="no room"):
        ours("a b c " * 10, "d e f " * 50, truncation="only_second", max_length=16, return_overflowing_tokens=True)

"""Checkers for notebook 13 (a Chinese BERT from characters): BERT's CJK rule (which characters are CJK
ideographs, and splitting text so that each one is a token of its own), the ``[UNK]`` rate of a vocabulary on a
text, and masking characters of a Chinese sentence for the fill-mask demo.

The references are the package's: :func:`bert_edu.text.tokenizer.is_chinese_char` and
:func:`bert_edu.text.tokenizer.space_cjk_chars` (what ``BertTokenizer`` runs), and the two small functions below.
"""

from __future__ import annotations

import unicodedata

from bert_edu.exercises._harness import Checker
from bert_edu.text.tokenizer import BertTokenizer, is_chinese_char, space_cjk_chars

# ------------------------------------------------------------------------------------------------
# is_cjk_char(char) -> bool

# (character, what it is): the blocks BERT counts, and look-alikes it does not
CJK_CASES = [
    ("中", "CJK Unified Ideographs (U+4E2D)"),
    ("酒", "CJK Unified Ideographs (U+9152)"),
    ("\u3400", "Extension A (U+3400)"),
    ("\u4dbf", "the last of Extension A (U+4DBF)"),
    ("\U00020000", "Extension B (U+20000)"),
    ("\U0002a700", "Extension C (U+2A700)"),
    ("\uf900", "a compatibility ideograph (U+F900)"),
    ("\U0002f800", "a compatibility ideograph supplement (U+2F800)"),
    ("。", "the ideographic full stop (punctuation, U+3002)"),
    ("，", "a fullwidth comma (punctuation, U+FF0C)"),
    ("あ", "Hiragana (Japanese, U+3042)"),
    ("カ", "Katakana (Japanese, U+30AB)"),
    ("한", "Hangul (Korean, U+D55C)"),
    ("Ａ", "a fullwidth Latin letter (U+FF21)"),
    ("a", "a Latin letter"),
    ("7", "a digit"),
    ("\u2e80", "a CJK radical (a component, not a character: U+2E80)"),
    ("\u31c0", "a CJK stroke (U+31C0)"),
    ("\u4dc0", "a Yijing hexagram symbol (U+4DC0, between Extension A and the main block)"),
]


def _main_block_only(char):
    """Mistake: only the main block U+4E00-U+9FFF."""
    return "\u4e00" <= char <= "\u9fff"


def _by_name(char):
    """Mistake: any character whose Unicode name mentions CJK (catches symbols, misses nothing else)."""
    return "CJK" in unicodedata.name(char, "")


def _east_asian_wide(char):
    """Mistake: any wide East Asian character (kana, Hangul, fullwidth punctuation too)."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def check_is_cjk_char(fn, quiet: bool = False) -> bool:
    """``fn(char) -> bool``: is ``char`` one of the CJK ideographs that BERT makes a token of its own?"""
    ck = Checker("is_cjk_char", fn, quiet=quiet)
    for char, what in CJK_CASES:
        expected = is_chinese_char(char)
        with ck.case(f"{char!r}: {what} -> {expected}") as case:
            got = fn(char)
            case.expect(isinstance(got, bool), f"return True or False, not {type(got).__name__} ({got!r})")
            if expected:
                hints = {"BERT's rule has more blocks than U+4E00-U+9FFF: Extension A (U+3400-U+4DBF), Extensions "
                         "B-F (U+20000-U+2CEAF) and the compatibility ideographs (U+F900-U+FAFF, U+2F800-U+2FA1F)":
                         False}
            else:
                hints = {"only ideographs count: kana and Hangul are written with spaces, and punctuation, symbols "
                         "and fullwidth letters are not ideographs (test code point ranges, not width or name)":
                         True}
            case.expect_equal(got, expected, mistakes=hints)
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# split_cjk(text) -> list[str]: BERT's CJK step, then a split on whitespace

SPLIT_CASES = [
    "这家酒店的服务很好",
    "我爱BERT模型",
    "hello 世界!",
    "价格：99元，还行。",
    "こんにちは世界",
    "  房间\t很大  ",
    "",
]


def reference_split_cjk(text: str) -> list[str]:
    """Spaces around every CJK ideograph (BERT's ``_tokenize_chinese_chars``), then split on whitespace."""
    return space_cjk_chars(text).split()


def _every_character(text):
    """Mistake: every character a token (Latin words and numbers too)."""
    return [c for c in text if not c.isspace()]


def _spaces_only(text):
    """Mistake: no CJK rule at all: Chinese has no spaces, so a whole clause is one word."""
    return text.split()


def _wide_characters(text):
    """Mistake: every wide character on its own (kana and fullwidth punctuation too)."""
    return "".join(f" {c} " if _east_asian_wide(c) else c for c in text).split()


def check_split_cjk(fn, quiet: bool = False) -> bool:
    """``fn(text) -> list[str]``: each CJK ideograph a word of its own, everything else split on whitespace."""
    ck = Checker("split_cjk", fn, quiet=quiet)
    for text in SPLIT_CASES:
        with ck.case(repr(text)) as case:
            case.expect_equal(fn(text), reference_split_cjk(text), mistakes={
                "only CJK ideographs are split off one by one: 'BERT' and '99' stay whole words":
                    _every_character(text),
                "Chinese is written without spaces: put a space around each ideograph before splitting":
                    _spaces_only(text),
                "only ideographs are split: kana, Hangul and fullwidth punctuation are not (BERT's later "
                "punctuation step splits '，' off, not this one)": _wide_characters(text),
            }, what="the words")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# unk_rate(texts, tokenizer) -> float


def reference_unk_rate(texts, tokenizer) -> float:
    """The share of all tokens (over all texts, without [CLS]/[SEP]) that are the unknown token; 0.0 if none."""
    tokens = [t for text in texts for t in tokenizer.tokenize(text)]
    return sum(t == tokenizer.unk_token for t in tokens) / len(tokens) if tokens else 0.0


def _mean_of_rates(texts, tokenizer):
    """Mistake: the mean of each text's rate (a short text weighs as much as a long one)."""
    rates = [reference_unk_rate([t], tokenizer) for t in texts if tokenizer.tokenize(t)]
    return sum(rates) / len(rates) if rates else 0.0


def _per_character(texts, tokenizer):
    """Mistake: divides by the number of characters instead of tokens."""
    n_chars = sum(len(t) for t in texts)
    return sum(tok == "[UNK]" for t in texts for tok in tokenizer.tokenize(t)) / n_chars if n_chars else 0.0


def _texts_with_unk(texts, tokenizer):
    """Mistake: the share of texts that contain an [UNK]."""
    return sum("[UNK]" in tokenizer.tokenize(t) for t in texts) / len(texts) if texts else 0.0


def _with_specials(texts, tokenizer):
    """Mistake: counts [CLS] and [SEP] as tokens."""
    ids = [i for t in texts for i in tokenizer(t)["input_ids"]]
    return sum(i == tokenizer.unk_token_id for i in ids) / len(ids) if ids else 0.0


def _tiny_tokenizer() -> BertTokenizer:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "这", "家", "酒", "店", "很", "好", "的", "。", "，",
             "wifi", "hotel", "good", "##s", "!"]
    return BertTokenizer({t: i for i, t in enumerate(vocab)})


def check_unk_rate(fn, quiet: bool = False) -> bool:
    """``fn(texts, tokenizer) -> float``: the share of the tokens of all ``texts`` that are ``[UNK]``."""
    ck = Checker("unk_rate", fn, quiet=quiet)
    tok = _tiny_tokenizer()
    cases = [
        ("one sentence, one unknown character", ["这家酒店很好。"[:6] + "棒。"]),
        ("a short text with many unknowns next to a long one without", ["差评", "这家酒店很好，这家酒店的wifi很好。"]),
        ("mixed Chinese and English", ["hotels good!", "这家hotel很赞。"]),
        ("no unknown token at all", ["这家酒店很好。"]),
        ("an empty text in the list", ["", "服务很好"]),
        ("no text at all", []),
    ]
    for name, texts in cases:
        with ck.case(f"{name}: {texts!r}") as case:
            got = fn(list(texts), tok)
            case.expect(isinstance(got, (float, int)) and not isinstance(got, bool),
                        f"return a number between 0 and 1, not {type(got).__name__} ({got!r})")
            case.expect_close(float(got), reference_unk_rate(texts, tok), atol=1e-9, mistakes={
                "count the tokens of all texts together: the mean of per-text rates lets a short text weigh as "
                "much as a long one": _mean_of_rates(texts, tok),
                "divide by the number of tokens, not characters": _per_character(texts, tok),
                "count [UNK] tokens, not texts that contain one": _texts_with_unk(texts, tok),
                "leave out [CLS] and [SEP]: use tokenizer.tokenize, which adds no special tokens":
                    _with_specials(texts, tok),
            }, what="the [UNK] rate")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# mask_chinese(text, char_positions, tokenizer) -> (input_ids, labels)


def reference_mask_chinese(text: str, char_positions, tokenizer) -> tuple[list[int], list[int]]:
    """Encode ``text`` with [CLS] and [SEP]; every token that covers one of the characters at ``char_positions``
    (indices into ``text``) becomes [MASK] in ``input_ids`` and keeps its id in ``labels``; -100 elsewhere."""
    enc = tokenizer(text, return_offsets_mapping=True)
    chosen = set(char_positions)
    input_ids, labels = [], []
    for token_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        hit = end > start and any(start <= p < end for p in chosen)
        input_ids.append(tokenizer.mask_token_id if hit else token_id)
        labels.append(token_id if hit else -100)
    return input_ids, labels


def _one_token_per_character(text, char_positions, tokenizer):
    """Mistake: assumes token i+1 is character i (true for pure Chinese, not with 'wifi' or '99')."""
    ids = tokenizer(text)["input_ids"]
    masked, labels = list(ids), [-100] * len(ids)
    for p in char_positions:
        if p + 1 < len(ids) - 1:
            masked[p + 1], labels[p + 1] = tokenizer.mask_token_id, ids[p + 1]
    return masked, labels


def _forgot_cls(text, char_positions, tokenizer):
    """Mistake: forgets that [CLS] comes first (masks the token before the chosen one)."""
    ids = tokenizer(text)["input_ids"]
    masked, labels = list(ids), [-100] * len(ids)
    for p in char_positions:
        if p < len(ids):
            masked[p], labels[p] = tokenizer.mask_token_id, ids[p]
    return masked, labels


def _labels_everywhere(text, char_positions, tokenizer):
    """Mistake: labels hold every original id, so the loss would count unmasked tokens too."""
    masked, _ = reference_mask_chinese(text, char_positions, tokenizer)
    return masked, tokenizer(text)["input_ids"]


def check_mask_chinese(fn, quiet: bool = False) -> bool:
    """``fn(text, char_positions, tokenizer) -> (input_ids, labels)`` as lists of ints."""
    ck = Checker("mask_chinese", fn, quiet=quiet)
    tok = _tiny_tokenizer()
    cases = [
        ("the last character before the full stop", "这家酒店很好。", [5]),
        ("two characters", "这家酒店很好。", [0, 3]),
        ("after an English word (one token, four characters)", "这家wifi很好。", [6]),
        ("inside the English word: the whole token is masked", "wifi很好", [1]),
        ("a character the vocabulary does not know ([UNK] is its label)", "这家酒店很棒。", [5]),
        ("nothing to mask", "很好", []),
    ]
    for name, text, positions in cases:
        with ck.case(f"{name}: {text!r} at {positions}") as case:
            got = fn(text, list(positions), tok)
            case.expect(isinstance(got, tuple) and len(got) == 2, "return a tuple (input_ids, labels)")
            ids, labels = ([int(x) for x in part] for part in got)
            exp_ids, exp_labels = reference_mask_chinese(text, positions, tok)
            case.expect_equal(ids, exp_ids, what="input_ids", mistakes={
                "a token is not always one character: find the token that covers each position with the "
                "tokenizer's offset_mapping": _one_token_per_character(text, positions, tok)[0],
                "position 0 of input_ids is [CLS]: the first character is token 1":
                    _forgot_cls(text, positions, tok)[0],
            })
            case.expect_equal(labels, exp_labels, what="labels", mistakes={
                "labels are -100 everywhere except at the masked tokens": _labels_everywhere(text, positions, tok)[1],
            })
    return ck.verdict()

"""BERT's tokenizer from scratch: text normalisation and WordPiece (notebook 01).

Turning text into the ids BERT reads takes four steps, each a short function below:

1. **Normalise** (``clean_text``, ``space_cjk_chars``, ``strip_accents``, lower-casing): drop control
   characters and invalid code points, map every kind of space to " ", put spaces around CJK ideographs,
   and, for an uncased model, remove accents (NFD, then drop the combining marks) and lower-case.
2. **Pre-tokenise** (``split_on_punctuation`` and a whitespace split): words and single punctuation marks.
   ``basic_tokenize`` runs steps 1 and 2.
3. **WordPiece** (``wordpiece``): split each word greedily into the longest pieces found in the
   vocabulary; a piece that continues a word is written ``##piece``; a word that cannot be split becomes
   ``[UNK]``.
4. **Assemble** (``BertTokenizer.__call__``): ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``, segment ids
   (``token_type_ids``), truncation (longest-first for pairs), padding and ``attention_mask``; on request the
   **offset mapping** (each token's characters in the original text) and, for long texts, overlapping
   windows (``return_overflowing_tokens``, ``stride``), as transformers' fast tokenizer (notebook 11).

The result is identical, id for id, to ``transformers.BertTokenizer`` (tested on a few hundred varied
texts in ``tests/test_tokenization.py``). Where the Rust tokenizer behind ``transformers.BertTokenizer``
and the original Python one (``BertTokenizerLegacy``) disagree, we follow ``transformers.BertTokenizer``
and say so in a comment (Greek final sigma, unassigned code points, the start of CJK Extension E, the tie rule
of longest-first truncation, NFC). The one difference left: Python's ``unicodedata`` knows a newer Unicode
version than the Rust tables, so a few characters added since Unicode 9 (2016), marks and punctuation of rare
and historic scripts, are stripped or split here and not there.

Training a vocabulary (``train_wordpiece``) is in :mod:`bert_edu.text.wordpiece`; the course's cached one
(``course_tokenizer``) in :mod:`bert_edu.data.corpus`.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
import warnings
from pathlib import Path
from typing import Iterable, Sequence

__all__ = [
    "BatchEncoding",
    "BertTokenizer",
    "basic_tokenize",
    "clean_text",
    "is_chinese_char",
    "is_control",
    "is_punctuation",
    "is_whitespace",
    "load_vocab",
    "space_cjk_chars",
    "split_on_punctuation",
    "strip_accents",
    "truncate_pair",
    "wordpiece",
]

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}
MAX_INPUT_CHARS_PER_WORD = 100  # longer "words" are not split at all: they become [UNK]
VERY_LARGE_INTEGER = int(1e30)  # what transformers writes as model_max_length when there is no limit


# ------------------------------------------------------------------------------------------------
# 1. character classes (the definitions of the original BERT code)


def is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return, or any Unicode space separator (category Zs)."""
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    """Control, format, private-use and surrogate code points (categories Cc, Cf, Co, Cs), except \\t \\n \\r,
    which count as whitespace. Zero-width spaces and joiners (U+200B..U+200D) and the BOM are format (Cf).

    The original Python BERT code also deletes *unassigned* code points (Cn); transformers.BertTokenizer
    (Rust) keeps them (they become [UNK]), and we follow it."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")


def is_punctuation(char: str) -> bool:
    """Unicode punctuation (category P*), plus every non-alphanumeric printable ASCII character:
    BERT splits ``$ + < = > ^ ` | ~`` off words too, although Unicode calls them symbols."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_chinese_char(char: str) -> bool:
    """CJK Unified Ideographs (and extensions, and compatibility ideographs). Hiragana, Katakana and
    Hangul are not in these blocks: those scripts are written with spaces, so they stay whole words.

    Extension E starts at U+2B820, but transformers.BertTokenizer's Rust table starts it at U+2B920, so
    its first 256 ideographs are not split there; we follow transformers.BertTokenizer (the original
    Python code splits them)."""
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B920 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


# ------------------------------------------------------------------------------------------------
# 2. normalisation and pre-tokenisation, one step per function
#
# Each step is a character-by-character rewrite. We run it with ``str.translate`` and a table that
# decides each distinct character once and remembers the answer (``_CharTable``): the same result as a
# Python loop over the characters, about 20x faster on real text.


class _CharTable(dict):
    """A ``str.translate`` table filled lazily: ``rule(char)`` is called once per distinct character."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def __missing__(self, cp: int):
        self[cp] = out = self.rule(chr(cp))
        return out


def _clean_rule(char: str):
    if char == "\x00" or char == "\ufffd" or is_control(char):
        return None  # deleted
    return " " if is_whitespace(char) else char


def _cjk_rule(char: str) -> str:
    return f" {char} " if is_chinese_char(char) else char


def _punct_rule(char: str) -> str:
    return f" {char} " if is_punctuation(char) else char


def _nonspacing_mark_rule(char: str):
    return None if unicodedata.category(char) == "Mn" else char


_CLEAN = _CharTable(_clean_rule)
_CJK = _CharTable(_cjk_rule)
_PUNCT = _CharTable(_punct_rule)
_NONSPACING_MARKS = _CharTable(_nonspacing_mark_rule)


def clean_text(text: str) -> str:
    """Delete NUL, U+FFFD (the replacement character of a failed decode) and control characters;
    turn every whitespace character into a plain space."""
    return text.translate(_CLEAN)


def space_cjk_chars(text: str) -> str:
    """Put spaces around every CJK ideograph, so each becomes a word of its own (Chinese has no spaces)."""
    return text.translate(_CJK)


def strip_accents(text: str) -> str:
    """NFD splits an accented letter into its base letter and combining marks ("é" -> "e" + U+0301);
    dropping the non-spacing marks (category Mn) leaves the base letters."""
    if text.isascii():  # ASCII is unchanged by NFD and has no marks: skip the work
        return text
    return unicodedata.normalize("NFD", text).translate(_NONSPACING_MARKS)


def lower_case(text: str) -> str:
    """Lower-case character by character. ``str.lower`` writes a word-final capital sigma as "ς";
    transformers.BertTokenizer (Rust) always writes "σ" (the original Python BERT code writes "ς"). We
    follow transformers.BertTokenizer."""
    return text.replace("\u03a3", "\u03c3").lower()


def split_on_punctuation(text: str) -> list[str]:
    """Split on whitespace, and make every punctuation character a word of its own."""
    return text.translate(_PUNCT).split()


def basic_tokenize(text: str, do_lower_case: bool = True, strip_accents_: bool | None = None,
                   tokenize_chinese_chars: bool = True) -> list[str]:
    """Normalise ``text`` and split it into words and punctuation, as BERT's ``BasicTokenizer``.

    ``strip_accents_=None`` means "strip accents when lower-casing" (the original BERT rule).
    The order is that of transformers.BertTokenizer: accents are stripped before lower-casing.
    (The Python reference also applies NFC first; the Rust one, which we match, does not.)
    """
    text = clean_text(text)
    if tokenize_chinese_chars:
        text = space_cjk_chars(text)
    if do_lower_case if strip_accents_ is None else strip_accents_:
        text = strip_accents(text)
    if do_lower_case:
        text = lower_case(text)
    return split_on_punctuation(text)


def normalize_char(char: str, do_lower_case: bool = True, strip_accents_: bool | None = None,
                   tokenize_chinese_chars: bool = True) -> str:
    """``basic_tokenize``'s normalisation of ONE character: "" (deleted), one character or several."""
    text = clean_text(char)
    if tokenize_chinese_chars:
        text = space_cjk_chars(text)
    if do_lower_case if strip_accents_ is None else strip_accents_:
        text = strip_accents(text)
    return lower_case(text) if do_lower_case else text


def basic_tokenize_with_offsets(text: str, normalize_char, start: int = 0) -> list[tuple[str, list[int]]]:
    """``basic_tokenize`` that remembers where each character came from, for offset mappings.

    ``normalize_char(char)`` is what the normalisation makes of ONE character ("É" -> "e", a control
    character -> "", a CJK ideograph -> " 字 "). Returns ``[(word, positions), ...]`` with, for each character
    of the word, the index in ``text`` (plus ``start``) of the original character it came from. Normalising
    character by character gives the same words as normalising the whole text (NFD only reorders combining
    marks, which the uncased model strips).
    """
    words: list[tuple[str, list[int]]] = []
    chars: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text, start):
        for ch in normalize_char(char):
            if ch.isspace() or is_punctuation(ch):
                if chars:
                    words.append(("".join(chars), where))
                    chars, where = [], []
                if not ch.isspace():
                    words.append((ch, [i]))  # a punctuation mark is a word of its own
            else:
                chars.append(ch)
                where.append(i)
    if chars:
        words.append(("".join(chars), where))
    return words


# ------------------------------------------------------------------------------------------------
# 3. WordPiece


def wordpiece(word: str, vocab, unk_token: str = "[UNK]",
              max_input_chars_per_word: int = MAX_INPUT_CHARS_PER_WORD) -> list[str]:
    """Greedy longest-match-first: take the longest prefix of ``word`` that is in ``vocab``, then the
    longest ``##``-prefixed piece of the rest, and so on. If some rest has no piece at all, the whole
    word is ``[UNK]`` (not just that rest): "unaffable" -> ["un", "##aff", "##able"].
    """
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        else:  # no piece of any length matched
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


# ------------------------------------------------------------------------------------------------
# 4. truncation


def truncate_pair(len_a: int, len_b: int, max_tokens: int) -> tuple[int, int]:
    """Longest-first truncation of a pair: the lengths to keep so that ``len_a + len_b <= max_tokens``.

    Tokens are taken from the end of the longer sequence until both fit; when both must be cut, the budget
    is split in half and the odd token goes to the sequence that was longer (to the second one on a tie).
    This is transformers.BertTokenizer's rule; the old Python tokenizer removed one token at a time and
    on a tie cut the second sequence, which can differ by one token.
    """
    if len_a + len_b <= max_tokens:
        return len_a, len_b
    swap = len_a > len_b  # work with (shorter, longer)
    short, long_ = (len_b, len_a) if swap else (len_a, len_b)
    keep_short = short
    keep_long = max(short, max_tokens - short)  # first try: cut only the longer one
    if keep_short + keep_long > max_tokens:  # not enough: both are cut to half the budget
        keep_short = max_tokens // 2
        keep_long = keep_short + max_tokens % 2
    return (keep_long, keep_short) if swap else (keep_short, keep_long)


# ------------------------------------------------------------------------------------------------
# the tokenizer


def load_vocab(path) -> dict[str, int]:
    """vocab.txt: one token per line; the line number (from 0) is the token's id."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no vocabulary file at {path}: a BERT tokenizer folder needs a vocab.txt "
                                "(one token per line), e.g. the folder bert_edu.data.assets.minilm_path()")
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.rstrip("\n")] = index
    if not vocab:
        raise ValueError(f"the vocabulary file {path} is empty")
    return vocab


def _read_tokenizer_json(path) -> tuple[dict[str, int], dict]:
    """The WordPiece vocabulary and the BertNormalizer settings of a `tokenizers` tokenizer.json."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ValueError(f"{path} does not hold a WordPiece vocabulary (model type {model.get('type')!r}); "
                         "a BERT tokenizer folder needs vocab.txt or a WordPiece tokenizer.json")
    normalizer = data.get("normalizer") or {}
    return dict(model["vocab"]), (normalizer if normalizer.get("type") == "BertNormalizer" else {})


class BatchEncoding(dict):
    """What ``tokenizer(...)`` returns: a dict of ``input_ids``, ``token_type_ids``, ``attention_mask``
    whose entries can also be read as attributes (``enc.input_ids``), as in transformers."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to(self, device):
        """Move every tensor to ``device`` (for ``return_tensors="pt"``)."""
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device)
        return self


def _is_text(x) -> bool:
    return isinstance(x, str)


def _describe(x) -> str:
    if isinstance(x, (list, tuple)) and x:
        return f"a {type(x).__name__} of {type(x[0]).__name__}"
    return f"{type(x).__name__} {x!r}"[:80]


class BertTokenizer:
    """BERT's WordPiece tokenizer: normalise, split, WordPiece, add special tokens, pad, truncate.

    Load one with ``BertTokenizer.from_pretrained(folder)`` (vocab.txt + tokenizer_config.json), or train
    one with ``bert_edu.text.wordpiece.train_tokenizer(texts, vocab_size=...)``. The interface follows transformers.
    """

    def __init__(self, vocab, do_lower_case: bool = True, strip_accents: bool | None = None,
                 tokenize_chinese_chars: bool = True, model_max_length: int = 512,
                 pad_token: str = "[PAD]", unk_token: str = "[UNK]", cls_token: str = "[CLS]",
                 sep_token: str = "[SEP]", mask_token: str = "[MASK]", cache_size: int = 1 << 16,
                 clean_up_tokenization_spaces: bool = False):
        if isinstance(vocab, (str, os.PathLike)):
            vocab = load_vocab(vocab)
        elif isinstance(vocab, (list, tuple)):
            vocab = {token: i for i, token in enumerate(vocab)}
        self.vocab: dict[str, int] = dict(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.model_max_length = int(model_max_length)
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
        self.pad_token, self.unk_token, self.cls_token = pad_token, unk_token, cls_token
        self.sep_token, self.mask_token = sep_token, mask_token
        missing = [t for t in self.all_special_tokens if t not in self.vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks the special token(s) {', '.join(missing)}; BERT needs "
                             f"{', '.join(self.all_special_tokens)} in vocab.txt (train_wordpiece adds them)")
        self.pad_token_id, self.unk_token_id, self.cls_token_id, self.sep_token_id, self.mask_token_id = (
            self.vocab[t] for t in (pad_token, unk_token, cls_token, sep_token, mask_token))
        # special tokens typed in the text ("a [MASK] b") are kept whole; longest first, as a regex
        alternatives = sorted(set(self.all_special_tokens), key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")
        # memoise WordPiece per word: real text repeats the same words again and again
        self._word_to_ids = functools.lru_cache(maxsize=cache_size)(self._word_to_ids_uncached)
        self._char_memo: dict[str, str] = {}  # character -> its normalisation (for offset mappings)

    def __getstate__(self):  # picklable (DataLoader workers, multiprocessing): the cache is rebuilt
        state = dict(self.__dict__)
        state["_word_to_ids"] = state["_word_to_ids"].cache_info().maxsize
        return state

    def __setstate__(self, state):
        maxsize = state.pop("_word_to_ids")
        self.__dict__.update(state)
        self._word_to_ids = functools.lru_cache(maxsize=maxsize)(self._word_to_ids_uncached)

    # --- loading and saving ---------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, folder, **overrides) -> "BertTokenizer":
        """Read an HF-layout folder: vocab.txt, plus tokenizer_config.json and special_tokens_map.json
        when present (lower-casing, accents, CJK, special token strings, model_max_length)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder; from_pretrained expects a folder with "
                                    "vocab.txt (e.g. bert_edu.data.assets.minilm_path())")
        config: dict = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            if (folder / name).is_file():
                config.update(json.loads((folder / name).read_text(encoding="utf-8")))
        kwargs = {}
        for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "model_max_length",
                    "clean_up_tokenization_spaces", *SPECIAL_TOKENS):
            value = config.get(key)
            if isinstance(value, dict):  # {"content": "[PAD]", ...} in newer files
                value = value.get("content")
            if value is not None:
                kwargs[key] = value
        if kwargs.get("model_max_length", 0) > VERY_LARGE_INTEGER // 2:
            kwargs["model_max_length"] = VERY_LARGE_INTEGER
        kwargs.update(overrides)
        if not (folder / "vocab.txt").is_file() and (folder / "tokenizer.json").is_file():
            # transformers 5 saves only tokenizer.json (the Rust tokenizer's file): read the same vocabulary
            # and normalisation settings from there
            vocab, normalizer = _read_tokenizer_json(folder / "tokenizer.json")
            for ours, theirs in (("do_lower_case", "lowercase"), ("strip_accents", "strip_accents"),
                                 ("tokenize_chinese_chars", "handle_chinese_chars")):
                if ours not in kwargs and theirs in normalizer:
                    kwargs[ours] = normalizer[theirs]
            return cls(vocab, **kwargs)
        return cls(load_vocab(folder / "vocab.txt"), **kwargs)

    def save_pretrained(self, folder) -> tuple[str, ...]:
        """Write vocab.txt, tokenizer_config.json and special_tokens_map.json (transformers loads it)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tokens = [self.ids_to_tokens[i] for i in range(len(self.ids_to_tokens))] \
            if set(self.ids_to_tokens) == set(range(len(self.ids_to_tokens))) else None
        if tokens is None:
            raise ValueError("the vocabulary ids are not 0..n-1 without gaps; vocab.txt cannot store it")
        bad = [t for t in tokens if "\n" in t]
        if bad:
            raise ValueError(f"tokens containing a newline cannot be stored in vocab.txt: {bad[:3]}")
        paths = (folder / "vocab.txt", folder / "tokenizer_config.json", folder / "special_tokens_map.json")
        paths[0].write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        specials = {key: getattr(self, key) for key in SPECIAL_TOKENS}
        config = {"tokenizer_class": "BertTokenizer", "do_lower_case": self.do_lower_case,
                  "strip_accents": self.strip_accents, "tokenize_chinese_chars": self.tokenize_chinese_chars,
                  "model_max_length": self.model_max_length,
                  "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces, **specials}
        paths[1].write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        paths[2].write_text(json.dumps(specials, indent=2) + "\n", encoding="utf-8")
        return tuple(str(p) for p in paths)

    # --- the vocabulary -------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    @property
    def all_special_tokens(self) -> list[str]:
        return [self.unk_token, self.sep_token, self.pad_token, self.cls_token, self.mask_token]

    @property
    def all_special_ids(self) -> list[int]:
        return [self.vocab[t] for t in self.all_special_tokens]

    def __repr__(self) -> str:
        return (f"BertTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length})")

    def convert_tokens_to_ids(self, tokens):
        """One token -> its id; a list -> a list. Tokens outside the vocabulary map to ``[UNK]``'s id."""
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        return [self.vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """One id -> its token; a list (or tensor) -> a list."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            return self._id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(i) for i in ids if i not in skip]

    def _id_to_token(self, index: int) -> str:
        try:
            return self.ids_to_tokens[index]
        except (KeyError, TypeError):
            raise ValueError(f"id {index!r} is not in the vocabulary (ids run from 0 to "
                             f"{self.vocab_size - 1})") from None

    # --- text -> tokens -------------------------------------------------------------------------

    def _check_text(self, text, what: str = "text") -> None:
        if not isinstance(text, str):
            hint = ""
            if isinstance(text, (list, tuple)) and text and all(isinstance(t, int) for t in text):
                hint = " (a list of ints looks like token ids: use decode(ids) to turn ids into text)"
            elif text is None:
                hint = " (got None: is a variable empty?)"
            raise TypeError(f"{what} must be a string (or a list of strings for a batch); got "
                            f"{_describe(text)}{hint}")

    def _segments(self, text: str) -> list[tuple[bool, str]]:
        """Split off special tokens typed in the text: [(is_special, piece), ...]. Matched on the raw text,
        before normalisation, so "[MASK]" stays one token while "[mask]" is just punctuation and a word."""
        if "[" not in text:  # fast path: no special token can occur
            return [(False, text)]
        parts = self._special_re.split(text)
        return [(i % 2 == 1, part) for i, part in enumerate(parts) if part]

    def basic_tokenize(self, text: str) -> list[str]:
        return basic_tokenize(text, self.do_lower_case, self.strip_accents, self.tokenize_chinese_chars)

    def _word_to_ids_uncached(self, word: str) -> tuple[int, ...]:
        vocab = self.vocab
        return tuple(vocab[piece] for piece in wordpiece(word, vocab, self.unk_token))

    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece tokens (no [CLS]/[SEP])."""
        return self.convert_ids_to_tokens(self._encode_text(text))

    def _encode_text(self, text: str, what: str = "text") -> list[int]:
        self._check_text(text, what)
        ids: list[int] = []
        for is_special, part in self._segments(text):
            if is_special:
                ids.append(self.vocab[part])
                continue
            for word in self.basic_tokenize(part):
                ids.extend(self._word_to_ids(word))
        return ids

    def _normalize_char(self, char: str) -> str:
        """What the normalisation makes of one character (memoised: text repeats its characters)."""
        memo = self._char_memo
        if char not in memo:
            memo[char] = normalize_char(char, self.do_lower_case, self.strip_accents, self.tokenize_chinese_chars)
        return memo[char]

    def _encode_with_offsets(self, text: str, what: str = "text") -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and, for each token, the ``(start, end)`` characters of ``text`` it came from (as
        transformers' fast tokenizer: a word piece covers its characters, ``[UNK]`` its whole word)."""
        self._check_text(text, what)
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        pos = 0
        for is_special, part in self._segments(text):
            if is_special:
                ids.append(self.vocab[part])
                offsets.append((pos, pos + len(part)))
            else:
                for word, where in basic_tokenize_with_offsets(part, self._normalize_char, pos):
                    pieces = self._word_to_ids(word)
                    at = 0
                    for k, piece in enumerate(pieces):
                        n = len(word) if len(pieces) == 1 else len(self.ids_to_tokens[piece]) - 2 * (k > 0)
                        ids.append(piece)
                        offsets.append((where[at], where[at + n - 1] + 1))
                        at += n
            pos += len(part)
        return ids, offsets

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True, **kwargs):
        """``tokenizer(text, text_pair, ...)["input_ids"]`` for one text or pair."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    # --- the model's inputs ---------------------------------------------------------------------

    def build_inputs_with_special_tokens(self, ids_a: list[int], ids_b: list[int] | None = None) -> list[int]:
        """[CLS] A [SEP]  or  [CLS] A [SEP] B [SEP]."""
        if ids_b is None:
            return [self.cls_token_id, *ids_a, self.sep_token_id]
        return [self.cls_token_id, *ids_a, self.sep_token_id, *ids_b, self.sep_token_id]

    def create_token_type_ids(self, ids_a: list[int], ids_b: list[int] | None = None,
                              add_special_tokens: bool = True) -> list[int]:
        """Segment ids: 0 for [CLS] A [SEP], 1 for B [SEP]."""
        extra = 2 if add_special_tokens else 0
        if ids_b is None:
            return [0] * (len(ids_a) + extra)
        return [0] * (len(ids_a) + extra) + [1] * (len(ids_b) + (1 if add_special_tokens else 0))

    def __call__(self, text, text_pair=None, add_special_tokens: bool = True, padding=False,
                 truncation=None, max_length: int | None = None, return_tensors: str | None = None,
                 return_token_type_ids: bool = True, return_attention_mask: bool = True,
                 pad_to_multiple_of: int | None = None, return_offsets_mapping: bool = False,
                 stride: int = 0, return_overflowing_tokens: bool = False) -> BatchEncoding:
        """Tokenize one text, one pair, a batch of texts or a batch of pairs, as transformers does.

        padding: False | True/"longest" (to the longest in the batch) | "max_length".
        truncation: None/False | True/"longest_first" | "only_first" | "only_second".
        max_length: the length with special tokens; defaults to ``model_max_length`` when truncating or
        padding to "max_length". return_tensors: None (lists) or "pt" (torch tensors, shape [batch, len]).
        return_offsets_mapping: also ``offset_mapping``, each token's ``(start, end)`` characters in its own
        text; ``(0, 0)`` for [CLS], [SEP] and padding (as transformers' fast tokenizer).
        return_overflowing_tokens: instead of dropping what truncation cuts, make more rows of it: windows
        of the truncated text that overlap by ``stride`` tokens, and ``overflow_to_sample_mapping`` (the
        input each row comes from). The output is then always a batch.
        """
        batched, texts, pairs = self._batch_inputs(text, text_pair)
        padding, truncation, max_length = self._strategies(padding, truncation, max_length)
        encode = self._encode_with_offsets if return_offsets_mapping else (
            lambda t, what: (self._encode_text(t, what), None))
        rows, samples = [], []
        for i, (a, b) in enumerate(zip(texts, pairs)):
            seq_a = encode(a, f"text[{i}]" if batched else "text")
            seq_b = None if b is None else encode(b, f"text_pair[{i}]" if batched else "text_pair")
            windows = [(seq_a, seq_b)]
            if return_overflowing_tokens:
                windows = self._windows(seq_a, seq_b, add_special_tokens, truncation, max_length, stride)
            for win_a, win_b in windows:
                rows.append(self._prepare(*win_a, *(win_b or (None, None)), add_special_tokens, truncation,
                                          max_length))
                samples.append(i)
        self._pad(rows, padding, max_length, pad_to_multiple_of)
        keys = ["input_ids"] + ["token_type_ids"] * return_token_type_ids + ["attention_mask"] * return_attention_mask
        out = BatchEncoding({k: [row[k] for row in rows] for k in keys + ["offset_mapping"] * return_offsets_mapping})
        if return_overflowing_tokens:
            out["overflow_to_sample_mapping"] = samples
            batched = True
        if return_tensors is not None:
            return self._to_tensors(out, return_tensors)
        if not batched:
            out = BatchEncoding({k: v[0] for k, v in out.items()})
        return out

    def _windows(self, seq_a, seq_b, add_special_tokens, truncation, max_length, stride) -> list:
        """return_overflowing_tokens: cut the sequence that truncation shortens into windows that fill the
        space left and overlap by ``stride`` tokens (transformers' rule: the windows start every
        ``space - stride`` tokens; the last one reaches the end). ``seq_*`` are ``(ids, offsets or None)``."""
        if truncation == "do_not_truncate":
            return [(seq_a, seq_b)]
        if seq_b is not None and truncation == "longest_first":
            raise ValueError("return_overflowing_tokens with a pair needs truncation='only_second' (cut the "
                             "context) or 'only_first', not 'longest_first'")
        cut_b = seq_b is not None and truncation == "only_second"
        (ids, offsets), other = (seq_b, seq_a) if cut_b else (seq_a, seq_b)
        n_special = (3 if seq_b is not None else 2) if add_special_tokens else 0
        space = max_length - n_special - (len(other[0]) if other is not None else 0)
        if len(ids) <= space:
            return [(seq_a, seq_b)]
        if space < 1:
            raise ValueError(f"max_length={max_length} leaves no room for the text that is cut: the other text and "
                             "the special tokens fill it; use a larger max_length")
        if not 0 <= stride < space:
            raise ValueError(f"stride={stride} must be at least 0 and smaller than the {space} tokens left for the "
                             f"text that is cut (max_length={max_length}); use a smaller stride or a larger "
                             "max_length")
        windows = []
        for start in range(0, len(ids), space - stride):
            stop = min(start + space, len(ids))
            part = (ids[start:stop], offsets[start:stop] if offsets is not None else None)
            windows.append((seq_a, part) if cut_b else (part, seq_b))
            if stop == len(ids):
                break
        return windows

    def _batch_inputs(self, text, text_pair):
        """-> (batched?, list of first texts, list of second texts or Nones)."""
        if isinstance(text, (list, tuple)):
            texts = list(text)
            if not texts:
                raise ValueError("empty batch: pass at least one text")
            if all(isinstance(t, int) for t in texts):
                self._check_text(texts)  # a list of ids: the error suggests decode()
            if text_pair is None:
                # a batch of pairs can be given as [(a, b), ...]
                if texts and all(isinstance(t, (list, tuple)) and len(t) == 2 and all(map(_is_text, t))
                                 for t in texts):
                    return True, [t[0] for t in texts], [t[1] for t in texts]
                return True, texts, [None] * len(texts)
            if not isinstance(text_pair, (list, tuple)) or len(text_pair) != len(texts):
                raise ValueError(f"a batch of {len(texts)} texts needs text_pair as a list of the same length; "
                                 f"got {_describe(text_pair)}")
            return True, texts, list(text_pair)
        self._check_text(text)
        if text_pair is not None:
            self._check_text(text_pair, "text_pair")
        # as in transformers, an empty single text_pair means "no pair" (in a batch it is an empty segment)
        return False, [text], [text_pair or None]

    def _strategies(self, padding, truncation, max_length):
        if padding is True:
            padding = "longest"
        elif padding is False or padding is None:
            padding = "do_not_pad"
        if padding not in ("do_not_pad", "longest", "max_length"):
            raise ValueError(f"padding={padding!r}: use False, True/'longest' or 'max_length'")
        if max_length is not None and padding == "do_not_pad" and truncation is None:
            warnings.warn("max_length is given without truncation=True: truncating with the 'longest_first' "
                          "strategy (as transformers does); pass truncation=True to make this explicit.",
                          stacklevel=3)
            truncation = "longest_first"
        if padding == "longest" and max_length is not None and truncation in (None, False, "do_not_truncate"):
            warnings.warn("max_length is ignored when padding=True and there is no truncation; "
                          "to pad to max_length, use padding='max_length'.", stacklevel=3)
        if truncation is True:
            truncation = "longest_first"
        elif truncation is None or truncation is False:
            truncation = "do_not_truncate"
        if truncation not in ("do_not_truncate", "longest_first", "only_first", "only_second"):
            raise ValueError(f"truncation={truncation!r}: use False, True/'longest_first', 'only_first' or "
                             "'only_second'")
        if max_length is None:
            if padding == "max_length" or truncation != "do_not_truncate":
                max_length = self.model_max_length
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        return padding, truncation, max_length

    def _prepare(self, ids_a, offsets_a, ids_b, offsets_b, add_special_tokens, truncation, max_length) -> dict:
        """Truncate, then add [CLS]/[SEP] and the segment ids (and the offsets, when given), for one example."""
        if truncation != "do_not_truncate":
            n_special = (3 if ids_b is not None else 2) if add_special_tokens else 0
            budget = max_length - n_special
            ids_a, ids_b = self._truncate(ids_a, ids_b, budget, truncation)
        if add_special_tokens:
            input_ids = self.build_inputs_with_special_tokens(ids_a, ids_b)
        else:
            input_ids = ids_a + (ids_b or [])
        if truncation == "do_not_truncate" and len(input_ids) > self.model_max_length:
            warnings.warn(f"Token indices sequence length is longer than the specified maximum sequence length "
                          f"for this model ({len(input_ids)} > {self.model_max_length}). Running this sequence "
                          "through the model will result in indexing errors; pass truncation=True to cut it.",
                          stacklevel=4)
        token_type_ids = self.create_token_type_ids(ids_a, ids_b, add_special_tokens)
        row = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": [1] * len(input_ids)}
        if offsets_a is not None:  # truncation keeps a prefix of each sequence: keep as many offsets
            none, b = [(0, 0)] * add_special_tokens, offsets_b[:len(ids_b)] if ids_b is not None else None
            row["offset_mapping"] = none + offsets_a[:len(ids_a)] + none + (b + none if b is not None else [])
        return row

    @staticmethod
    def _truncate(ids_a, ids_b, budget, strategy):
        total = len(ids_a) + (len(ids_b) if ids_b is not None else 0)
        if total <= budget:
            return ids_a, ids_b
        if budget < 0:
            raise ValueError(f"max_length is too short to hold even the special tokens ({-budget} too few)")
        if strategy == "longest_first":
            if ids_b is None:
                return ids_a[:budget], None
            keep_a, keep_b = truncate_pair(len(ids_a), len(ids_b), budget)
            return ids_a[:keep_a], ids_b[:keep_b]
        if strategy == "only_second" and ids_b is None:
            raise ValueError("truncation='only_second' needs a text_pair: there is no second sequence to cut")
        cut = total - budget
        if strategy == "only_first":
            if len(ids_a) <= cut:
                raise ValueError(f"truncation='only_first': the first sequence ({len(ids_a)} tokens) is too short "
                                 f"to remove the {cut} tokens needed; use 'longest_first' or a larger max_length")
            return ids_a[:-cut], ids_b
        if len(ids_b) <= cut:
            raise ValueError(f"truncation='only_second': the second sequence ({len(ids_b)} tokens) is too short "
                             f"to remove the {cut} tokens needed; use 'longest_first' or a larger max_length")
        return ids_a, ids_b[:-cut]

    def _pad(self, rows, padding, max_length, pad_to_multiple_of):
        if padding == "do_not_pad":
            return
        target = max(len(r["input_ids"]) for r in rows) if padding == "longest" else max_length
        if pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        for row in rows:
            n = target - len(row["input_ids"])
            if n > 0:  # pad on the right; [PAD] is attended to by nobody (mask 0)
                row["input_ids"] = row["input_ids"] + [self.pad_token_id] * n
                row["token_type_ids"] = row["token_type_ids"] + [0] * n
                row["attention_mask"] = row["attention_mask"] + [0] * n
                if "offset_mapping" in row:
                    row["offset_mapping"] = row["offset_mapping"] + [(0, 0)] * n

    @staticmethod
    def _to_tensors(out: BatchEncoding, return_tensors: str) -> BatchEncoding:
        if return_tensors != "pt":
            raise ValueError(f"return_tensors={return_tensors!r}: only 'pt' (PyTorch) or None are supported")
        import torch

        lengths = {len(row) for row in out["input_ids"]}
        if len(lengths) > 1:
            raise ValueError(f"the sequences have different lengths {sorted(lengths)}; a tensor needs them equal: "
                             "pass padding=True (and truncation=True for long texts)")
        return BatchEncoding({k: torch.tensor(v, dtype=torch.long) for k, v in out.items()})

    # --- ids -> text ----------------------------------------------------------------------------

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Ids -> text: join the tokens with spaces, glue ``##`` pieces to the piece before, and remove the
        space before . , ? ! (what transformers.BertTokenizer's WordPiece decoder does). Lower-casing,
        accents and the original spacing are lost: decode(encode(text)) is a normalised text."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        if isinstance(ids, int):
            ids = [ids]
        if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) for i in ids):
            raise TypeError(f"decode expects a list of int ids (or a 1-D tensor); got {_describe(ids)}")
        tokens = self.convert_ids_to_tokens(list(ids), skip_special_tokens=skip_special_tokens)
        text = "".join(_decode_token(i, tok) for i, tok in enumerate(tokens))
        if self.clean_up_tokenization_spaces:
            text = _cleanup(text)
        return text

    def batch_decode(self, sequences, skip_special_tokens: bool = False) -> list[str]:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens=skip_special_tokens) for ids in sequences]


_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _cleanup(text: str) -> str:
    for dirty, clean in _CLEANUP:
        text = text.replace(dirty, clean)
    return text


def _decode_token(i: int, token: str) -> str:
    # The first token is kept as is; later ones get a space unless they continue a word (##).
    if i > 0:
        token = token[2:] if token.startswith("##") else " " + token
    return _cleanup(token)  # per token, as transformers' WordPiece decoder: " ." -> "."

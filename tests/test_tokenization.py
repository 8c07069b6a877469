"""Our BertTokenizer must give exactly the ids of transformers.BertTokenizer, on any text.

The texts are generated here from fragments of many scripts and odd characters, so a difference in any
normalisation step (cleaning, CJK, accents, lower-casing, punctuation, WordPiece, special tokens) shows up.
"""

import json
import os
import random

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import BertTokenizer as HFBertTokenizer  # noqa: E402

import bert_edu  # noqa: E402
from bert_edu.data import corpus  # noqa: E402
from bert_edu.data.assets import minilm_path  # noqa: E402
from bert_edu.text.tokenizer import (  # noqa: E402
    BertTokenizer,
    basic_tokenize,
    truncate_pair,
    wordpiece,
)
from bert_edu.data.corpus import course_tokenizer  # noqa: E402
from bert_edu.text.wordpiece import train_tokenizer, train_wordpiece  # noqa: E402

FRAGMENTS = [
    # English, numbers, URLs, contractions
    "The movie was great", "I didn't like it", "it's", "don't", "U.S.A.", "e-mail", "state-of-the-art",
    "https://example.com/path?q=1&r=2#frag", "user@example.org", "3.14159", "1,000,000", "$5.99", "50%",
    "1st", "2nd", "#hashtag", "@mention", "C++", "a/b\\c", "(parenthesis)", "[brackets]", "{braces}",
    "<html>", "x^2", "a~b", "a|b", "`code`", "\"quoted\"", "''", "...", "?!", "--", "—", "–", "…",
    "“smart quotes”", "‘single’", "«guillemets»", "unaffable", "supercalifragilisticexpialidocious",
    "Spielberg", "McDonald's", "O'Neill", "AT&T", "ALL CAPS SHOUTING", "MiXeD CaSe",
    # accents and Latin extensions
    "café", "naïve", "résumé", "Ångström", "Müller", "Straße", "ẞ", "Œuvre", "ﬁnancial", "ﬃ", "Æsir",
    "İstanbul", "ǅemal", "ŉ", "Ǆ", "Łódź", "Đakovo", "cafe\u0301", "e\u0301\u0302", "\u0301start",
    # Greek (final sigma), Cyrillic, Armenian, Georgian
    "ΟΔΟΣ", "Ὀδυσσεύς", "ᾅδης", "σοφός", "Привет мир", "Ёлка", "ЁЛКА", "Բարեւ", "გამარჯობა",
    # Arabic, Hebrew (with marks), Devanagari, Bengali, Thai, Tamil
    "مرحبا بالعالم", "العَرَبِيَّة", "שָׁלוֹם", "नमस्ते दुनिया", "हिन्दी", "বাংলা", "สวัสดีชาวโลก", "ภาษาไทย",
    "தமிழ்",
    # CJK, Japanese kana, Korean, full-width, CJK punctuation, compatibility ideographs
    "日本語のテキスト", "漢字とかな", "中文字符", "你好，世界！", "한국어 텍스트", "ｆｕｌｌ　ｗｉｄｔｈ！", "ＡＢＣ１２３",
    "「引用」", "〜", "\uf900\u8c48", "𠀀𪚥",
    # symbols and emoji (including modifiers and zero-width joiners)
    "😀", "👍🏽", "👨\u200d👩\u200d👧", "❤️", "🇫🇷", "★", "©", "®", "™", "°C", "½", "Ⅻ", "ℌ", "㎏", "Ⓐ", "∑", "√2",
    "→", "€100", "£", "¥", "₹",
    # control, zero-width, odd whitespace, invalid code points
    "\x00", "\x07", "\x1b[31m", "\x7f", "\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\ufffd", "\u2028",
    "\u2029", "\u00a0", "\u3000", "\u2003", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x85", "\ue000",
    "\u0378", "x\U000e0000y", "a\U0002b848b", "a\U0002b920b", "a\U0002a6e0b",  # unassigned; CJK Ext-E edge
    # special tokens written in the text, and near misses
    "[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "[mask]", "[ MASK ]", "[MASK", "MASK]", "[[MASK]]",
    "x[MASK]y", "[MASK][MASK]", "[SEP]-[CLS]",
    # long words (WordPiece gives up above 100 characters)
    "a" * 100, "b" * 101, "ab" * 60, "antidisestablishmentarianism" * 4, "9" * 150,
]

SEPARATORS = [" ", " ", " ", "", "  ", "\t", "\n", ", ", ". ", "\u200b", "\u00a0", "-", "/"]


def generate_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = ["", " ", "   ", "\t\n", "\u200b", "\x00", "."]
    texts += FRAGMENTS
    while len(texts) < n:
        k = rng.randint(1, 8)
        parts = [rng.choice(FRAGMENTS) for _ in range(k)]
        text = parts[0]
        for part in parts[1:]:
            text += rng.choice(SEPARATORS) + part
        if rng.random() < 0.2:
            text = text.upper()
        texts.append(text)
    return texts


TEXTS = generate_texts(500)


@pytest.fixture(scope="module")
def ours():
    return BertTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def hf():
    return HFBertTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def corpus_sentences():
    docs = corpus.read_corpus(corpus.corpus_path())
    sentences = [s for doc in docs for s in doc]
    return random.Random(0).sample(sentences, 400)


def same_encoding(a, b):
    assert a["input_ids"] == b["input_ids"]
    assert a["token_type_ids"] == b["token_type_ids"]
    assert a["attention_mask"] == b["attention_mask"]


# ------------------------------------------------------------------------------------------------
# parity with transformers.BertTokenizer


def test_package_exports():
    assert bert_edu.BertTokenizer is BertTokenizer
    assert bert_edu.train_wordpiece is train_wordpiece


def test_attributes_match(ours, hf):
    assert ours.vocab_size == hf.vocab_size == len(ours) == 30522
    assert ours.get_vocab() == {k: v for k, v in hf.get_vocab().items()}
    for name in ("pad", "unk", "cls", "sep", "mask"):
        assert getattr(ours, f"{name}_token") == getattr(hf, f"{name}_token")
        assert getattr(ours, f"{name}_token_id") == getattr(hf, f"{name}_token_id")
    assert ours.model_max_length == hf.model_max_length == 512
    assert sorted(ours.all_special_ids) == sorted(hf.all_special_ids)


def test_tokens_identical_on_varied_texts(ours, hf):
    assert len(TEXTS) >= 500
    mismatches = [(t, ours.tokenize(t), hf.tokenize(t)) for t in TEXTS if ours.tokenize(t) != hf.tokenize(t)]
    assert not mismatches, f"{len(mismatches)} texts differ, e.g. {mismatches[:3]}"


def test_encodings_identical_one_by_one(ours, hf):
    for text in TEXTS:
        same_encoding(ours(text), hf(text))


def test_encodings_identical_on_corpus(ours, hf, corpus_sentences):
    same_encoding(ours(corpus_sentences), hf(corpus_sentences))


def test_batch_padding_modes(ours, hf):
    batch = TEXTS[:64]
    same_encoding(ours(batch), hf(batch))
    same_encoding(ours(batch, padding=True), hf(batch, padding=True))
    same_encoding(ours(batch, padding="longest"), hf(batch, padding="longest"))
    kw = dict(padding="max_length", truncation=True, max_length=24)
    same_encoding(ours(batch, **kw), hf(batch, **kw))
    kw = dict(padding=True, truncation=True, max_length=16, pad_to_multiple_of=8)
    same_encoding(ours(batch, **kw), hf(batch, **kw))
    same_encoding(ours(batch, add_special_tokens=False), hf(batch, add_special_tokens=False))


@pytest.mark.parametrize("max_length", [3, 4, 5, 8, 11, 16, 33, 64])
def test_pair_truncation_longest_first(ours, hf, max_length):
    rng = random.Random(max_length)
    firsts = [rng.choice(TEXTS) for _ in range(80)]
    seconds = [rng.choice(TEXTS) for _ in range(80)]
    kw = dict(truncation=True, max_length=max_length, padding="max_length")
    same_encoding(ours(firsts, seconds, **kw), hf(firsts, seconds, **kw))
    for a, b in zip(firsts[:20], seconds[:20]):
        same_encoding(ours(a, b, truncation="longest_first", max_length=max_length),
                      hf(a, b, truncation="longest_first", max_length=max_length))
    # a batch of pairs as a list of tuples
    pairs = list(zip(firsts, seconds))
    same_encoding(ours(pairs, **kw), hf(pairs, **kw))


def test_truncate_pair_tie_rule():
    # both must be cut: half each, the odd token to the longer one (to the second on a tie)
    assert truncate_pair(5, 5, 7) == (3, 4)
    assert truncate_pair(9, 4, 7) == (4, 3)
    assert truncate_pair(2, 9, 7) == (2, 5)  # only the longer one is cut
    assert truncate_pair(3, 3, 7) == (3, 3)
    assert truncate_pair(10, 1, 0) == (0, 0)


@pytest.mark.parametrize("strategy", ["only_first", "only_second"])
def test_only_first_only_second(ours, hf, strategy):
    rng = random.Random(1)
    for _ in range(60):
        a, b = rng.choice(TEXTS), rng.choice(TEXTS)
        max_length = rng.choice([6, 10, 20])
        try:
            expected = hf(a, b, truncation=strategy, max_length=max_length)
        except Exception:  # transformers refuses when the chosen sequence is too short: so must we
            with pytest.raises(ValueError, match="too short"):
                ours(a, b, truncation=strategy, max_length=max_length)
            continue
        same_encoding(ours(a, b, truncation=strategy, max_length=max_length), expected)


def test_special_cases_match(ours, hf):
    long_text = "word " * 700
    same_encoding(ours(long_text, truncation=True), hf(long_text, truncation=True))
    assert len(ours(long_text, truncation=True)["input_ids"]) == 512
    # an empty single text_pair means "no pair" in transformers; in a batch it is an empty second segment
    same_encoding(ours("a", ""), hf("a", ""))
    same_encoding(ours(["a", "b"], ["", "c"]), hf(["a", "b"], ["", "c"]))
    same_encoding(ours(("a", "b")), hf(("a", "b")))  # a tuple of two texts is a batch, not a pair
    same_encoding(ours("", "x", max_length=4, truncation=True), hf("", "x", max_length=4, truncation=True))


def test_max_length_without_truncation_warns_and_truncates(ours, hf):
    with pytest.warns(UserWarning, match="truncation"):
        got = ours("a b c d e f g h", max_length=5)
    same_encoding(got, hf("a b c d e f g h", max_length=5))


def test_too_long_without_truncation_warns_and_keeps_everything(ours):
    with pytest.warns(UserWarning, match="longer than the specified maximum"):
        got = ours("word " * 600)
    assert len(got["input_ids"]) == 602  # never cut silently


def test_return_tensors_pt(ours, hf):
    batch = TEXTS[10:30]
    a = ours(batch, padding=True, return_tensors="pt")
    b = hf(batch, padding=True, return_tensors="pt")
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert torch.equal(a[key], b[key]) and a[key].dtype == torch.long
    single = ours("hello world", return_tensors="pt")
    assert single.input_ids.shape == (1, 4)  # attribute access as in transformers
    with pytest.raises(ValueError, match="padding=True"):
        ours(["a", "a b c"], return_tensors="pt")


def test_decode_matches(ours, hf, corpus_sentences):
    rng = random.Random(0)
    id_lists = [hf(t)["input_ids"] for t in TEXTS[:200] + corpus_sentences[:100]]
    id_lists += [[rng.randrange(hf.vocab_size) for _ in range(rng.randint(0, 30))] for _ in range(200)]
    id_lists += [[], [101], [2003, 1012], [1012, 1012], [7592, 29612, 1010]]  # "##" first, " ." inside
    for ids in id_lists:
        assert ours.decode(ids) == hf.decode(ids), ids
        assert ours.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True), ids
    assert ours.decode(torch.tensor(id_lists[0])) == hf.decode(id_lists[0])
    assert ours.batch_decode(id_lists[:5]) == hf.batch_decode(id_lists[:5])


def test_convert_tokens_and_ids(ours, hf):
    tokens = ["hello", "##ing", "[MASK]", "not-in-vocab"]
    assert ours.convert_tokens_to_ids(tokens) == hf.convert_tokens_to_ids(tokens)
    assert ours.convert_tokens_to_ids("hello") == hf.convert_tokens_to_ids("hello")
    ids = [101, 7592, 103, 100, 102]
    assert ours.convert_ids_to_tokens(ids) == hf.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(7592) == "hello"


# ------------------------------------------------------------------------------------------------
# saving and loading


@pytest.mark.parametrize("options", [{}, {"do_lower_case": False}, {"do_lower_case": True, "strip_accents": False},
                                     {"do_lower_case": False, "strip_accents": True},
                                     {"tokenize_chinese_chars": False}])
def test_save_pretrained_loads_in_transformers(ours, tmp_path, options):
    tok = BertTokenizer(ours.get_vocab(), **options)
    files = tok.save_pretrained(tmp_path)
    assert {os.path.basename(f) for f in files} == {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}
    theirs = HFBertTokenizer.from_pretrained(tmp_path)
    again = BertTokenizer.from_pretrained(tmp_path)
    pairs = list(zip(TEXTS[:150], TEXTS[150:300]))
    kw = dict(truncation=True, max_length=32, padding=True)
    same_encoding(tok(TEXTS), theirs(TEXTS))
    same_encoding(tok(pairs, **kw), theirs(pairs, **kw))
    same_encoding(again(TEXTS), tok(TEXTS))
    assert again.do_lower_case == tok.do_lower_case and again.strip_accents == tok.strip_accents


def test_from_pretrained_reads_config(tmp_path, ours):
    ours.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config.update(do_lower_case=False, model_max_length=128)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = BertTokenizer.from_pretrained(tmp_path)
    assert tok.do_lower_case is False and tok.model_max_length == 128
    assert tok.tokenize("Hello") != ours.tokenize("Hello")


# ------------------------------------------------------------------------------------------------
# bad input: each error names the problem


def test_missing_vocab_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        BertTokenizer.from_pretrained(tmp_path / "nope")


def test_vocab_without_special_tokens(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n##s\n")
    with pytest.raises(ValueError, match=r"lacks the special token\(s\) \[SEP\], \[CLS\], \[MASK\]"):
        BertTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("bad", [None, 42, [101, 7592, 102], 3.5, b"bytes"])
def test_non_string_input(ours, bad):
    with pytest.raises(TypeError, match="must be a string") as err:
        ours(bad)
    if isinstance(bad, list):
        assert "decode" in str(err.value)
    if bad is None:
        assert "None" in str(err.value)
    with pytest.raises(TypeError, match="must be a string"):
        ours.tokenize(bad)


def test_bad_batch_and_options(ours):
    with pytest.raises(TypeError, match=r"text\[1\] must be a string"):
        ours(["fine", None])
    with pytest.raises(TypeError, match="text_pair must be a string"):
        ours("fine", 7)
    with pytest.raises(ValueError, match="same length"):
        ours(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="padding="):
        ours("a", padding="sideways")
    with pytest.raises(ValueError, match="truncation="):
        ours("a", truncation="middle", max_length=4)
    with pytest.raises(ValueError, match="only_second"):
        ours("a b c d e f", truncation="only_second", max_length=4)
    with pytest.raises(ValueError, match="special tokens"):
        ours("a b c", "d", truncation=True, max_length=2)
    with pytest.raises(ValueError, match="empty batch"):
        ours([])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ours.decode([101, 10 ** 6])
    with pytest.raises(TypeError, match="decode expects"):
        ours.decode("hello")


# ------------------------------------------------------------------------------------------------
# the building blocks


def test_basic_tokenize_steps():
    assert basic_tokenize("Héllo,  WORLD!") == ["hello", ",", "world", "!"]
    assert basic_tokenize("Héllo", do_lower_case=False) == ["Héllo"]
    assert basic_tokenize("Héllo", do_lower_case=True, strip_accents_=False) == ["héllo"]
    assert basic_tokenize("中文ab") == ["中", "文", "ab"]
    assert basic_tokenize("中文ab", tokenize_chinese_chars=False) == ["中文ab"]
    assert basic_tokenize("a\u200bb\x00c d") == ["abc", "d"]


def test_wordpiece_greedy_longest_match():
    vocab = {"un", "##aff", "##able", "##a", "##ff", "u", "##n", "a"}
    assert wordpiece("unaffable", vocab) == ["un", "##aff", "##able"]
    assert wordpiece("unx", vocab) == ["[UNK]"]  # one unsplittable rest -> the whole word is [UNK]
    assert wordpiece("a" * 101, vocab) == ["[UNK]"]
    assert wordpiece("a" * 3, vocab | {"##a"}) == ["a", "##a", "##a"]


def test_pickle_round_trip(ours):
    import pickle

    again = pickle.loads(pickle.dumps(ours))
    assert again(TEXTS[:50]) == ours(TEXTS[:50])


def test_word_cache_is_used(ours):
    ours._word_to_ids.cache_clear()
    ours.tokenize("the the the the")
    info = ours._word_to_ids.cache_info()
    assert info.hits == 3 and info.misses == 1


# ------------------------------------------------------------------------------------------------
# training


@pytest.fixture(scope="module")
def training_texts():
    docs = corpus.read_corpus(corpus.corpus_path())
    return [s for doc in docs[:300] for s in doc]


def test_train_is_deterministic_and_sane(training_texts):
    vocab = train_wordpiece(training_texts, vocab_size=1200)
    assert vocab == train_wordpiece(list(training_texts), vocab_size=1200)  # same input -> same vocab
    assert len(vocab) == len(set(vocab)) == 1200
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # a smaller vocabulary is a prefix of a larger one: merges are learned in order
    assert train_wordpiece(training_texts, vocab_size=700) == vocab[:700]
    tok = BertTokenizer(vocab)
    for word in ("the", "and", "film", "movie"):  # frequent words are whole tokens
        assert tok.tokenize(word) == [word]
    assert len(tok.tokenize("unbelievably")) > 1  # rare words come in pieces
    assert all("[UNK]" not in tok.tokenize(t) for t in training_texts[:200])  # every character is covered


def test_train_classmethod_and_saved_vocab_loads_in_transformers(training_texts, tmp_path):
    tok = train_tokenizer(training_texts, vocab_size=800)
    assert tok.vocab_size == 800
    tok.save_pretrained(tmp_path)
    theirs = HFBertTokenizer.from_pretrained(tmp_path)
    same_encoding(tok(training_texts[:300]), theirs(training_texts[:300]))


def test_train_likelihood_score_differs_and_bad_args(training_texts):
    by_likelihood = train_wordpiece(training_texts, vocab_size=700, score="likelihood")
    assert len(by_likelihood) == 700 and by_likelihood != train_wordpiece(training_texts, vocab_size=700)
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(training_texts, vocab_size=10)
    with pytest.raises(TypeError, match="iterable"):
        train_wordpiece("one string", vocab_size=100)
    with pytest.raises(ValueError, match="score"):
        train_wordpiece(training_texts, vocab_size=700, score="magic")
    with pytest.warns(UserWarning, match="ran out of pairs"):
        small = train_wordpiece(["hello world", "hello there"] * 3, vocab_size=500)
    assert "hello" in small and len(small) < 500


def test_course_tokenizer_is_cached(tmp_path, monkeypatch):
    from bert_edu.data import assets

    docs = corpus.read_corpus(corpus.corpus_path())[:200]
    corpus_file = corpus.write_corpus(docs, tmp_path / "corpus.txt")
    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path / "cache"))
    first = course_tokenizer(vocab_size=700, corpus=corpus_file)
    folders = sorted((assets.cache_dir() / "tokenizers").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("course-wp700-")
    assert first.vocab_size == 700
    # mark the cached file: a second call must load it rather than train again
    (folders[0] / "vocab.txt").write_text((folders[0] / "vocab.txt").read_text().replace("\nthe\n", "\nTHE\n"))
    second = course_tokenizer(vocab_size=700, corpus=corpus_file)
    assert "THE" in second.get_vocab()  # loaded from the cache, not retrained
    corpus.write_corpus(docs[:150], corpus_file)  # another corpus -> another cache entry
    third = course_tokenizer(vocab_size=700, corpus=corpus_file)
    assert "THE" not in third.get_vocab() and len(list((assets.cache_dir() / "tokenizers").iterdir())) == 2
    with pytest.raises(FileNotFoundError, match="corpus file"):
        course_tokenizer(corpus=tmp_path / "missing.txt")


def test_loads_a_folder_saved_by_transformers_5(tmp_path):
    """transformers 5 writes tokenizer.json and no vocab.txt; we read the vocabulary from there."""
    import transformers

    from bert_edu import BertTokenizer
    from bert_edu.data.assets import minilm_path

    theirs = transformers.BertTokenizer.from_pretrained(minilm_path())
    theirs.save_pretrained(tmp_path)
    ours = BertTokenizer.from_pretrained(tmp_path)
    texts = ["Héllo, WORLD! 你好 unaffable", "a [MASK] test"]
    assert ours(texts, padding=True)["input_ids"] == theirs(texts, padding=True)["input_ids"]
    assert ours.vocab_size == 30522

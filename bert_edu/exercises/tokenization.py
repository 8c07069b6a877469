"""Checkers for notebook 01 (tokenization): WordPiece, accent stripping, longest-first truncation, a
prediction of sequence lengths, and the WordPiece training step (which pair becomes a new token)."""

from __future__ import annotations

import unicodedata

from bert_edu.exercises._harness import Checker
from bert_edu.text.tokenizer import MAX_INPUT_CHARS_PER_WORD, truncate_pair, wordpiece

# ------------------------------------------------------------------------------------------------
# wordpiece(word, vocab) -> list of pieces

WORDPIECE_VOCAB = {t: i for i, t in enumerate(
    ["[UNK]", "un", "##aff", "##able", "##a", "##f", "##b", "##l", "##e", "u", "##n", "play", "##ing",
     "##s", "p", "##l", "##ay", "token", "##izer", "##iz", "##er", "x", "##x", "a"])}


def _shortest_match(word, vocab, unk_token="[UNK]"):
    """Mistake: takes the shortest piece that is in the vocabulary instead of the longest."""
    if len(word) > MAX_INPUT_CHARS_PER_WORD:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        for end in range(start + 1, len(word) + 1):
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
        else:
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


def _no_prefix(word, vocab, unk_token="[UNK]"):
    """Mistake: looks pieces up without the ## continuation prefix."""
    if len(word) > MAX_INPUT_CHARS_PER_WORD:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and word[start:end] not in vocab:
            end -= 1
        if end == start:
            return [unk_token]
        pieces.append(word[start:end])
        start = end
    return pieces


def _partial_unk(word, vocab, unk_token="[UNK]"):
    """Mistake: keeps the pieces found so far and adds [UNK] for the rest (BERT drops the whole word)."""
    if len(word) > MAX_INPUT_CHARS_PER_WORD:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return pieces + [unk_token]
        pieces.append(piece)
        start = end
    return pieces


def _no_length_limit(word, vocab, unk_token="[UNK]"):
    """Mistake: splits over-long words instead of returning [UNK]."""
    return wordpiece(word, vocab, unk_token, max_input_chars_per_word=10 ** 9)


def check_wordpiece(fn, quiet: bool = False) -> bool:
    """``fn(word, vocab) -> list[str]``: greedy longest-match-first WordPiece of one (normalised) word."""
    ck = Checker("wordpiece", fn, quiet=quiet)
    vocab = WORDPIECE_VOCAB
    cases = [
        ("a word that is in the vocabulary", "play"),
        ("the classic example: unaffable", "unaffable"),
        ("continuation pieces need the ## prefix", "playing"),
        ("longest match first, not shortest", "tokenizer"),
        ("the same piece repeated", "xxxx"),
        ("a word that cannot be split", "unaffablez"),
        ("a word of 101 characters (over the limit of 100)", "x" * 101),
        ("a word of exactly 100 characters", "x" * 100),
    ]
    mistakes_of = {
        "you take the shortest piece in the vocabulary; WordPiece takes the longest one first": _shortest_match,
        "a piece that continues a word must be looked up with the '##' prefix (e.g. '##able')": _no_prefix,
        "when a rest of the word has no piece, the whole word becomes ['[UNK]'], not the pieces so far + "
        "'[UNK]'": _partial_unk,
        "words longer than 100 characters are not split: they become ['[UNK]']": _no_length_limit,
    }
    for name, word in cases:
        with ck.case(f"{name}: {word[:20]!r}{'...' if len(word) > 20 else ''}") as case:
            got = fn(word, vocab)
            case.expect(isinstance(got, list), f"return a list of strings, got {type(got).__name__}")
            case.expect_equal(got, wordpiece(word, vocab),
                              mistakes={hint: wrong(word, vocab) for hint, wrong in mistakes_of.items()},
                              what="pieces")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# strip_accents(text) -> text


def reference_strip_accents(text: str) -> str:
    """NFD, then drop the non-spacing marks (category Mn)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def check_strip_accents(fn, quiet: bool = False) -> bool:
    """``fn(text) -> text`` without accents, as BERT's uncased normalisation (case is kept)."""
    ck = Checker("strip_accents", fn, quiet=quiet)
    cases = [
        ("French", "Café naïve résumé"),
        ("capitals keep their case", "Ångström ÉCOLE"),
        ("already plain ASCII", "plain text, 123!"),
        ("letters that are not 'letter + accent' stay", "Æsir Œuvre Straße ø ł"),
        ("a ligature is a compatibility character, not an accent", "ﬁnancial"),
        ("Greek with breathing marks", "Ὀδυσσεύς"),
        ("Devanagari: the virama is a non-spacing mark, vowel signs are spacing", "हिन्दी"),
        ("already decomposed: e + combining acute", "cafe\u0301"),
    ]

    def nfkd(text):
        return reference_strip_accents(unicodedata.normalize("NFKD", text))

    def all_marks(text):
        return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.category(c).startswith("M"))

    def ascii_only(text):
        return text.encode("ascii", "ignore").decode()

    def no_normalize(text):
        return "".join(c for c in text if unicodedata.category(c) != "Mn")

    mistakes_of = {
        "you used NFKD, which also rewrites compatibility characters (the ligature 'ﬁ' -> 'fi'); "
        "BERT uses NFD": nfkd,
        "you removed every mark (category M*); only non-spacing marks (Mn) are accents, spacing marks (Mc) "
        "are part of the letter": all_marks,
        "you dropped every non-ASCII character; decompose with unicodedata.normalize('NFD', text) and drop "
        "only the combining marks": ascii_only,
        "you removed combining marks without decomposing first: 'é' is one code point until "
        "unicodedata.normalize('NFD', ...) splits it": no_normalize,
        "you lower-cased too: strip_accents keeps the case (lower-casing is a separate step)":
            lambda t: reference_strip_accents(t).lower(),
    }
    for name, text in cases:
        with ck.case(f"{name}: {text!r}") as case:
            got = fn(text)
            case.expect(isinstance(got, str), f"return a string, got {type(got).__name__}")
            case.expect_equal(got, reference_strip_accents(text),
                              mistakes={hint: wrong(text) for hint, wrong in mistakes_of.items()}, what="text")
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# truncate_longest_first(ids_a, ids_b, max_tokens) -> (ids_a, ids_b)


def reference_truncate_longest_first(ids_a: list, ids_b: list, max_tokens: int) -> tuple[list, list]:
    keep_a, keep_b = truncate_pair(len(ids_a), len(ids_b), max_tokens)
    return ids_a[:keep_a], ids_b[:keep_b]


def _one_at_a_time(ids_a, ids_b, max_tokens):
    """The old Python rule: remove one token at a time from the longer; on a tie from the second."""
    a, b = list(ids_a), list(ids_b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def _cut_second_only(ids_a, ids_b, max_tokens):
    return ids_a, ids_b[:max(0, max_tokens - len(ids_a))]


def _cut_from_front(ids_a, ids_b, max_tokens):
    keep_a, keep_b = truncate_pair(len(ids_a), len(ids_b), max_tokens)
    return ids_a[len(ids_a) - keep_a:], ids_b[len(ids_b) - keep_b:]


def _proportional(ids_a, ids_b, max_tokens):
    total = len(ids_a) + len(ids_b)
    if total <= max_tokens:
        return ids_a, ids_b
    keep_a = round(len(ids_a) * max_tokens / total)
    return ids_a[:keep_a], ids_b[:max_tokens - keep_a]


def check_truncate_longest_first(fn, quiet: bool = False) -> bool:
    """``fn(ids_a, ids_b, max_tokens) -> (ids_a, ids_b)``: the pair cut to ``max_tokens`` tokens in total
    (special tokens already subtracted), longest first."""
    ck = Checker("truncate_longest_first", fn, quiet=quiet)
    cases = [
        ("it already fits", 3, 4, 10),
        ("only the longer one is cut", 3, 12, 10),
        ("the first one is the longer", 12, 3, 10),
        ("both must be cut, even budget", 8, 9, 10),
        ("both must be cut, odd budget: the extra token goes to the longer", 9, 8, 11),
        ("equal lengths, odd budget: the extra token goes to the second", 8, 8, 11),
        ("an empty second sequence", 12, 0, 5),
        ("a budget of zero", 4, 2, 0),
    ]
    mistakes_of = {
        "you removed tokens one at a time and broke ties by cutting the second sequence (the old Python "
        "rule); transformers.BertTokenizer splits the budget in half and gives the odd token to the longer "
        "sequence (to the second on a tie)": _one_at_a_time,
        "you only cut the second sequence; longest-first cuts whichever is longer": _cut_second_only,
        "you kept the end of each sequence; truncation removes tokens from the end, keeping the start":
            _cut_from_front,
        "you cut both in proportion to their lengths; longest-first cuts the longer one first": _proportional,
    }
    for name, len_a, len_b, max_tokens in cases:
        ids_a = list(range(100, 100 + len_a))
        ids_b = list(range(200, 200 + len_b))
        with ck.case(f"{name}: lengths ({len_a}, {len_b}), max_tokens={max_tokens}") as case:
            got = fn(list(ids_a), list(ids_b), max_tokens)
            case.expect(isinstance(got, tuple) and len(got) == 2, "return a tuple (ids_a, ids_b)")
            got = (list(got[0]), list(got[1]))
            expected = reference_truncate_longest_first(ids_a, ids_b, max_tokens)
            case.expect_equal(got, expected, what="(ids_a, ids_b)",
                              mistakes={hint: tuple(map(list, wrong(ids_a, ids_b, max_tokens)))
                                        for hint, wrong in mistakes_of.items()})
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# predict: how many input_ids?

PREDICT_SENTENCES = (
    "The movie was great!",
    "I didn't like it.",
    "Costs: $12.50 (in 3D)!",
)


def check_predict_lengths(fn, quiet: bool = False) -> bool:
    """``fn() -> list[int]``: your prediction of ``len(tokenizer(s)["input_ids"])`` for each sentence of
    ``PREDICT_SENTENCES`` with the MiniLM tokenizer (every word in them is in its vocabulary)."""
    from bert_edu.data.assets import minilm_path
    from bert_edu.text.tokenizer import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    ck = Checker("predict_lengths", fn, quiet=quiet)
    guesses = None
    with ck.case("a list with one number per sentence") as case:
        guesses = fn()
        case.expect(isinstance(guesses, (list, tuple)) and len(guesses) == len(PREDICT_SENTENCES)
                    and all(isinstance(g, int) for g in guesses),
                    f"return a list of {len(PREDICT_SENTENCES)} ints, got {guesses!r}")
    if isinstance(guesses, (list, tuple)) and len(guesses) == len(PREDICT_SENTENCES):
        for sentence, guess in zip(PREDICT_SENTENCES, guesses):
            n = len(tokenizer(sentence)["input_ids"])
            words = len(sentence.split())
            with ck.case(repr(sentence)) as case:
                case.expect_equal(guess, n, what="number of input_ids", mistakes={
                    "you forgot [CLS] and [SEP], which are input_ids too": n - 2,
                    "you counted words separated by spaces: BERT also splits off every punctuation mark "
                    "(and the apostrophe of didn't)": words + 2,
                    "you counted space-separated words and forgot [CLS] and [SEP]": words,
                })
    return ck.verdict()


# ------------------------------------------------------------------------------------------------
# best_pair(splits, score) -> (a, b): the WordPiece training step (which pair becomes a new token)


def reference_best_pair(splits, score="frequency"):
    """``splits``: {tuple of pieces: word count}. The adjacent pair (a, b) with the best score, counted over all
    words weighted by their count: ``"frequency"`` count(ab); ``"likelihood"`` count(ab) / (count(a) count(b)).
    Ties go to the pair seen first (words in the dict's order, each left to right); None if no word has two
    pieces. ``bert_edu.text.wordpiece.train_wordpiece`` makes the same choice for its first merge."""
    pair_count, piece_count = {}, {}
    for pieces, n in splits.items():
        for piece in pieces:
            piece_count[piece] = piece_count.get(piece, 0) + n
        for pair in zip(pieces, pieces[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + n
    best, best_score = None, float("-inf")
    for (a, b), count in pair_count.items():
        value = count if score == "frequency" else count / (piece_count[a] * piece_count[b])
        if value > best_score:  # strictly better: the first pair keeps a tie
            best, best_score = (a, b), value
    return best


def _best_pair_unweighted(splits, score="frequency"):
    """Mistake: counts each word once, ignoring how often it occurs."""
    return reference_best_pair({pieces: 1 for pieces in splits}, score)


def _best_pair_last_on_tie(splits, score="frequency"):
    """Mistake: on a tie, the pair seen last wins (>= instead of >)."""
    reversed_splits = {tuple(reversed(p)): n for p, n in reversed(list(splits.items()))}
    a_b = reference_best_pair(reversed_splits, score)
    return None if a_b is None else (a_b[1], a_b[0])


def _best_pair_ignores_score(splits, score="frequency"):
    """Mistake: always uses the frequency, whatever ``score`` says."""
    return reference_best_pair(splits, "frequency")


def _best_pair_word_counts(splits, score="frequency"):
    """Mistake: count(a) is the number of words that contain a, not how often a occurs."""
    if score == "frequency":
        return reference_best_pair(splits, score)
    pair_count, words_with = {}, {}
    for pieces, n in splits.items():
        for piece in set(pieces):
            words_with[piece] = words_with.get(piece, 0) + 1
        for pair in zip(pieces, pieces[1:]):
            pair_count[pair] = pair_count.get(pair, 0) + n
    best, best_score = None, float("-inf")
    for (a, b), count in pair_count.items():
        value = count / (words_with[a] * words_with[b])
        if value > best_score:
            best, best_score = (a, b), value
    return best


BEST_PAIR_CASES = [
    ("frequency, the classic hug/pug/pun example", "frequency",
     {("h", "##u", "##g"): 10, ("p", "##u", "##g"): 5, ("p", "##u", "##n"): 12, ("b", "##u", "##n"): 4,
      ("h", "##u", "##g", "##s"): 5}),
    ("likelihood on the same words: rare parts that always occur together win", "likelihood",
     {("h", "##u", "##g"): 10, ("p", "##u", "##g"): 5, ("p", "##u", "##n"): 12, ("b", "##u", "##n"): 4,
      ("h", "##u", "##g", "##s"): 5}),
    ("word counts matter: one frequent word against three rare ones", "frequency",
     {("c", "##a", "##t"): 1, ("h", "##a", "##t"): 1, ("m", "##a", "##t"): 1, ("t", "##h", "##e"): 50}),
    ("likelihood where a piece occurs twice in one word", "likelihood",
     {("b", "##a", "##n", "##a", "##n", "##a"): 3, ("n", "##a"): 4, ("c", "##a", "##n"): 2, ("x", "##y"): 1,
      ("x", "##y", "##z"): 2}),
    ("a tie: the pair seen first wins", "frequency", {("a", "##b"): 2, ("c", "##d"): 2, ("e",): 7}),
    ("a tie under likelihood", "likelihood", {("q", "##r"): 3, ("s", "##t"): 3}),
    ("no word has two pieces left: nothing to merge", "frequency", {("the",): 5, ("a",): 3}),
]


def check_best_pair(fn, quiet: bool = False) -> bool:
    """``fn(splits, score) -> (a, b) | None``: the pair WordPiece training adds to the vocabulary next."""
    ck = Checker("best_pair", fn, quiet=quiet)
    mistakes_of = {
        "you counted each word once; weight every pair by the word's count (splits[pieces])": _best_pair_unweighted,
        "on a tie you kept the pair seen last; keep the first one (replace only when the score is strictly "
        "higher)": _best_pair_last_on_tie,
        "with score='likelihood' divide count(ab) by count(a) * count(b)": _best_pair_ignores_score,
        "count(a) is how often the piece a occurs (weighted by word counts), not in how many words":
            _best_pair_word_counts,
    }
    for name, score, splits in BEST_PAIR_CASES:
        with ck.case(f"{name} (score={score!r})") as case:
            got = fn(dict(splits), score)
            expected = reference_best_pair(splits, score)
            if expected is not None:
                case.expect(got is not None, "your function returned None: did you forget the `return` "
                                             "statement? (None only when no word has two pieces)")
            case.expect_equal(None if got is None else tuple(got), expected,
                              mistakes={hint: wrong(splits, score) for hint, wrong in mistakes_of.items()
                                        if wrong(splits, score) != expected},
                              what="pair")
    return ck.verdict()

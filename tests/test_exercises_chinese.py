"""The notebook-13 checkers accept correct solutions and name the mistake in typical wrong versions."""

from bert_edu.exercises import chinese as zh
from bert_edu.exercises.chinese import check_is_cjk_char, check_mask_chinese, check_split_cjk, check_unk_rate
from exercise_helpers import assert_checker_fails, assert_checker_passes

# ------------------------------------------------------------------------------------ is_cjk_char


def my_is_cjk_char(char):
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF),
                                              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])


def test_is_cjk_char(capsys):
    assert_checker_passes(check_is_cjk_char, my_is_cjk_char, capsys)
    assert_checker_fails(check_is_cjk_char, zh._main_block_only, capsys, hint="Extension A")
    assert_checker_fails(check_is_cjk_char, zh._east_asian_wide, capsys, hint="kana and Hangul")
    assert_checker_fails(check_is_cjk_char, zh._by_name, capsys, hint="not ideographs")

    def as_string(char):
        return "yes" if my_is_cjk_char(char) else "no"

    assert_checker_fails(check_is_cjk_char, as_string, capsys, hint="return True or False")


# ------------------------------------------------------------------------------------ split_cjk


def my_split_cjk(text):
    out = []
    for char in text:
        out.append(f" {char} " if my_is_cjk_char(char) else char)
    return "".join(out).split()


def test_split_cjk(capsys):
    assert_checker_passes(check_split_cjk, my_split_cjk, capsys)
    assert_checker_passes(check_split_cjk, zh.reference_split_cjk, capsys)
    assert_checker_fails(check_split_cjk, zh._every_character, capsys, hint="'BERT' and '99' stay whole")
    assert_checker_fails(check_split_cjk, zh._spaces_only, capsys, hint="without spaces")
    assert_checker_fails(check_split_cjk, zh._wide_characters, capsys, hint="kana, Hangul")

    def main_block_only(text):
        return "".join(f" {c} " if zh._main_block_only(c) else c for c in text).split()

    def split_on_space_only(text):  # " " but not tabs
        return [w for w in "".join(f" {c} " if my_is_cjk_char(c) else c for c in text).split(" ") if w]

    assert_checker_fails(check_split_cjk, split_on_space_only, capsys)
    assert_checker_passes(check_split_cjk, main_block_only, capsys)  # the cases hold only main-block ideographs


# ------------------------------------------------------------------------------------ unk_rate


def my_unk_rate(texts, tokenizer):
    n = unk = 0
    for text in texts:
        for token in tokenizer.tokenize(text):
            n += 1
            unk += token == "[UNK]"
    return unk / n if n else 0.0


def test_unk_rate(capsys):
    assert_checker_passes(check_unk_rate, my_unk_rate, capsys)
    assert_checker_passes(check_unk_rate, zh.reference_unk_rate, capsys)
    assert_checker_fails(check_unk_rate, zh._mean_of_rates, capsys, hint="mean of per-text rates")
    assert_checker_fails(check_unk_rate, zh._per_character, capsys, hint="not characters")
    assert_checker_fails(check_unk_rate, zh._texts_with_unk, capsys, hint="not texts")
    assert_checker_fails(check_unk_rate, zh._with_specials, capsys, hint="[CLS] and [SEP]")

    def percent(texts, tokenizer):
        return 100 * my_unk_rate(texts, tokenizer)

    assert_checker_fails(check_unk_rate, percent, capsys)


# ------------------------------------------------------------------------------------ mask_chinese


def my_mask_chinese(text, char_positions, tokenizer):
    enc = tokenizer(text, return_offsets_mapping=True)
    ids, labels = [], []
    for token_id, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]):
        if a < b and any(a <= p < b for p in char_positions):
            ids.append(tokenizer.mask_token_id)
            labels.append(token_id)
        else:
            ids.append(token_id)
            labels.append(-100)
    return ids, labels


def test_mask_chinese(capsys):
    assert_checker_passes(check_mask_chinese, my_mask_chinese, capsys)
    assert_checker_passes(check_mask_chinese, zh.reference_mask_chinese, capsys)
    assert_checker_fails(check_mask_chinese, zh._one_token_per_character, capsys, hint="offset_mapping")
    assert_checker_fails(check_mask_chinese, zh._forgot_cls, capsys, hint="[CLS]")
    assert_checker_fails(check_mask_chinese, zh._labels_everywhere, capsys, hint="-100 everywhere except")

    def without_special_tokens(text, char_positions, tokenizer):
        ids, labels = my_mask_chinese(text, char_positions, tokenizer)
        return ids[1:-1], labels[1:-1]

    assert_checker_fails(check_mask_chinese, without_special_tokens, capsys)


def test_a_real_tokenizer_masks_the_demo_sentence():
    """The fill-mask demo of notebook 13: the character before the full stop, with a character-level vocabulary."""
    from bert_edu.text.tokenizer import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"这家酒店的服务很好差。"]
    tok = BertTokenizer({t: i for i, t in enumerate(vocab)})
    text = "这家酒店的服务很好。"
    ids, labels = zh.reference_mask_chinese(text, [8], tok)
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", *"这家酒店的服务很", "[MASK]", "。", "[SEP]"]
    assert [tok.convert_ids_to_tokens(i) for i in labels if i != -100] == ["好"]

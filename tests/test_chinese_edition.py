"""The Chinese edition as a Chinese reader meets it (issue 29): no English prose left untranslated, and the same
rules for the numbers and claims in its prose as the English edition.

* A reader of Chinese finds no untranslated English prose in the Chinese notebooks' markdown: no run of three or
  more English words outside code, identifiers, maths, links, citations (author-year, ``[cite: ...]``), quotations
  and titles (text in quotation marks or italics, as the translation quotes data and cites papers), and English
  glosses in brackets right after the Chinese term they gloss (暂退法（dropout）).
* The prose-number rule and the claim-word rule of tests/test_notebook_prose.py hold for the Chinese edition's own
  run: every figure its prose quotes is printed by the cells its markdown describes *in the Chinese notebook's
  outputs* (``make notebooks`` runs it, with Chinese checker messages), and Chinese claim words (胜过, 优于, 远远,
  显著, 不比……好, 在噪声之内, 持平 ...) agree with the intervals and verdicts printed there. A "95% 置信区间" / "95%
  区间" names a convention, not a result, as in English.
Each rule is shown to fail on a small example at the end of this file.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

import test_notebook_prose as prose

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAIRS = [(en, ROOT / "notebooks" / "zh" / en.name) for en in ENGLISH]

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
NOT_READ_AS_PROSE = re.compile(
    r"```.*?```|`(?:[^`\n]|\n(?!\s*\n))*`|<!--.*?-->|\]\([^)]*\)|https?://\S+|\$\$.*?\$\$|\$[^$\n]+\$|\[cite:[^\]]*\]|<[^>]+>"
    r"|“[^”\n]{1,200}”|‘[^’\n]{1,200}’|\"[^\"\n]{1,200}\"|「[^」\n]{1,200}」|《[^》\n]{1,200}》"  # quotations, titles
    r"|(?<![*\w])\*(?:[^*\n]|\n(?!\s*\n)){1,200}\*(?!\*)|(?<![_\w])_[^_\n]{1,200}_(?!\w)"           # italics: titles
    r"|(?<=[" + _CJK + r"”」』])[（(][^）)\n`]{1,80}[）)]"                                          # 术语（term）
    r"|Hugging Face(?: Hub)?|CNN / Daily Mail|Children's Book Test"                              # names
    r"|\b[A-Z][\w-]+(?: et al\.?| and [A-Z][\w-]+)?,? [（(]?(?:19|20)\d\d[a-z]?[）)]?"          # Devlin et al. 2019
    r"|\b[A-Z][\w-]+ et al\.?", re.DOTALL)
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")  # a word of two letters or more (T, x, d are maths, not prose)
RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t]+(?:[A-Za-z][A-Za-z'’-]*|&|/|\d+))*")


def english_runs(markdown: str) -> list[str]:
    """Runs of three or more English words in ``markdown`` that a Chinese reader would read as prose."""
    text = NOT_READ_AS_PROSE.sub(" ", markdown)
    return [m.group(0) for m in RUN.finditer(text) if len(WORD.findall(m.group(0))) >= 3]


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_notebook_has_an_executed_chinese_edition():
    for en, zh in PAIRS:
        assert zh.is_file(), f"{zh} is missing: bert-edu translate build, then make notebooks"
        meta = _read(zh)["metadata"]
        assert meta.get("language") == "zh-CN"
        assert meta.get("bert_edu_translation", {}).get("executed") is True, \
            f"{zh.name} shows the English run's outputs: make notebooks runs the Chinese edition itself"


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[1].name)
def test_no_untranslated_english_prose(pair):
    _, zh = pair
    found = []
    for cell in _read(zh)["cells"]:
        if cell["cell_type"] == "markdown":
            found += english_runs(prose._source(cell))
    assert not found, f"zh/{zh.name}: English prose a Chinese reader cannot read (translate it in " \
        f"notebooks/zh/{zh.stem}.zh.yaml; quote data and titles, gloss terms in brackets):\n  " + "\n  ".join(found)


def _english_text_chinese_run(en: dict, zh: dict) -> dict:
    """The English notebook's markdown with the Chinese edition's outputs and recorded times: the English figure
    and citation rules, checked against what the Chinese run printed (the cells are the same cells, in order)."""
    hybrid = copy.deepcopy(en)
    zh_cells = {c.get("id"): c for c in zh["cells"]}
    for cell in hybrid["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = zh_cells[cell.get("id")].get("outputs", [])
    hybrid["metadata"]["bert_edu"] = zh["metadata"].get("bert_edu", {})
    if hybrid["cells"] and hybrid["cells"][0]["cell_type"] == "markdown":  # the header's time: the Chinese run's
        from bert_edu.course.notebooks import TIME_ROW, time_row

        head = prose._source(hybrid["cells"][0])
        hybrid["cells"][0]["source"] = TIME_ROW.sub(lambda _: time_row(hybrid["metadata"]["bert_edu"]), head)
    return hybrid


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[1].name)
def test_every_quoted_figure_is_printed_by_the_chinese_run(pair):
    en, zh = pair
    missing = prose.unprinted_where_described(_english_text_chinese_run(_read(en), _read(zh)))
    assert not missing, f"zh/{zh.name}: figures its prose quotes that its own run does not print where described " \
        "(re-run make notebooks; or the English and Chinese runs differ):\n" + \
        "\n".join(f"  {f}: {s!r}" for f, s in missing)


# Chinese claim words, the counterparts of prose.NULL_CLAIM / prose.EFFECT_CLAIM
# (the English words: "no better than", "within the noise", "is a tie" / "beats", "better than", "worse than",
# "far ahead/better/worse", "significantly"; a Chinese word as generic as 无法区分 or 远高于 is not a claim)
ZH_NULL_CLAIM = re.compile(r"不比.{0,12}?好|并不优于|在噪声(?:之内|以内|范围内)|是平手|算作平手|难分高下")
ZH_EFFECT_CLAIM = re.compile(r"(?<!要)(?<!须)(?<!应)(?<!能否)(?<!是否)(?:胜过|优于|劣于|好于|差于|远远(?:领先|胜过|优于|好于|差于)"
                             r"|显著(?:地)?(?:更|好|差|高|低|优|胜|领先|落后))")
ZH_SENTENCE_END = re.compile(r"(?<=[。！？；])|\n\s*\n|\n(?=\s*(?:[-*|]|\d+\.)\s)")
ZH_CONVENTION = re.compile(r"置信|区间")  # "95% 置信区间" names a convention, not a claim


def unsupported_chinese_claims(nb: dict) -> list[tuple[str, str]]:
    """prose.unsupported_claims with the Chinese claim words, for the Chinese edition (its own outputs)."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        found = None
        for sentence in ZH_SENTENCE_END.split(prose.NOT_PROSE.sub(" ", prose._source(cell))):
            if prose.CITATION.search(sentence) or prose.RESULTS_KEY.search(sentence):
                continue
            null, effect = ZH_NULL_CLAIM.search(sentence), ZH_EFFECT_CLAIM.search(sentence)
            if not (null or effect):
                continue
            if found is None:
                found = prose.verdicts(prose.output_text(prose.described_scope(_with_english_headings(nb, i), i)))
            if null and not (found["contains_zero"] or found["false"]):
                problems.append((null[0], sentence.strip()[:160]))
            elif effect and not null and not (found["excludes_zero"] or found["true"]):
                problems.append((effect[0], sentence.strip()[:160]))
    return problems


_ZH_HEADINGS = re.compile(r"(?m)^(#+) (?:小结|总结)")
_ZH_EXERCISES = re.compile(r"(?m)^(#+) 练习")


def _with_english_headings(nb: dict, _index: int) -> dict:
    """prose.described_scope recognises the Summary / Exercises sections by their English headings."""
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell["cell_type"] == "markdown":
            text = _ZH_HEADINGS.sub(r"\1 Summary", prose._source(cell))
            cell["source"] = _ZH_EXERCISES.sub(r"\1 Exercises", text)
    return out


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[1].name)
def test_chinese_claim_words_agree_with_printed_verdicts(pair):
    _, zh = pair
    problems = unsupported_chinese_claims(_read(zh))
    assert not problems, f"zh/{zh.name}: Chinese claim words that no printed interval or verdict nearby " \
        "supports (translate the English claim with its own strength):\n" + \
        "\n".join(f"  {w!r}: {s!r}" for w, s in problems)


# ------------------------------------------------------------------------------------------------ the rules fail


def test_the_reader_finds_english_prose_and_not_code_titles_or_glosses():
    assert english_runs("这一句没有翻译: the model learns the masked words from context.") == \
        ["the model learns the masked words from context"]
    assert english_runs("暂退法（dropout rate per layer）、`for x in range(3)`、*Attention Is All You Need*、"
                        "“the capital of”、Devlin et al. 2019、$W x + b$、[链接](https://a.b/c d e)") == []


def _nb(markdown: str, output: str) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": "# 标题"},
                      {"cell_type": "code", "source": "print()", "outputs": [{"output_type": "stream", "text": output}]},
                      {"cell_type": "markdown", "source": markdown},
                      {"cell_type": "code", "source": "", "outputs": []}],
            "metadata": {}}


def test_a_chinese_claim_must_agree_with_the_printed_interval():
    worse = "(b) - (c): -3.7 ± 1.8\n"
    assert unsupported_chinese_claims(_nb("梯度×输入不比随机好。", worse)) == [("不比随机好", "梯度×输入不比随机好。")]
    assert unsupported_chinese_claims(_nb("梯度×输入显著差于随机。", worse)) == []
    tie = "(b) - (c): +0.4 ± 1.8\n"
    assert unsupported_chinese_claims(_nb("预训练远远胜过随机初始化。", tie))[0][0] == "远远胜过"
    assert unsupported_chinese_claims(_nb("两者算作平手。", tie)) == []


def test_the_chinese_run_must_print_the_quoted_figures():
    en = _nb("It reaches 61.5% accuracy.", "accuracy 61.5%\n")
    zh = _nb("它达到 61.5% 的精度。", "accuracy 58.0%\n")
    for cell in (*en["cells"], *zh["cells"]):
        cell["id"] = None
    for i, (a, b) in enumerate(zip(en["cells"], zh["cells"])):
        a["id"] = b["id"] = f"c{i}"
    assert prose.unprinted_where_described(_english_text_chinese_run(en, zh)) == [("61.5%", "It reaches 61.5% accuracy.")]
    zh["cells"][1]["outputs"][0]["text"] = "accuracy 61.5%\n"
    assert prose.unprinted_where_described(_english_text_chinese_run(en, zh)) == []

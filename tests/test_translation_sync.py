"""The Chinese edition stays in step with the English notebooks (issue 29; bert_edu.course.translate).

For every notebook with a translation source (notebooks/zh/NN_name.zh.yaml): every English markdown cell has a
current translation (its stored hash is the English cell's), with the same numbers, in Chinese; the built
notebook notebooks/zh/NN_name.ipynb exists, is what `bert-edu translate build` writes now, and its code cells are
the English ones. The fixtures below show that each of these checks fails when it should.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from bert_edu.course import translate as tr

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = tr.translated_notebooks(ROOT / "notebooks")


def test_notebook_13_has_a_chinese_edition():
    assert ROOT / "notebooks" / "13_chinese_bert.ipynb" in TRANSLATED


@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.name)
def test_translation_is_complete_and_current(path):
    problems = tr.check(nbformat.read(path, as_version=4), tr.load_source(tr.source_path(path)))
    assert not problems, f"{path.name}: run `bert-edu translate status`:\n" + "\n".join(map(str, problems))


@pytest.mark.parametrize("path", TRANSLATED, ids=lambda p: p.name)
def test_built_notebook_is_current_and_its_code_is_the_english_code(path):
    built = tr.output_path(path)
    assert built.is_file(), f"{built} is missing: run `bert-edu translate build`"
    english, chinese = nbformat.read(path, as_version=4), nbformat.read(built, as_version=4)
    assert not tr.code_differences(english, chinese)
    english.metadata["bert_edu"] = chinese.metadata.get("bert_edu", {})  # its own run's time in its header
    fresh = tr.build_notebook(english, tr.load_source(tr.source_path(path)), path.name)
    assert [c.source for c in chinese.cells] == [c.source for c in fresh.cells], \
        f"{built} is not what the sources give now: run `bert-edu translate build`"


# ------------------------------------------------------------------------------------------------ fixtures


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 · Tokens\n\nBERT splits text into 30,522 pieces.", id="aaaa0001"),
        nbformat.v4.new_code_cell("print(2 + 2)", id="bbbb0002"),
        nbformat.v4.new_markdown_cell("![A figure](figures/x.png)\n\nThe model has 6 layers and 12 heads.",
                                      id="cccc0003"),
    ]
    path = folder / "01_tokens.ipynb"
    nbformat.write(nb, path)
    return path


GOOD = {"aaaa0001": "# 01 · 词元\n\nBERT 把文本切成 30,522 种片段。",
        "cccc0003": "![一幅图](figures/x.png)\n\n这个模型有 6 层、12 个头。"}


def _source(path: Path, texts: dict, hashes: dict | None = None) -> None:
    nb = nbformat.read(path, as_version=4)
    english = {c.id: c.source for c in nb.cells}
    cells = {cid: {"en": (hashes or {}).get(cid, tr.cell_hash(english[cid])), "zh": text} for cid, text in texts.items()}
    tr.dump_source({"notebook": path.name, "cells": cells}, tr.source_path(path))


@pytest.fixture
def english(tmp_path):
    return _notebook(tmp_path)


def _kinds(path):
    return sorted(p.kind for p in tr.check(nbformat.read(path, as_version=4), tr.load_source(tr.source_path(path))))


def test_a_good_translation_passes_and_builds(english):
    _source(english, GOOD)
    assert _kinds(english) == []
    out = tr.build(english)
    assert out == english.parent / "zh" / "01_tokens.ipynb"
    zh = nbformat.read(out, as_version=4)
    assert zh.cells[0].source == GOOD["aaaa0001"]
    assert zh.cells[2].source.startswith("![一幅图](../figures/x.png)")  # one folder down: the link follows
    assert tr.code_differences(nbformat.read(english, as_version=4), zh) == []
    assert zh.metadata["language"] == "zh-CN"
    again = tr.load_source(tr.source_path(english))  # the YAML round-trips
    assert {k: v["zh"] for k, v in again["cells"].items()} == GOOD


def test_fails_on_a_missing_translation(english):
    _source(english, {"aaaa0001": GOOD["aaaa0001"]})
    assert _kinds(english) == ["missing"]
    with pytest.raises(tr.TranslationError, match="missing"):
        tr.build(english)


def test_fails_on_a_stale_translation(english):
    _source(english, GOOD)
    nb = nbformat.read(english, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("The model", "The small model")  # the English moves on
    nbformat.write(nb, english)
    assert _kinds(english) == ["stale"]


def test_fails_on_a_changed_number(english):
    _source(english, {**GOOD, "cccc0003": GOOD["cccc0003"].replace("12 个头", "16 个头")})
    problems = tr.check(nbformat.read(english, as_version=4), tr.load_source(tr.source_path(english)))
    assert [p.kind for p in problems] == ["numbers"] and "'12'" in problems[0].detail and "'16'" in problems[0].detail
    _source(english, {**GOOD, "aaaa0001": GOOD["aaaa0001"].replace("30,522", "30522")})
    assert _kinds(english) == []  # the same number, written without the comma


def test_fails_on_a_number_changed_in_the_english(english):
    _source(english, GOOD)
    nb = nbformat.read(english, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("6 layers", "4 layers")
    nbformat.write(nb, english)
    _source(english, GOOD, hashes={"cccc0003": tr.cell_hash(nb.cells[2].source)})  # re-hashed, text not updated
    assert _kinds(english) == ["numbers"]


def test_fails_on_english_left_in_place(english):
    nb = nbformat.read(english, as_version=4)
    _source(english, {**GOOD, "cccc0003": nb.cells[2].source})
    assert _kinds(english) == ["untranslated"]


def test_fails_on_a_code_cell_that_differs(english):
    _source(english, GOOD)
    out = tr.build(english)
    zh = nbformat.read(out, as_version=4)
    zh.cells[1].source = "print(2 + 3)"
    assert tr.code_differences(nbformat.read(english, as_version=4), zh) == ["code cell bbbb0002 differs from the "
                                                                           "English one"]
    zh.cells = [zh.cells[0], zh.cells[2]]
    assert tr.code_differences(nbformat.read(english, as_version=4), zh)


def test_fails_on_an_orphan_entry(english):
    _source(english, GOOD)
    source = tr.load_source(tr.source_path(english))
    source["cells"]["dddd0004"] = {"en": "0" * 16, "zh": "一段多余的译文。"}
    source["cells"]["bbbb0002"] = {"en": "0" * 16, "zh": "代码不翻译。"}
    tr.dump_source(source, tr.source_path(english))
    assert _kinds(english) == ["orphan", "orphan"]


def test_command_line_status_build_and_stub(english):
    cmd = [sys.executable, "-m", "bert_edu", "translate", "--notebooks", str(english.parent)]
    missing = subprocess.run([*cmd, "status", "01"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no translation source" in missing.stdout
    stub = subprocess.run([*cmd, "stub", "01"], capture_output=True, text=True)
    assert stub.returncode == 0 and "2 entries to translate" in stub.stdout
    listed = subprocess.run([*cmd, "status"], capture_output=True, text=True)
    assert listed.returncode == 1 and listed.stdout.count("missing") == 2
    refused = subprocess.run([*cmd, "build"], capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.startswith("error: the translation of 01_tokens.ipynb")
    _source(english, GOOD)
    built = subprocess.run([*cmd, "build"], capture_output=True, text=True)
    assert built.returncode == 0 and (english.parent / "zh" / "01_tokens.ipynb").is_file(), built.stderr
    ok = subprocess.run([*cmd, "status"], capture_output=True, text=True)
    assert ok.returncode == 0 and "01_tokens.ipynb: OK" in ok.stdout
    unknown = subprocess.run([*cmd, "status", "99"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "no single notebook matches '99'" in unknown.stderr


def test_the_machine_written_time_row_is_not_translated_but_built(tmp_path):
    """`make notebooks` rewrites the header's time row at every run: that must not make the translation stale,
    and the built Chinese header shows the new time; any other change to the header still does."""
    nb = nbformat.v4.new_notebook()
    head = "# 01 · Tokens\n\n| | |\n| --- | --- |\n| **Time** | 12 s on a 2-core CPU; GPU: not measured yet |"
    nb.cells = [nbformat.v4.new_markdown_cell(head, id="aaaa0001")]
    source = {"cells": {"aaaa0001": {"en": tr.cell_hash(head),
                                     "zh": "# 01 · 词元\n\n| | |\n| --- | --- |\n| **用时** | 尚未测量 |"}}}
    nb.cells[0].source = head.replace("12 s", "58 s")
    nb.metadata["bert_edu"] = {"cpu": {"wall_time_s": 58, "cpus": 2}}
    assert tr.check(nb, source) == []
    built = tr.build_notebook(nb, source, "01_tokens.ipynb")
    assert "| **用时** | 2 核 CPU 上 58 秒；GPU：尚未测量" in built.cells[0].source
    nb.cells[0].source = nb.cells[0].source.replace("Tokens", "Words")
    assert [p.kind for p in tr.check(nb, source)] == ["stale"]


def test_fails_on_a_lost_solution_marker(tmp_path):
    """A written answer's markers (<!-- ### BEGIN SOLUTION -->) must survive the translation: the student edition
    and the grader find the answer regions by them."""
    nb = nbformat.v4.new_notebook()
    answer = "**Predict:** why?\n\n<!-- ### BEGIN SOLUTION -->\nBecause the mask is added.\n<!-- ### END SOLUTION -->"
    nb.cells = [nbformat.v4.new_markdown_cell(answer, id="aaaa0001")]
    kept = {"cells": {"aaaa0001": {"en": tr.cell_hash(answer), "zh": "**预测：** 为什么？\n\n<!-- ### BEGIN SOLUTION -->\n"
                                                                   "因为掩码是加上去的。\n<!-- ### END SOLUTION -->"}}}
    assert tr.check(nb, kept) == []
    lost = {"cells": {"aaaa0001": {"en": tr.cell_hash(answer), "zh": "**预测：** 为什么？\n\n因为掩码是加上去的。"}}}
    assert [p.kind for p in tr.check(nb, lost)] == ["markers"]


def test_links_point_at_the_chinese_siblings_and_one_folder_up():
    text = ("![图](figures/x.png) [07](07_pretraining.ipynb#mlm) [术语](../docs/glossary.md#mlm) "
            "[说明](../README.md#quickstart) [代码](../bert_edu/model/bert.py) [外部](https://example.org/a)")
    assert tr._relink(text) == (
        "![图](../figures/x.png) [07](07_pretraining.ipynb#mlm) [术语](../../docs/glossary.zh-CN.md) "
        "[说明](../../README.zh-CN.md) [代码](../../bert_edu/model/bert.py) [外部](https://example.org/a)")


def test_a_rebuild_keeps_the_chinese_run_until_the_code_changes(english):
    """make notebooks executes the Chinese edition (its checkers print Chinese); rebuilding the markdown keeps that
    run's outputs and time, and a change to the English code brings the English outputs back until it runs again."""
    _source(english, GOOD)
    out = tr.build(english)
    zh = nbformat.read(out, as_version=4)
    assert zh.metadata["bert_edu_translation"]["executed"] is False
    zh.cells[1].outputs = [nbformat.v4.new_output("stream", text="中文的运行\n")]
    zh.metadata["bert_edu"] = {"cpu": {"wall_time_s": 7, "cpus": 2}}
    zh.metadata["bert_edu_translation"]["executed"] = True
    nbformat.write(zh, out)
    rebuilt = nbformat.read(tr.build(english), as_version=4)
    assert rebuilt.cells[1].outputs[0]["text"] == "中文的运行\n" and rebuilt.metadata["bert_edu"]["cpu"]["wall_time_s"] == 7
    assert rebuilt.metadata["bert_edu_translation"]["executed"] is True
    nb = nbformat.read(english, as_version=4)
    nb.cells[1].source = "print(2 + 3)"
    nbformat.write(nb, english)
    changed = nbformat.read(tr.build(english), as_version=4)
    assert changed.cells[1].outputs == [] and changed.metadata["bert_edu_translation"]["executed"] is False
    assert changed.cells[1].source == "print(2 + 3)"

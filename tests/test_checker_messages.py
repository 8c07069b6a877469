"""The checkers speak the learner's language (bert_edu/exercises/_messages.py): the catalogues are complete and in
step with the source, every Chinese template keeps the English one's holes, the language is chosen as documented,
and a Chinese learner's verdicts hold no English prose."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import types

import pytest
import yaml

from bert_edu.exercises import _messages as messages
from bert_edu.exercises._messages import CATALOGUE_DIR, extract, gaps, holes, language, say


def _catalogue(name):
    with open(CATALOGUE_DIR / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


@pytest.fixture(scope="module")
def en():
    return _catalogue("en")


@pytest.fixture(scope="module")
def zh():
    return _catalogue("zh")


# ----------------------------------------------------------------------------------------------- the catalogues


def test_en_yaml_is_the_source_s_messages(en):
    source = extract()
    new = [t for t in source if t not in en]
    stale = [t for t in en if t not in source]
    assert not new and not stale, (
        f"en.yaml is out of step with bert_edu/exercises/*.py: new {new[:5]}, gone {stale[:5]}. "
        "Run `python -m bert_edu.exercises._messages extract`, then translate the new zh.yaml entries.")


def test_every_message_has_a_chinese_translation_and_no_orphans(en, zh):
    missing = [t for t in en if not zh.get(t)]
    orphans = [t for t in zh if t not in en]
    assert not missing, f"{len(missing)} templates have no Chinese in zh.yaml, e.g. {missing[:5]}"
    assert not orphans, f"zh.yaml has templates en.yaml does not: {orphans[:5]}"


def test_every_chinese_template_keeps_the_holes(zh):
    wrong = {t: (sorted(holes(t)), sorted(holes(z))) for t, z in zh.items() if z and holes(t) != holes(z)}
    assert not wrong, f"holes differ between English and Chinese: {list(wrong.items())[:5]}"


def test_gaps_lists_what_is_broken(en, zh):
    """The `check` command (and the three tests above) can fail: break one entry of each kind."""
    broken_zh = dict(zh)
    first = next(iter(en))
    broken_zh.pop(first)
    broken_zh["an orphan"] = "孤儿"
    with_holes = next(t for t in en if holes(t) and t != first)
    broken_zh[with_holes] = "没有占位符"
    found = gaps(en=en, zh=broken_zh)
    assert first in found["not translated in zh.yaml"]
    assert "an orphan" in found["in zh.yaml, not in en.yaml (orphans)"]
    assert with_holes in found["holes differ between en and zh"]
    stale_en = {k: v for k, v in en.items() if k != first}
    assert first in gaps(en=stale_en, zh=zh)["in the source, not in en.yaml"]
    assert messages.main(["check"]) == 0


def test_templates_are_extracted_from_the_checkers_source():
    source = '''
def check_x(fn, quiet=False):
    ck = Checker("x", fn, quiet=quiet)
    with ck.case(f"{n} tokens, batch {b}") as case:
        case.expect(ok, f"return a list, got {type(got).__name__}")
        case.expect_close(a, b, what="the logits", mistakes={"divide by sqrt(d_k)": 1, f"use {k} heads": 2})
        raise CaseFailed("your mask " + ("is fine" if ok else "is {broken}"))
    return ck.verdict()
'''
    assert messages.extract_source(source) == [
        "{n} tokens, batch {b}", "return a list, got {type(got).__name__}", "the logits", "divide by sqrt(d_k)",
        "use {k} heads", "your mask {'is fine' if ok else 'is {broken}'}", "is fine"]


# ----------------------------------------------------------------------------------------------- translation


def test_say_translates_whole_messages_and_the_messages_inside(monkeypatch):
    monkeypatch.setenv("BERT_EDU_LANG", "en")
    text = "weights does not match the reference. Likely mistake: the padding mask was not applied"
    assert say(text) == text
    monkeypatch.setenv("BERT_EDU_LANG", "zh")
    out = say(text)
    assert "Likely mistake" not in out and "padding mask" not in out and "不" in out, out
    assert say("check_attention: 3/5 cases passed") == "check_attention：5 个用例通过了 3 个"
    assert say("nothing in the catalogue says this") == "nothing in the catalogue says this"


# ----------------------------------------------------------------------------------------------- language()


@pytest.mark.parametrize("value, expected", [
    ("zh", "zh"), ("zh-CN", "zh"), ("zh_CN", "zh"), ("ZH", "zh"), ("en", "en"), ("en_US", "en")])
def test_language_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("BERT_EDU_LANG", value)
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/notebooks/zh/03_attention.ipynb")
    assert language() == expected


@pytest.mark.parametrize("path, expected", [
    ("/home/me/bert-edu/notebooks/zh/07_pretraining.ipynb", "zh"),
    ("student/zh/03_attention.ipynb", "zh"),
    ("C:\\course\\zh\\03_attention.ipynb", "zh"),
    ("/home/me/bert-edu/notebooks/07_pretraining.ipynb", "en"),
    ("/home/me/zh.ipynb", "en"),
    ("/home/me/notebooks/zhongwen_notes/07.ipynb", "en"),
    ("", "en")])
def test_language_from_the_notebook_path(monkeypatch, path, expected):
    monkeypatch.delenv("BERT_EDU_LANG", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", path)
    assert language() == expected


def test_an_unknown_language_warns_once_and_speaks_english(monkeypatch, capsys):
    monkeypatch.setenv("BERT_EDU_LANG", "klingon")
    monkeypatch.setattr(messages, "_warned", set())
    assert language() == "en"
    assert language() == "en"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "klingon" in err and "zh" in err and "en" in err, err


# ----------------------------------------------------------------------------------------------- a reader's test
# The existing tests of the checkers run their wrong implementations; here they run with BERT_EDU_LANG=zh and the
# verdicts are read: outside `code`, quotes and values, no three English words in a row may be left.

READ_MODULES = ["tokenization", "embeddings", "attention", "encoder", "model", "chinese", "attention_maps",
                "pretraining", "finetune", "ner", "qa", "challenges"]


def _prose(text: str) -> list[str]:
    """Runs of 3+ English words outside backticks, quotes, exception texts and the expected/got values."""
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\b\w+(?:Error|Exception|Warning)\b:?[^\n（）]*", " ", text)  # the learner's own exception
    text = re.sub(r"(期望值|实际值)：.*", " ", text)
    text = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", " ", text)
    word = r"[(\[]?[A-Za-z][a-z]+[)\],.;:!?]?"
    return re.findall(rf"(?<!\S){word}(?:[ ]{word}){{2,}}(?!\S)", text)


def test_the_prose_detector_finds_english():
    assert _prose("the mask was not applied") == ["the mask was not applied"]
    assert not _prose("掩码没有生效：`the mask was` 'not applied at all'")
    assert not _prose("你的代码抛出了 AttributeError: 'x' object has no attribute（第 3 行）")


def _recorded_verdicts(monkeypatch, module_name):
    """Run tests/test_exercises_<module>.py with its two helpers replaced by recorders; return the verdicts."""
    test_module = importlib.import_module(f"test_exercises_{module_name}")
    outputs = []

    def record(check, fn, capsys=None, **kwargs):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            check(fn)
        outputs.append((getattr(check, "__name__", "?"), buffer.getvalue()))

    monkeypatch.setattr(test_module, "assert_checker_fails", record, raising=False)
    monkeypatch.setattr(test_module, "assert_checker_passes", record, raising=False)
    fake_capsys = types.SimpleNamespace(readouterr=lambda: types.SimpleNamespace(out="", err=""))
    for name, test in inspect.getmembers(test_module, inspect.isfunction):
        if not name.startswith("test_") or test.__module__ != test_module.__name__:
            continue
        params = inspect.signature(test).parameters
        if set(params) - {"capsys"}:
            continue
        try:
            test(**({"capsys": fake_capsys} if "capsys" in params else {}))
        except AssertionError:
            pass  # the test's own English asserts: what matters here is what the learner read
    return outputs


def _stub(*args, **kwargs):
    raise NotImplementedError()


def test_not_started_and_broken_exercises_read_in_chinese(monkeypatch):
    import bert_edu.exercises as ex

    monkeypatch.setenv("BERT_EDU_LANG", "zh")
    left = {}
    for name in ex.__all__:
        if not name.startswith("check_"):
            continue
        for fn in (_stub, lambda *a, **k: None):
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                getattr(ex, name)(fn)
            if _prose(buffer.getvalue()):
                left[name] = buffer.getvalue()
    assert not left, f"English prose left in {len(left)} verdicts, e.g. {next(iter(left.items()))}"


@pytest.mark.parametrize("module_name", READ_MODULES)
def test_wrong_implementations_read_in_chinese(monkeypatch, module_name):
    monkeypatch.setenv("BERT_EDU_LANG", "zh")
    outputs = _recorded_verdicts(monkeypatch, module_name)
    assert len(outputs) >= 5
    left = [(check, _prose(out), out) for check, out in outputs if _prose(out)]
    assert not left, "English prose left in a Chinese verdict:\n" + "\n\n".join(
        f"{check}: {runs}\n{out}" for check, runs, out in left[:3])


def test_the_harness_s_own_lines_read_in_chinese(monkeypatch, capsys):
    """Crashes, shapes, extra cases and the reference fallback: the lines every checker shares."""
    import torch

    import bert_edu.exercises._grading  # noqa: F401  (registers the extra cases)
    from bert_edu.exercises import check_gelu, use_or_reference
    from bert_edu.exercises._harness import run_extra_cases

    def stops(x):
        if x.dim() <= 5:  # an `assert` that pytest does not rewrite
            raise AssertionError("too few dims")

    def crashes(x):
        return x[:, :2]

    def two_args(x, y):
        return x

    monkeypatch.setenv("BERT_EDU_LANG", "zh")
    for fn in (stops, crashes, two_args, 3, lambda x: x.transpose(0, -1) if x.dim() > 1 else x):
        check_gelu(fn)
    run_extra_cases("check_gelu", crashes, seed=1, quiet=False)
    use_or_reference(crashes, torch.relu, check_gelu)
    out = capsys.readouterr().out
    for phrase in ("你的代码停在了一个未通过的 `assert`：too few dims", "你的代码抛出了 IndexError",
                   "你的函数无法按练习规定的方式调用", "检查需要的是你的函数本身", "尺寸相同但顺序不同",
                   "check_gelu（附加用例）：", "注意：`crashes` 还没有通过它的检查"):
        assert phrase in out, f"{phrase!r} not in:\n{out}"
    assert not _prose(out), out


def test_progress_and_grade_read_chinese_verdicts(monkeypatch, capsys):
    """A Chinese edition's saved outputs (bert-edu progress) and a Chinese verdict's diagnosis (bert-edu grade)."""
    from bert_edu.course.grade import _diagnosis
    from bert_edu.course.progress import saved_verdicts
    from bert_edu.exercises import check_gelu

    monkeypatch.setenv("BERT_EDU_LANG", "zh")
    check_gelu(_stub)
    check_gelu(lambda x: x)
    check_gelu(lambda x: torch_gelu(x))
    not_started, wrong, right = capsys.readouterr().out.split("check_gelu")[1:]
    cells = [{"cell_type": "code", "outputs": [{"output_type": "stream", "text": "check_gelu" + out}]}
             for out in (not_started, wrong, right)]
    assert [saved_verdicts({"cells": [cell]}) for cell in cells] == [
        {"check_gelu": "open"}, {"check_gelu": "fail"}, {"check_gelu": "pass"}]
    assert _diagnosis("check_gelu" + not_started).startswith("not implemented yet")
    diagnosis = _diagnosis("check_gelu" + wrong)
    assert diagnosis.startswith("[FAIL]") and "还没完成" not in diagnosis, diagnosis


def torch_gelu(x):
    import torch

    return torch.nn.functional.gelu(x)

"""`bert-edu grade` (bert_edu/course/grade.py) on a small class built from notebooks 02, 03 and 07 under the smoke
recipe: the exact table of points, the diagnosis of a classic bug, and bad submissions that never stop the run."""

import csv
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from bert_edu.course import grade
from bert_edu.course.student_edition import make_student_notebook
from bert_edu.exercises import _grading as grading
from bert_edu.exercises._harness import has_extra_cases, run_extra_cases

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
N02, N03, N07 = "02_embeddings.ipynb", "03_attention.ipynb", "07_pretraining.ipynb"


def _solutions(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _student(name):
    return make_student_notebook(_solutions(name), name)[0]


def _cell_index(nb, text):
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and text in c.source)


def _new_cell(source):
    return nbformat.v4.new_code_cell(source)


def _write(folder, name, nb):
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


def build_class(root: Path, outside: Path) -> None:
    """Seven learners; what each should score is in ``expected_table``."""
    for name in (N02, N03, N07):
        _write(root / "all_solutions", name, _solutions(name))
        _write(root / "untouched", name, _student(name))
    bug = _solutions(N03)  # the classic causal-mask bug: the upper triangle lets a token see the future
    i = _cell_index(bug, "def causal_attention_mask")
    assert ".tril()" in bug.cells[i].source
    bug.cells[i].source = bug.cells[i].source.replace(".tril()", ".triu()")
    _write(root / "causal_bug", N03, bug)
    raises = _solutions(N02)
    raises.cells.append(_new_cell("raise ValueError('boom')"))
    nbformat.write(raises, root / "raises.ipynb")  # a file named by the learner: which notebook it is, is read
    loops = _solutions(N03)
    loops.cells.insert(_cell_index(loops, "def causal_attention_mask"),
                       _new_cell("import time\nwhile True:\n    time.sleep(0.5)"))
    _write(root / "never_ends", N03, loops)
    (root / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    (root / "decoy.txt").write_text("the teacher's file", encoding="utf-8")
    writer = _solutions(N02)
    writer.cells.append(_new_cell(f"import os\nopen({str(outside)!r}, 'w').write('x')\n"
                                  f"os.remove({str(root / 'decoy.txt')!r})"))
    _write(root / "writer", N02, writer)


def expected_table(exercises):
    full = {e.label: e.points for e in exercises}
    zero = {e.label: 0 for e in exercises}

    def only(notebook, **changes):
        row = {e.label: (e.points if e.notebook == notebook else 0) for e in exercises}
        row.update(changes)
        return row

    # never_ends loops forever just before the causal-mask cell: the checks above it are graded, the rest not
    nb = _solutions(N03)
    loop_at = _cell_index(nb, "def causal_attention_mask")
    checked_at = {c: i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                  for c, _ in grade.check_calls(grade._parse(cell.source))}
    reached = [e.label for e in exercises if e.notebook == N03 and checked_at[e.check] < loop_at]
    assert 0 < len(reached) < len([e for e in exercises if e.notebook == N03])
    return {
        "all_solutions": full, "untouched": zero, "broken": zero,
        "causal_bug": only(N03, **{"03:causal_mask": 0}),
        "raises": only(N02), "writer": only(N02),
        "never_ends": {e.label: (e.points if e.label in reached else 0) for e in exercises},
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subs, out, outside = root / "submissions", root / "out", root / "outside.txt"
    build_class(subs, outside)
    os.environ["BERT_EDU_SMOKE"] = "1"
    try:
        exercises, grades = grade.grade_class(subs, out, seed=7, timeout={N02: 240, N03: 90, N07: 500},
                                              progress=print)
    finally:
        os.environ.pop("BERT_EDU_SMOKE", None)
    return exercises, grades, out, outside, subs


def test_the_class_gets_exactly_the_expected_table(graded):
    exercises, grades, out, _, _ = graded
    assert [e.notebook for e in exercises].count(N07) >= 3  # the exercises were read from the notebooks
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {r["learner"]: r for r in csv.DictReader(f)}
    header = list(next(iter(rows.values())).keys())
    assert header == ["learner", *[e.column for e in exercises], "total", "reason"]
    expected = expected_table(exercises)
    assert set(rows) == set(expected)
    for learner, scores in expected.items():
        got = {e.label: int(rows[learner][e.column]) for e in exercises}
        assert got == scores, (learner, rows[learner]["reason"])
        assert int(rows[learner]["total"]) == sum(scores.values())
    assert rows["all_solutions"]["reason"] == "" and rows["untouched"]["reason"] == ""


def test_bad_submissions_are_graded_with_their_reason(graded):
    _, grades, out, outside, subs = graded
    reasons = {g.learner: " ".join(g.reasons) for g in grades}
    assert "not a valid notebook" in reasons["broken"]
    assert "raised ValueError: boom" in reasons["raises"]
    assert "stopped at the time limit (90 s)" in reasons["never_ends"]
    assert str(outside) in reasons["writer"] and "decoy.txt" in reasons["writer"]
    assert "not submitted" in reasons["causal_bug"]
    never = {g.learner: g for g in grades}["never_ends"]
    assert never.results["03:causal_mask"]["diagnosis"].startswith("not reached")
    for g in grades:  # one page per learner
        assert (out / "feedback" / f"{grade.safe_name(g.learner)}.html").exists()


def test_a_classic_bug_fails_with_its_diagnosis_in_the_page_and_the_class_report(graded):
    _, grades, out, _, _ = graded
    bug = {g.learner: g for g in grades}["causal_bug"]
    diagnosis = bug.results["03:causal_mask"]["diagnosis"]
    assert "must not see the FUTURE" in diagnosis
    assert "must not see the FUTURE" in (out / "feedback" / "causal_bug.html").read_text(encoding="utf-8")
    report = (out / "class-report.html").read_text(encoding="utf-8")
    assert "1 x a token must not see the FUTURE" in report
    untouched = {g.learner: g for g in grades}["untouched"]
    assert untouched.results["03:attention"]["diagnosis"].startswith("not implemented")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["seed"] == 7 and len(results["learners"]) == 7


def test_the_chinese_edition_is_graded_with_chinese_diagnoses(tmp_path):
    """A learner of the Chinese edition (notebooks/zh/, the same code cells) is graded like an English one, and
    the diagnosis of a wrong answer is in Chinese."""
    zh = nbformat.read(NOTEBOOKS / "zh" / N03, as_version=4)
    assert zh.metadata["language"] == "zh-CN"
    i = _cell_index(zh, "def causal_attention_mask")
    zh.cells[i].source = zh.cells[i].source.replace(".tril()", ".triu()")
    _write(tmp_path / "subs" / "学生", N03, zh)
    assert grade.identify(zh, grade.course_exercises()) == N03
    os.environ["BERT_EDU_SMOKE"] = "1"
    try:
        exercises, grades = grade.grade_class(tmp_path / "subs", tmp_path / "out", seed=7, timeout={N03: 120})
    finally:
        os.environ.pop("BERT_EDU_SMOKE", None)
    (learner,) = grades
    for e in exercises:
        assert learner.scores[e.label] == (0 if e.label == "03:causal_mask" else e.points), (e.label, learner.results)
    diagnosis = learner.results["03:causal_mask"]["diagnosis"]
    assert re.search(r"[\u4e00-\u9fff]", diagnosis) and "[FAIL]" in diagnosis, diagnosis


def test_identify_reads_which_notebook_a_file_is():
    course = grade.course_exercises()
    assert grade.identify(_student(N03), course) == N03
    assert grade.identify({"cells": []}, course) is None


def test_a_stub_and_the_reference_score_zero_the_learners_code_scores():
    from bert_edu.exercises.attention import reference_attention

    def stub(q, k, v, mask=None):
        raise NotImplementedError()

    assert not grade.grade_exercise("check_attention", stub, 0)["passed"]
    assert "reference" in grade.grade_exercise("check_attention", reference_attention, 0)["diagnosis"]

    def mine(q, k, v, mask=None):
        return reference_attention(q, k, v, mask)

    mine.__module__ = "__main__"
    assert grade.grade_exercise("check_attention", mine, 0)["passed"]


def test_extra_cases_catch_what_the_notebook_cases_miss():
    """A function that memorised the notebook's cases passes the checker but not the seeded extra cases."""
    from bert_edu.exercises.attention import check_attention_memory

    def memorised(b, h, t, n):
        return {(32, 12, 512, 4): 32 * 12 * 512 * 512 * 4, (1, 12, 128, 2): 12 * 128 * 128 * 2,
                (8, 16, 1024, 4): 8 * 16 * 1024 * 1024 * 4}.get((b, h, t, n), 0)

    memorised.__module__ = "__main__"
    assert check_attention_memory(memorised, quiet=True)
    result = grade.grade_exercise("check_attention_memory", memorised, seed=3)
    assert not result["passed"] and "extra cases" in result["diagnosis"]
    first = run_extra_cases("check_attention_memory", memorised, 3).results
    assert first == run_extra_cases("check_attention_memory", memorised, 3).results  # same seed, same cases
    assert [r[0] for r in first] != [r[0] for r in run_extra_cases("check_attention_memory", memorised, 4).results]


def test_points_come_from_one_table_with_a_default():
    assert grading.points("check_attention") == grading.POINTS["check_attention"]
    assert grading.points("check_a_new_exercise") == grading.DEFAULT_POINTS
    for notebook, exercises in grade.course_exercises().items():
        for e in exercises:
            assert e.points == grading.points(e.check)
    assert has_extra_cases("check_attention") and not has_extra_cases("check_a_new_exercise")


def test_default_timeout_comes_from_the_recorded_time():
    recorded = json.loads((NOTEBOOKS / N03).read_text())["metadata"]["bert_edu"]
    seconds = (recorded.get("cpu") or recorded)["wall_time_s"]
    assert grade.default_timeout(N03) == int(grade.TIMEOUT_BASE + grade.TIMEOUT_FACTOR * seconds)


def test_command_line_errors_exit_2(tmp_path, capsys):
    assert grade.main([str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "subs").mkdir()
    assert grade.main([str(tmp_path / "subs"), "--out", str(tmp_path / "subs" / "out")]) == 2
    assert grade.main([str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    assert "no learners" in capsys.readouterr().err


def _references():
    """check -> the package's reference for every exercise with extra cases."""
    from bert_edu.exercises.attention import reference_attention, reference_causal_attention_mask
    from bert_edu.exercises.attention_maps import reference_head_entropy, reference_mask_head
    from bert_edu.exercises.embeddings import reference_embedding_parameters, reference_layer_norm
    from bert_edu.exercises.encoder import reference_layer_parameters, reference_pre_ln_sublayer
    from bert_edu.exercises.finetune import reference_initial_loss, reference_lr_factor
    from bert_edu.exercises.model import reference_parameter_count
    from bert_edu.exercises.pretraining import (reference_initial_losses, reference_mask_rule,
                                                reference_masked_lm_loss)
    from bert_edu.model import attention as A, encoder as E
    from bert_edu.model.activations import gelu
    from bert_edu.model.bert import mean_pooling
    from bert_edu.model.embeddings import BertEmbeddings

    return dict(
        check_layer_norm=reference_layer_norm, check_embedding_parameters=reference_embedding_parameters,
        check_bert_embeddings=BertEmbeddings, check_attention=reference_attention, check_split_heads=A.split_heads,
        check_merge_heads=A.merge_heads, check_causal_mask=reference_causal_attention_mask,
        check_attention_memory=lambda b, h, t, n: b * h * t * t * n, check_bert_self_attention=A.BertSelfAttention,
        check_bert_attention=A.BertAttention, check_bert_self_output=A.BertSelfOutput, check_gelu=gelu,
        check_layer_parameters=reference_layer_parameters, check_pre_ln_sublayer=reference_pre_ln_sublayer,
        check_bert_intermediate=E.BertIntermediate, check_bert_output=E.BertOutput, check_bert_layer=E.BertLayer,
        check_bert_encoder=E.BertEncoder, check_parameter_count=reference_parameter_count,
        check_mean_pooling=mean_pooling, check_head_entropy=reference_head_entropy,
        check_mask_head=reference_mask_head, check_initial_losses=reference_initial_losses,
        check_mask_rule=reference_mask_rule, check_masked_lm_loss=reference_masked_lm_loss,
        check_initial_loss=reference_initial_loss, check_lr_factor=reference_lr_factor)


def test_every_extra_case_accepts_the_reference_and_rejects_a_wrong_answer():
    from bert_edu.exercises._harness import _EXTRA_CASES

    refs = _references()
    assert set(_EXTRA_CASES) <= set(refs), "add the reference of a new extra case here"
    for check in _EXTRA_CASES:
        for seed in (0, 1, 2):
            ck = run_extra_cases(check, refs[check], seed)
            assert ck.passed, (check, seed, ck.results)
    assert not run_extra_cases("check_layer_norm", lambda x, g, b, eps: x, 0).passed
    assert not run_extra_cases("check_split_heads", lambda x, n: x.reshape(x.shape[0], n, x.shape[1], -1), 0).passed


def test_points_table_names_only_real_checkers():
    """A typo or a renamed checker in the one points table would silently grade with the default points."""
    from bert_edu import exercises
    unknown = sorted(name for name in grading.POINTS if not hasattr(exercises, name))
    assert not unknown, f"POINTS names checkers that do not exist: {unknown}"

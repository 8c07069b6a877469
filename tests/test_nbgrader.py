"""`bert-edu student --nbgrader` (bert_edu/course/nbgrader.py), tested with nbgrader itself: its metadata validator
accepts every notebook, its generate_assignment gives back the student edition, and its autograde scores notebook
03 exactly as `bert-edu grade` does (same seed, same learner notebook with one classic bug)."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator

from bert_edu.course import grade
from bert_edu.course.nbgrader import nbgrader_notebook
from bert_edu.course.student_edition import ANSWER_PROMPT, main as student_main, make_student_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
N03 = "03_attention.ipynb"
SEED = 5
NBGRADER = [sys.executable, "-m", "nbgrader"]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbgrader") / "source"
    assert student_main([str(out), "--nbgrader", "--seed", str(SEED)]) == 0
    return out


def test_every_notebook_has_valid_nbgrader_metadata(edition):
    validator = MetadataValidator()
    for path in sorted(edition.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        validator.validate_nb(nb)  # raises on a schema or consistency error (duplicate grade_id, missing points)
        metas = [c.metadata["nbgrader"] for c in nb.cells]
        assert all(m["schema_version"] == 3 for m in metas)
        tests = [m for m in metas if m["grade"] and not m["solution"]]
        exercises = grade.discover_exercises(nbformat.read(NOTEBOOKS / path.name, as_version=4), path.name)
        assert sum(m["points"] for m in tests) == sum(e.points for e in exercises), path.name


def test_solution_regions_keep_their_markers_around_the_stub():
    nb = nbformat.read(NOTEBOOKS / N03, as_version=4)
    student = make_student_notebook(nb, N03)[0]
    graded = nbgrader_notebook(student, nb, N03, seed=SEED)
    cell = next(c for c in graded.cells if "def causal_attention_mask" in c.source)
    assert cell.metadata["nbgrader"]["solution"]
    assert "### BEGIN SOLUTION\n    # YOUR CODE HERE\n    raise NotImplementedError()\n    ### END SOLUTION" in cell.source
    assert "torch.ones" not in cell.source  # the solution itself is gone


def _course(tmp: Path, edition: Path) -> Path:
    course = tmp / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(edition / N03, course / "source" / "ps1" / N03)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'bert-edu'\n"
        f"c.ClearSolutions.text_stub = {ANSWER_PROMPT!r}\n"
        "c.Execute.timeout = 600\n", encoding="utf-8")
    return course


def _nbgrader(course: Path, *args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", BERT_EDU_NOTEBOOKS=str(course),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))  # alembic
    proc = subprocess.run([*NBGRADER, *args], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _learner_notebook(release: Path) -> nbformat.NotebookNode:
    """The release with every solution written in (from the course's notebook), with the classic causal-mask bug."""
    nb = nbformat.read(release, as_version=4)
    solutions = {c.get("id"): c.source for c in nbformat.read(NOTEBOOKS / N03, as_version=4).cells}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = solutions[cell.get("id")]
            if "def causal_attention_mask" in cell.source:
                cell.source = cell.source.replace(".tril()", ".triu()")
    return nb


def test_nbgrader_autograde_scores_as_bert_edu_grade(edition, tmp_path):
    course = _course(tmp_path, edition)
    _nbgrader(course, "generate_assignment", "ps1", "--force")
    release = course / "release" / "ps1" / N03
    student = make_student_notebook(nbformat.read(NOTEBOOKS / N03, as_version=4), N03)[0]
    released = nbformat.read(release, as_version=4)
    code = [c.source for c in released.cells if c.cell_type == "code"]
    assert code == [c.source for c in student.cells if c.cell_type == "code"]  # the release is the student edition
    assert not any("HIDDEN TESTS" in s or "SOLUTION" in s for s in code)

    learner = _learner_notebook(release)
    (course / "submitted" / "alice" / "ps1").mkdir(parents=True)
    nbformat.write(learner, course / "submitted" / "alice" / "ps1" / N03)
    _nbgrader(course, "autograde", "ps1", "--create", "--force")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(N03.removesuffix(".ipynb"), "ps1", "alice")
        nbgrader_scores = {g.name: g.auto_score for g in nb.grades if g.name.startswith("test-")}

    subs = tmp_path / "class" / "alice"
    subs.mkdir(parents=True)
    nbformat.write(learner, subs / N03)
    exercises, grades = grade.grade_class(subs.parent, tmp_path / "out", seed=SEED, timeout=600, progress=print)
    ours = grades[0].scores
    expected = {}
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            calls = grade.check_calls(grade._parse(cell.source))
            expected[meta["grade_id"]] = sum(ours[e.label] for e in exercises if (e.check, e.target) in calls)
    assert nbgrader_scores == pytest.approx(expected)
    assert ours["03:causal_mask"] == 0 and sum(ours.values()) > 0  # the bug costs exactly its exercise
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        assert int(next(csv.DictReader(f))["total"]) == sum(nbgrader_scores.values())

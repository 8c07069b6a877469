"""nbgrader's cell metadata for the student edition of the notebooks (``bert-edu student OUT_DIR --nbgrader
[--seed N]``), so a teacher on a JupyterHub can use nbgrader's own ``generate_assignment`` / ``autograde``
(docs/teaching.md).

With ``--nbgrader``, OUT_DIR is an nbgrader **source** folder for one assignment, not a folder to hand out:

* a cell holding a solution region is an *autograded answer* (``solution``); its regions keep their
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers around the stub (``# YOUR CODE HERE`` +
  ``raise NotImplementedError()``, nbgrader's own stub), so ``generate_assignment`` gives the same release;
* a markdown answer region is a *manually graded answer* (``solution`` + ``grade``, ``WRITTEN_POINTS``);
* a cell calling ``check_<name>(fn)`` on an exercise is an *autograder test* (``grade``, locked) worth the points of
  its exercises (``bert_edu.exercises._grading``); a hidden test (``### BEGIN HIDDEN TESTS``, removed from the
  release by nbgrader) ends it with ``grade.hidden_score(...)``: the checker again plus the extra cases drawn from
  the seed, returning the points earned, which nbgrader reads as partial credit. So nbgrader's autograde scores
  each exercise as ``bert-edu grade --seed N`` does;
* every other cell is read-only (``locked``).

Each ``grade_id`` is built from the cell's id, so it is stable across re-generations.
"""

from __future__ import annotations

import re

from bert_edu.course.grade import _parse, _source, check_calls, discover_exercises

SCHEMA_VERSION = 3
WRITTEN_POINTS = 1  # a written answer (markdown region), graded by hand with the rubrics of docs/teaching.md
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
_CODE_MARKER = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION[ \t]*$")
_MARKDOWN_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)(?:<!--[ \t]*)?### (?P<kind>BEGIN|END) SOLUTION(?:[ \t]*-->)?[ \t]*$")


def stub_regions(source: str, *, markdown: bool, answer_prompt: str) -> tuple[str, int]:
    """Each solution region's content replaced by the stub, the marker lines kept; (new source, regions)."""
    marker = _MARKDOWN_MARKER if markdown else _CODE_MARKER
    out, inside, regions = [], False, 0
    for line in source.splitlines():
        m = marker.match(line)
        if m and m["kind"] == "BEGIN":
            inside, regions = True, regions + 1
            out.append(line)
            stub = answer_prompt if markdown else CODE_STUB
            out += [m["indent"] + s for s in stub.splitlines()]
        elif m and m["kind"] == "END":
            inside = False
            out.append(line)
        elif not inside:
            out.append(line)
    return "\n".join(out) + ("\n" if source.endswith("\n") and out else ""), regions


def _meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = dict(schema_version=SCHEMA_VERSION, grade=grade, solution=solution, locked=locked, task=False,
                grade_id=re.sub(r"[^A-Za-z0-9_-]", "-", grade_id))
    if grade:
        meta["points"] = points
    return meta


def hidden_tests(items: list[tuple[str, str, float]], seed: int) -> str:
    return ("### BEGIN HIDDEN TESTS\nimport bert_edu.course.grade as _bert_edu_grade\n"
            f"_bert_edu_grade.hidden_score({items!r}, globals(), {int(seed)})\n### END HIDDEN TESTS")


def nbgrader_notebook(student_nb, source_nb, name: str, *, seed: int = 0, answer_prompt: str = "YOUR ANSWER HERE"):
    """The student edition ``student_nb`` (cell for cell the same as ``source_nb``, the notebook with solutions)
    with nbgrader's metadata, marker lines and hidden tests. ``student_nb`` is changed and returned."""
    exercises = {(e.check, e.target): e for e in discover_exercises(source_nb, name)}
    if len(student_nb.cells) != len(source_nb.cells):
        raise ValueError(f"{name}: the student edition and the source have different cells; regenerate both")
    for cell, src in zip(student_nb.cells, source_nb.cells):
        cell_id = cell.get("id") or src.get("id") or str(id(cell))
        if cell.cell_type == "markdown":
            new, regions = stub_regions(_source(src), markdown=True, answer_prompt=answer_prompt)
            if regions:
                cell.source = new
                cell.metadata["nbgrader"] = _meta(f"answer-{cell_id}", grade=True, solution=True,
                                                  points=WRITTEN_POINTS * regions)
            else:
                cell.metadata["nbgrader"] = _meta(f"text-{cell_id}", locked=True)
            continue
        if cell.cell_type != "code":
            continue
        new, regions = stub_regions(_source(src), markdown=False, answer_prompt=answer_prompt)
        if regions:
            cell.source = new
            cell.metadata["nbgrader"] = _meta(f"answer-{cell_id}", solution=True)
            continue
        graded = [exercises[c] for c in check_calls(_parse(_source(cell))) if c in exercises]
        if graded:
            items = [(e.check, e.target, e.points) for e in graded]
            cell.source = _source(cell).rstrip("\n") + "\n" + hidden_tests(items, seed)
            cell.metadata["nbgrader"] = _meta("test-" + "-".join(e.check.removeprefix("check_") for e in graded),
                                              grade=True, locked=True, points=sum(e.points for e in graded))
        else:
            cell.metadata["nbgrader"] = _meta(f"code-{cell_id}", locked=True)
    return student_nb


def add_nbgrader_metadata(out_dir, notebooks_dir=None, *, seed: int = 0, answer_prompt: str = "YOUR ANSWER HERE"):
    """Rewrite the student notebooks just written to ``out_dir`` as nbgrader source notebooks; returns their names."""
    from pathlib import Path

    import nbformat

    from bert_edu.course.grade import course_notebooks_dir

    src = Path(notebooks_dir) if notebooks_dir else course_notebooks_dir()
    done = []
    for path in sorted(Path(out_dir).glob("[0-9][0-9]_*.ipynb")):
        source = src / path.name
        if not source.exists():
            continue
        nb = nbgrader_notebook(nbformat.read(path, as_version=4), nbformat.read(source, as_version=4), path.name,
                               seed=seed, answer_prompt=answer_prompt)
        nbformat.write(nb, path)
        done.append(path.name)
    return done

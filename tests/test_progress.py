"""`bert-edu progress` (bert_edu/course/progress.py): which exercises pass and which are open, read from the saved
notebooks, without running their computing cells."""

import json
from pathlib import Path

import nbformat

from bert_edu.course import progress
from bert_edu.course.student_edition import make_student_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
N02, N03 = "02_embeddings.ipynb", "03_attention.ipynb"


def _solutions(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _index(nb, text):
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and text in c.source)


def _statuses(folder):
    return {name: {r["exercise"]: r for r in rows} for name, rows in progress.progress(folder).items()}


def test_solutions_pass_stubs_are_open_a_bug_fails_with_its_problem(tmp_path):
    nbformat.write(_solutions(N02), tmp_path / N02)
    bug = _solutions(N03)
    i = _index(bug, "def causal_attention_mask")
    bug.cells[i].source = bug.cells[i].source.replace(".tril()", ".triu()")
    nbformat.write(bug, tmp_path / N03)
    got = _statuses(tmp_path)
    assert all(r["status"] == "pass" and r["source"] == "re-checked now" for r in got[N02].values())
    causal = got[N03]["03:causal_mask"]
    assert causal["status"] == "fail" and causal["source"] == "re-checked now"
    assert all(r["status"] == "pass" for label, r in got[N03].items() if label != "03:causal_mask")

    student = tmp_path / "student"
    student.mkdir()
    nbformat.write(make_student_notebook(_solutions(N03), N03)[0], student / N03)
    assert {r["status"] for r in _statuses(student)[N03].values()} == {"open"}


def test_computing_cells_are_not_run_and_saved_outputs_fill_in(tmp_path):
    nb = _solutions(N02)
    marker = tmp_path / "ran.txt"
    nb.cells.insert(1, nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('training ran')\nFACTOR = 1"))
    i = _index(nb, "def embedding_parameters")
    body = nb.cells[i].source
    nb.cells[i].source = body.replace("def embedding_parameters(", "def _embedding_parameters(") + (
        "\n\ndef embedding_parameters(*sizes):\n    return FACTOR * _embedding_parameters(*sizes)\n")
    nbformat.write(nb, tmp_path / N02)
    got = _statuses(tmp_path)[N02]["02:embedding_parameters"]
    assert not marker.exists()  # the computing cell did not run
    assert got["source"] == "saved output of the last run" and got["status"] == "pass"  # the committed output says so
    for cell in nb.cells:  # without a saved output it is "not run"
        cell["outputs"] = [] if cell.cell_type == "code" else None
        if cell.cell_type != "code":
            cell.pop("outputs")
    nbformat.write(nb, tmp_path / N02)
    assert _statuses(tmp_path)[N02]["02:embedding_parameters"]["status"] == "not run"


def test_saved_verdicts_read_the_check_lines():
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "check_a: 3/3 cases passed\n  [OK] x\n"},
        {"output_type": "stream", "name": "stdout", "text": ["check_b: 1/2 cases passed\n"]},
        {"output_type": "stream", "name": "stdout", "text": "check_c: not implemented yet (2 cases waiting)\n"}]}]}
    assert progress.saved_verdicts(nb) == {"check_a": "pass", "check_b": "fail", "check_c": "open"}


def test_command_line(tmp_path, capsys, monkeypatch):
    nbformat.write(_solutions(N02), tmp_path / N02)
    assert progress.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "02_embeddings.ipynb: 3/3 exercises pass" in out and "[pass] 02:layer_norm" in out
    assert progress.main([str(tmp_path), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)[N02]) == 3
    monkeypatch.chdir(tmp_path.parent)
    assert progress.main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert progress.main([str(empty)]) == 2

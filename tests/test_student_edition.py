"""``python -m bert_edu.student_edition``: solutions out, prompts in, and the student notebooks still run.

The unit tests use small synthetic notebooks. ``test_student_edition_of_course_notebook`` generates the
student edition of every course notebook and executes it with the smoke recipe (``BERT_EDU_SMOKE=1``): exactly
the tagged cells raise (NotImplementedError), the checkers say "not implemented yet", ``use_or_reference`` falls
back with its note, everything else runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from bert_edu.course import SMOKE_ENV
from bert_edu.course import student_edition as se

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def student(*cells, name="t.ipynb"):
    return se.make_student_notebook(new_notebook(cells=list(cells)), name)


def tags(cell):
    return cell.metadata.get("tags", [])


# --- replacing the regions ----------------------------------------------------------------------------

def test_region_in_a_function_keeps_the_begin_lines_indentation():
    src = ("def f(x):\n"
           "    \"\"\"Add one.\"\"\"\n"
           "    ### BEGIN SOLUTION\n"
           "    y = x + 1\n"
           "    ### END SOLUTION\n"
           "    return y")
    nb, report = student(new_code_cell(src))
    assert nb.cells[0].source == ("def f(x):\n"
                                  "    \"\"\"Add one.\"\"\"\n"
                                  "    # YOUR CODE HERE\n"
                                  "    raise NotImplementedError()\n"
                                  "    return y")
    assert report.code_regions == 1 and report.exercise_functions == ["f"]


def test_nested_indentation_and_several_regions_per_cell():
    src = ("class Layer:\n"
           "    def forward(self, x):\n"
           "        for _ in range(2):\n"
           "            ### BEGIN SOLUTION\n"
           "            x = x * 2\n"
           "            x = x - 1\n"
           "            ### END SOLUTION\n"
           "        return x\n"
           "\n"
           "def g(x):\n"
           "\t### BEGIN SOLUTION\n"
           "\treturn -x\n"
           "\t### END SOLUTION\n")
    nb, report = student(new_code_cell(src))
    out = nb.cells[0].source
    assert "            # YOUR CODE HERE\n            raise NotImplementedError()\n        return x\n" in out
    assert "def g(x):\n\t# YOUR CODE HERE\n\traise NotImplementedError()\n" in out
    assert "x * 2" not in out and "-x" not in out and "SOLUTION" not in out
    assert report.code_regions == 2
    assert sorted(report.exercise_functions) == ["Layer", "g"]
    assert tags(nb.cells[0]) == []  # defining them raises nothing


def test_markdown_region_becomes_an_answer_prompt():
    md = ("**Predict** the number of parameters before running the next cell.\n\n"
          "<!-- ### BEGIN SOLUTION -->\n"
          "4 x (384 x 384 + 384) = 591,360\n"
          "<!-- ### END SOLUTION -->\n"
          "- a list item:\n"
          "  ### BEGIN SOLUTION\n"
          "  the answer\n"
          "  ### END SOLUTION")
    nb, report = student(new_markdown_cell(md))
    out = nb.cells[0].source
    assert "591,360" not in out and "the answer" not in out and "SOLUTION" not in out
    assert out.count("Your answer here") == 2
    assert "\n  **Your answer here:**" in out  # the list item's indentation is kept
    assert report.answer_regions == 2 and report.code_regions == 0


def test_cells_without_regions_are_unchanged_and_the_source_is_not_modified():
    source_nb = new_notebook(cells=[new_code_cell("x = 1\n"), new_code_cell("def f():\n    ### BEGIN SOLUTION\n"
                                                                            "    return 1\n    ### END SOLUTION")])
    nb, _ = se.make_student_notebook(source_nb, "t.ipynb")
    assert nb.cells[0].source == "x = 1\n"
    assert "return 1" in source_nb.cells[1].source  # a copy was changed, not the input


def test_outputs_execution_counts_and_run_metadata_are_cleared():
    cell = new_code_cell("print('the answer is 42')", execution_count=7,
                         outputs=[new_output("stream", name="stdout", text="the answer is 42\n")],
                         metadata={"execution": {"iopub.status.busy": "2026-01-01"}, "tags": ["keep-me"]})
    nb = new_notebook(cells=[cell], metadata={"widgets": {"state": {}}})
    out, _ = se.make_student_notebook(nb, "t.ipynb")
    c = out.cells[0]
    assert c.outputs == [] and c.execution_count is None and "execution" not in c.metadata
    assert tags(c) == ["keep-me"]
    assert "widgets" not in out.metadata


@pytest.mark.parametrize("src, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "'### BEGIN SOLUTION' on line 2 has no '### END SOLUTION'"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "line 3 has '### END SOLUTION' without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\nx = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION",
     "line 3 opens a new '### BEGIN SOLUTION' but the one on line 1 is not closed yet"),
])
def test_unbalanced_markers_name_the_notebook_and_the_cell(src, message):
    cells = [new_markdown_cell("# Title"), new_code_cell("x = 1"), new_code_cell(src)]
    with pytest.raises(se.SolutionMarkerError) as err:
        student(*cells, name="03_attention.ipynb")
    assert "03_attention.ipynb, cell 2 (code)" in str(err.value)
    assert message in str(err.value)


def test_unbalanced_markers_in_markdown_are_errors_too():
    with pytest.raises(se.SolutionMarkerError, match=r"t.ipynb, cell 0 \(markdown\).*no '### END SOLUTION'"):
        student(new_markdown_cell("<!-- ### BEGIN SOLUTION -->\n42"))


def test_a_region_that_splits_a_statement_is_reported():
    src = "x = [\n    ### BEGIN SOLUTION\n    1, 2,\n    ### END SOLUTION\n]"
    with pytest.raises(se.SolutionMarkerError, match="must hold whole statements"):
        student(new_code_cell(src))


# --- which cells raise: the tagging rule ----------------------------------------------------------------

EXERCISE = ("def my_gelu(x):\n"
            "    ### BEGIN SOLUTION\n"
            "    return x\n"
            "    ### END SOLUTION")


def raising(*sources):
    nb, report = student(*(new_code_cell(s) for s in sources))
    assert report.raising_cells == [i for i, c in enumerate(nb.cells) if se.RAISES_TAG in tags(c)]
    return report.raising_cells


def test_top_level_region_raises():
    assert raising("import math", "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\nprint(answer)") == [1]
    assert raising("for i in range(3):\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION") == [0]


def test_defining_and_checking_an_exercise_does_not_raise():
    assert raising(EXERCISE, "check_gelu(my_gelu)", "gelu = use_or_reference(my_gelu, ref_gelu, check_gelu)",
                   "ok = check_gelu(lambda x: my_gelu(x))", "fns = [my_gelu]", "help(my_gelu)") == []


def test_calling_an_exercise_at_top_level_raises():
    assert raising(EXERCISE, "y = my_gelu(1.0)", "print([my_gelu(v) for v in range(3)])",
                   "with open('f') as f:\n    z = my_gelu(2.0)") == [1, 2, 3]
    assert raising(EXERCISE + "\n\nmy_gelu(0.5)") == [0]  # a demo call in the exercise cell itself


def test_rebinding_through_use_or_reference_makes_calls_safe():
    assert raising(EXERCISE, "my_gelu = use_or_reference(my_gelu, ref_gelu, check_gelu)", "my_gelu(1.0)") == []
    assert raising(EXERCISE, "def my_gelu(x):\n    return x", "my_gelu(1.0)") == []


def test_functions_and_aliases_that_call_an_exercise_raise_when_called():
    assert raising(EXERCISE, "def block(x):\n    return 2 * my_gelu(x)", "block(1.0)") == [2]
    assert raising(EXERCISE, "act = my_gelu", "act(1.0)") == [2]
    assert raising(EXERCISE, "@decorate(my_gelu(0))\ndef h():\n    pass") == [1]


def test_classes_raise_when_constructed_only_if_init_is_the_exercise():
    init = ("class Head:\n    def __init__(self, n):\n        ### BEGIN SOLUTION\n        self.n = n\n"
            "        ### END SOLUTION")
    forward = ("class Head:\n    def forward(self, x):\n        ### BEGIN SOLUTION\n        return x\n"
               "        ### END SOLUTION")
    assert raising(init, "head = Head(3)") == [1]
    assert raising(forward, "head = Head(3)") == []


def test_code_after_the_first_raising_statement_is_not_analysed():
    # The cell stops at `answer = ...`; the def below it never runs, so it cannot make later cells raise.
    assert raising("### BEGIN SOLUTION\nanswer = 1\n### END SOLUTION\n" + EXERCISE, "my_gelu(1)") == [0]


def test_magics_and_existing_tags_are_kept():
    nb, report = student(new_code_cell("%matplotlib inline\n" + EXERCISE),
                         new_code_cell("!echo hi\nmy_gelu(1)"),
                         new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}))
    assert report.raising_cells == [1]
    assert tags(nb.cells[1]) == ["raises-exception"] and tags(nb.cells[2]) == ["raises-exception"]


# --- writing the student edition ------------------------------------------------------------------------

def make_course(folder: Path) -> Path:
    """A two-notebook course with an exercise, a check, a fallback, a prediction and an image."""
    folder.mkdir(parents=True)
    checker = ("from bert_edu.exercises import Checker, use_or_reference\n"
               "def check_double(fn, quiet=False):\n"
               "    ck = Checker('double', fn, quiet=quiet)\n"
               "    with ck.case('2 -> 4') as case:\n"
               "        case.expect_equal(fn(2), 4, mistakes={'you added instead of multiplying': 4.5})\n"
               "    return ck.verdict()\n"
               "def reference_double(x):\n"
               "    return 2 * x")
    nb = new_notebook(cells=[
        new_markdown_cell("# Doubling"),
        new_code_cell(checker),
        new_code_cell("def my_double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      execution_count=2),
        new_code_cell("check_double(my_double)"),
        new_code_cell("double = use_or_reference(my_double, reference_double, check_double)\nprint(double(21))"),
        new_markdown_cell("Predict `double(0.5)`:\n\n<!-- ### BEGIN SOLUTION -->\n1.0\n<!-- ### END SOLUTION -->"),
        new_code_cell("### BEGIN SOLUTION\nguess = 1.0\n### END SOLUTION\nprint(guess == double(0.5))"),
        new_code_cell("print('the rest of the notebook runs')"),
    ])
    nbformat.write(nb, folder / "01_double.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("print('setup')")]), folder / "00_setup.ipynb")
    (folder / "figures").mkdir()
    (folder / "figures" / "bert.png").write_bytes(b"\x89PNG fake")
    (folder / "solutions.py").write_text("def my_double(x):\n    return 2 * x\n")
    (folder / "scratch.ipynb").write_text("{}")  # not a course notebook (no NN_ prefix)
    return folder


def test_writes_notebooks_images_and_readme_and_nothing_else(tmp_path):
    src = make_course(tmp_path / "notebooks")
    out = tmp_path / "student"
    reports = se.write_student_edition(out, src)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["00_setup.ipynb", "01_double.ipynb", "README.md", "figures/bert.png"]
    nb = nbformat.read(out / "01_double.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "2 * x\n    ###" not in text and "guess = 1.0" not in text and "SOLUTION" not in text
    assert [r.name for r in reports] == ["00_setup.ipynb", "01_double.ipynb"]
    assert reports[1].exercise_functions == ["my_double"] and reports[1].answer_regions == 1
    assert reports[1].raising_cells == [6]
    readme = (out / "README.md").read_text()
    assert "| `01_double.ipynb` | `my_double` | 1 |" in readme
    for topic in ("# YOUR CODE HERE", "check_<name>", "use_or_reference", "does not pass its check yet",
                  "jupyter lab"):
        assert topic in readme


def test_refuses_to_overwrite_the_source_or_a_learners_work(tmp_path):
    src = make_course(tmp_path / "course" / "notebooks")
    for bad in (src, src / "student", tmp_path / "course"):
        with pytest.raises(ValueError, match="refusing to write the student edition"):
            se.write_student_edition(bad, src, force=True)
    out = tmp_path / "student"
    out.mkdir()
    (out / "01_double.ipynb").write_text("my work")
    with pytest.raises(FileExistsError, match="not empty .* pass --force"):
        se.write_student_edition(out, src)
    assert (out / "01_double.ipynb").read_text() == "my work"
    (out / "notes.txt").write_text("keep")
    se.write_student_edition(out, src, force=True)
    assert (out / "01_double.ipynb").read_text() != "my work"
    assert (out / "notes.txt").read_text() == "keep"  # --force overwrites only what it writes


def test_a_marker_error_writes_nothing(tmp_path):
    src = make_course(tmp_path / "notebooks")
    nbformat.write(new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1")]), src / "02_broken.ipynb")
    out = tmp_path / "student"
    with pytest.raises(se.SolutionMarkerError, match="02_broken.ipynb, cell 0"):
        se.write_student_edition(out, src)
    assert not out.exists()


def test_command_line(tmp_path, capsys):
    src = make_course(tmp_path / "notebooks")
    assert se.main([str(tmp_path / "student"), "--notebooks", str(src)]) == 0
    out = capsys.readouterr().out
    assert "01_double.ipynb: 2 code region(s), 1 written answer(s), 1 cell(s) tagged raises-exception" in out
    assert se.main([str(tmp_path / "student"), "--notebooks", str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not empty" in err and "--force" in err
    assert se.main([str(tmp_path / "s2"), "--notebooks", str(tmp_path / "nowhere")]) == 2
    assert "no notebooks folder" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path):
    src = make_course(tmp_path / "notebooks")
    result = subprocess.run([sys.executable, "-m", "bert_edu.student_edition", str(tmp_path / "out"),
                             "--notebooks", str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "wrote 2 student notebook(s)" in result.stdout


# --- nbval accepts the tagged cells (what `make test` runs) -------------------------------------------

def run_nbval(path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", "--rootdir", str(path.parent), str(path)],
                          capture_output=True, text=True, cwd=path.parent, env=env, timeout=600)


def test_nbval_runs_the_student_edition_and_only_the_tag_excuses_an_error(tmp_path):
    src = make_course(tmp_path / "notebooks")
    out = tmp_path / "student"
    se.write_student_edition(out, src)
    nb = nbformat.read(out / "01_double.ipynb", as_version=4)
    # nbval 0.11 also accepts a tagged cell that does NOT raise: the tag only excuses an error. That is why
    # test_student_edition_of_course_notebook checks the other direction itself (every cell the tool tags does raise).
    nb.cells.append(new_code_cell("print('no error here')", metadata={"tags": [se.RAISES_TAG]}))
    nbformat.write(nb, out / "01_double.ipynb")
    result = run_nbval(out / "01_double.ipynb")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed" in result.stdout  # one test per code cell, the tagged ones included

    nb = nbformat.read(out / "01_double.ipynb", as_version=4)
    nb.cells[6].metadata["tags"] = []  # without the tag, the exercise cell fails the run
    nbformat.write(nb, out / "01_double.ipynb")
    result = run_nbval(out / "01_double.ipynb")
    assert result.returncode != 0 and "NotImplementedError" in result.stdout


# --- the smoke recipe -------------------------------------------------------------------------------------

def test_pick_recipe_reads_the_smoke_variable(monkeypatch, tmp_path):
    from bert_edu.course import pick_recipe
    from bert_edu.data import assets

    monkeypatch.setenv("BERT_EDU_CACHE", str(tmp_path))
    monkeypatch.delenv(SMOKE_ENV, raising=False)
    assert pick_recipe(real={"steps": 700}, smoke={"steps": 12}) == {"steps": 700}
    assert assets.checkpoint_dir("pretrain-course") == tmp_path / "checkpoints" / "pretrain-course"
    for off in ("0", "", "no"):
        monkeypatch.setenv(SMOKE_ENV, off)
        assert pick_recipe(real=1, smoke=2) == 1
    monkeypatch.setenv(SMOKE_ENV, "1")
    assert pick_recipe(real={"steps": 700}, smoke={"steps": 12}) == {"steps": 12}
    # a quick run never replaces a checkpoint that a real run trained
    assert assets.checkpoint_dir("pretrain-course") == tmp_path / "checkpoints-smoke" / "pretrain-course"


SLOW_S = 30  # a notebook whose recorded CPU time is longer must have a smoke recipe


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_slow_notebook_reads_its_sizes_through_pick_recipe(path):
    nb = nbformat.read(path, as_version=4)
    seconds = nb.metadata.get("bert_edu", {}).get("cpu", {}).get("wall_time_s", 0)
    calls = sum(c.source.count("pick_recipe(") for c in nb.cells if c.cell_type == "code")
    if seconds > SLOW_S:
        assert calls, f"{path.name} takes {seconds} s on a CPU but has no pick_recipe(real=..., smoke=...) " \
                      "(CONTRIBUTING, 'The smoke recipe')"


# --- the real course ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "student"
    reports = se.write_student_edition(out, ROOT / "notebooks")
    return out, {r.name: r for r in reports}


ZH_NOTEBOOKS = sorted((ROOT / "notebooks" / "zh").glob("[0-9]*.ipynb"))
# what the checkers and use_or_reference print, per language (bert_edu/exercises/catalogues/zh.yaml)
SAYS = {"en": {"not_implemented": "not implemented yet", "fallback": "does not pass its check yet"},
        "zh": {"not_implemented": "尚未实现", "fallback": "还没有通过它的检查"}}


@pytest.fixture(scope="module")
def student_dir_zh(student_dir):
    """The Chinese edition's exercise edition in student/zh/, beside the English one (as `bert-edu course --lang
    zh` writes it); its notebooks run in student/zh/ (chapter("05") reads the learner's Chinese notebooks)."""
    out, _ = student_dir
    reports = se.write_student_edition(out / "zh", ROOT / "notebooks" / "zh")
    return out, {r.name: r for r in reports}


def test_course_notebooks_exist():
    assert NOTEBOOKS, "no notebooks/NN_name.ipynb found"


def cell_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            parts.append(o.get("data", {}).get("text/plain", ""))
        elif o.output_type == "error":
            parts.append("\n".join(o.traceback))
    return "".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_edition_of_course_notebook(path, student_dir, capsys, monkeypatch):
    """Run with the smoke recipe (BERT_EDU_SMOKE=1: few sentences and steps, the same code paths): what this test
    checks (which cells raise, what the checkers and use_or_reference say) does not depend on training length.
    The solution notebooks keep the real recipe under nbval."""
    _run_student_notebook(path, student_dir, capsys, monkeypatch, "en")


@pytest.mark.parametrize("path", ZH_NOTEBOOKS, ids=[f"zh-{p.name}" for p in ZH_NOTEBOOKS])
def test_student_edition_of_chinese_course_notebook(path, student_dir_zh, capsys, monkeypatch):
    """The Chinese edition's exercise edition, run as the English one is, in Chinese (BERT_EDU_LANG=zh): the same
    cells raise, and the checkers and use_or_reference say so in Chinese, with no English verdict left."""
    _run_student_notebook(path, student_dir_zh, capsys, monkeypatch, "zh")


def test_every_english_notebook_has_a_chinese_exercise_edition():
    assert [p.name for p in ZH_NOTEBOOKS] == [p.name for p in NOTEBOOKS]


TIMES = ROOT / "test-artifacts" / "student_smoke_times.json"  # a CI artefact; README's column is its committed copy


def record_time(lang: str, name: str, seconds: float, path: Path = TIMES) -> None:
    """Add one student-edition run time to the record (written atomically after every notebook), with the machine
    it ran on: benchmarks/results/student_smoke_times.json is this file from a clean-clone CI run."""
    import json
    import os
    import platform

    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault("seconds", {}).setdefault(lang, {})[name] = round(seconds, 1)
    data.update(recipe="BERT_EDU_SMOKE=1", cpus=os.cpu_count(), machine=platform.machine())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def test_run_times_are_recorded_per_language_and_notebook(tmp_path):
    record_time("en", "02_x.ipynb", 6.04, tmp_path / "t.json")
    record_time("zh", "02_x.ipynb", 5.96, tmp_path / "t.json")
    record_time("en", "03_y.ipynb", 8.0, tmp_path / "t.json")
    import json

    data = json.loads((tmp_path / "t.json").read_text())
    assert data["seconds"] == {"en": {"02_x.ipynb": 6.0, "03_y.ipynb": 8.0}, "zh": {"02_x.ipynb": 6.0}}
    assert data["recipe"] == "BERT_EDU_SMOKE=1" and data["cpus"] >= 1


def _run_student_notebook(path, student, capsys, monkeypatch, lang):
    from nbclient import NotebookClient

    monkeypatch.setenv(SMOKE_ENV, "1")  # the kernel inherits it; checkpoints go to checkpoints-smoke/
    monkeypatch.setenv("BERT_EDU_LANG", lang)

    out, reports = student
    report = reports[path.name]
    nb = nbformat.read((out / "zh" if lang == "zh" else out) / path.name, as_version=4)
    assert se.notebook_language(nb) == lang
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    marker_lines = [line for c in nb.cells for line in c.source.splitlines()
                    if se._CODE_MARKER.match(line) or se._MARKDOWN_MARKER.match(line)]
    assert marker_lines == [], "solution markers left in the student edition"

    start = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(out / "zh" if lang == "zh" else out)}}).execute()
    seconds = time.perf_counter() - start
    record_time(lang, path.name, seconds)
    with capsys.disabled():
        print(f"\n[student edition, smoke recipe, {lang}] {path.name}: {seconds:.0f} s, {report.code_regions} code region(s), "
              f"{len(report.raising_cells)} cell(s) tagged {se.RAISES_TAG}")

    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        tagged = se.RAISES_TAG in tags(cell)
        head = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
        if errors and not tagged:
            trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errors[0].traceback[-3:]))
            problems.append(f"cell {index} ({head!r}) raised {errors[0].ename}: {errors[0].evalue} but is not "
                            f"tagged {se.RAISES_TAG} (if the source notebook fails too, fix it there):\n{trace}")
        if tagged and not errors and index in report.raising_cells:
            problems.append(f"cell {index} ({head!r}) is tagged {se.RAISES_TAG} but ran without an error")
        if errors and tagged and errors[0].ename != "NotImplementedError":
            problems.append(f"cell {index} ({head!r}) raised {errors[0].ename}: {errors[0].evalue}, "
                            "not NotImplementedError")
        text = cell_text(cell)
        for fn in report.exercise_functions:
            says = SAYS[lang]
            if re.search(rf"\bcheck_\w+\(\s*{fn}\s*[,)]", cell.source) and says["not_implemented"] not in text:
                problems.append(f"cell {index} ({head!r}) checks the unimplemented `{fn}` but does not say "
                                f"{says['not_implemented']!r}:\n{text[:500]}")
            if re.search(rf"\buse_or_reference\(\s*{fn}\s*,", cell.source) \
                    and says["fallback"] not in text:
                problems.append(f"cell {index} ({head!r}) falls back from `{fn}` without the visible note")
        if lang == "zh" and re.search(r"not implemented yet|does not pass its check yet|cases passed|Well done|"
                                      r"Not there yet", text):
            problems.append(f"cell {index} ({head!r}) prints an English verdict in the Chinese edition:\n{text[:500]}")
    assert not problems, f"{path.name} (student edition):\n  " + "\n  ".join(problems)


def test_a_chinese_edition_gets_chinese_answer_prompts_and_readme(tmp_path):
    """The Chinese edition (metadata.language zh-CN, as bert-edu translate build writes it): its written answers
    become the Chinese prompt, its learner README is Chinese; the English edition keeps the English ones."""
    src = make_course(tmp_path / "notebooks")
    for path in src.glob("[0-9]*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nb.metadata["language"] = "zh-CN"
        nbformat.write(nb, path)
    se.write_student_edition(tmp_path / "student", src)
    text = (tmp_path / "student" / "01_double.ipynb").read_text(encoding="utf-8")
    assert se.ANSWER_PROMPTS["zh"] in text and "Your answer here" not in text
    readme = (tmp_path / "student" / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# 从零构建 BERT") and "`my_double`" in readme
    english = make_course(tmp_path / "en")
    se.write_student_edition(tmp_path / "student-en", english)
    assert se.ANSWER_PROMPT in (tmp_path / "student-en" / "01_double.ipynb").read_text(encoding="utf-8")
    assert (tmp_path / "student-en" / "README.md").read_text(encoding="utf-8").startswith("# BERT from scratch")


def test_readme_student_edition_column_is_the_committed_record():
    """U9: the README's student-edition times are the committed record of a CI run, notebook by notebook."""
    import json

    data = json.loads((ROOT / "benchmarks" / "results" / "student_smoke_times.json").read_text())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    (head,) = [i for i, line in enumerate(lines) if "student edition, smoke recipe, English / Chinese" in line]
    rows = lines[head + 2:head + 2 + len(NOTEBOOKS)]
    for row, path in zip(rows, NOTEBOOKS):
        assert row.startswith(f"| {path.name[:2]} ")
        en, zh = data["seconds"]["en"][path.name], data["seconds"]["zh"][path.name]
        assert row.split("|")[4].strip() == f"{en:.0f} / {zh:.0f} s", (path.name, row)

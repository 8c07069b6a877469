"""Course-wide rules for the exercises (CONTRIBUTING.md, "Exercises"), checked over every notebook and checker.

What counts as an exercise, precisely:

* The **Exercises section** of a notebook is the markdown heading whose text starts with "Exercises" and
  everything after it up to the next heading of the same or a higher level (or the end of the notebook).
* An exercise starts at a markdown line that is a heading or a bold paragraph whose text starts with the word
  "Exercise" (singular): ``### Exercise 1: WordPiece``, ``**Exercise 3 — predict, then count.**``. These count
  anywhere in the notebook (an inline "implement it yourself" right after its explanation counts too). Its
  text runs to the next exercise or the next top-level heading.
* An Exercises section without such markers counts its sub-headings instead, and failing those, the
  top-level items of its numbered lists (``1. ...``); inline markers before the section count as well.
* An exercise is a **predict/explain** exercise when its text says "predict", "explain", "guess" or
  "estimate" (any form, e.g. "Predict", "explaining").
* An **implementation exercise** is a function (or class) whose body holds a ``### BEGIN SOLUTION`` region;
  it must be passed to a ``check_<name>`` call in the same or a later cell, and that checker must come
  from ``bert_edu.exercises``.

Checkers: every ``check_<name>`` exported by ``bert_edu.exercises`` has the signature
``check_<name>(fn, quiet=False)``, says "not implemented yet" (and returns False, printing nothing when quiet)
for a function that raises NotImplementedError, is used by a notebook, and is tested through
``tests/exercise_helpers.py``: it passes the reference at least once and rejects at least two distinct
wrong implementations, at least one of them with a named hint. That last rule is measured by running the
``tests/test_exercises_*.py`` files once with the two helpers wrapped to record each successful call.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

import bert_edu.exercises as exercises
from bert_edu.course import student_edition as se

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
EXERCISE_NOTEBOOKS = [f"{n:02d}" for n in range(1, 9)]  # 01 .. 08 end with 2-4 exercises
ALL_NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
CHECKERS = sorted(name for name in dir(exercises) if name.startswith("check_"))
TOPIC_MODULES = sorted(p.stem for p in (ROOT / "bert_edu" / "exercises").glob("[!_]*.py"))

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
NUMBERED_ITEM = re.compile(r"^\d+[.)]\s+\S")  # top level only: no indentation
# "### Exercise 2: ...", "**Exercise 3 — predict, then count.**", "## 1. Exercise: ..." (not "Exercises")
EXERCISE_MARKER = re.compile(r"^(#{1,6}\s+|\*\*|__)\s*(\d+[.)]\s*)?Exercise(?!s)\b", re.IGNORECASE)
PREDICT = re.compile(r"\b(predict|explain|guess|estimat)\w*", re.IGNORECASE)


def notebook_path(number: str) -> Path:
    matches = sorted(NOTEBOOK_DIR.glob(f"{number}_*.ipynb"))
    assert len(matches) == 1, f"expected exactly one notebooks/{number}_<name>.ipynb, found {matches}"
    return matches[0]


def read(path: Path):
    return nbformat.read(path, as_version=4)


def _clean(title: str) -> str:
    """Heading text without emphasis and a leading number: '**5. Exercises**' -> 'Exercises'."""
    title = re.sub(r"[*`]", "", title).strip().strip("_").strip()
    return re.sub(r"^\d+(\.\d+)*[.:)]?\s*", "", title)


def exercises_in(nb) -> list[dict]:
    """The notebook's exercises as {'title', 'text', 'where'} by the rules in the module docstring."""
    lines = []  # (cell index, markdown line), outside code fences
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            in_fence = False
            for line in cell.source.splitlines():
                if line.strip().startswith("```"):
                    in_fence = not in_fence
                elif not in_fence:
                    lines.append((index, line))

    marked, marked_in_section, sub_headings, numbered = [], [], [], []
    section_level, current, kind_current = None, None, None
    for index, line in lines:
        heading = HEADING.match(line)
        if heading:
            level, title = len(heading.group(1)), _clean(heading.group(2))
            if section_level is not None and level <= section_level:
                section_level = None  # the Exercises section ended
            if re.match(r"exercises\b", title, re.IGNORECASE):
                section_level, current = level, None
                continue
            if section_level is None and level <= 2:
                current = None
        if EXERCISE_MARKER.match(line):
            bold = re.match(r"^\*\*(.+?)\*\*", line)
            title = _clean(bold.group(1) if bold else line.lstrip("#").strip())[:70]
            current = {"title": title, "text": line, "where": f"cell {index}"}
            (marked if section_level is None else marked_in_section).append(current)
            continue
        if section_level is not None and heading:
            sub_headings.append({"title": _clean(heading.group(2)), "text": line, "where": f"cell {index}"})
        elif section_level is not None and NUMBERED_ITEM.match(line):
            numbered.append({"title": line.strip()[:70], "text": line, "where": f"cell {index}"})
        elif section_level is not None and (sub_headings or numbered) and not marked_in_section:
            (sub_headings or numbered)[-1]["text"] += "\n" + line
        if current is not None:
            current["text"] += "\n" + line
    return marked + (marked_in_section or sub_headings or numbered)


def has_exercises_section(nb) -> bool:
    return any(HEADING.match(line) and re.match(r"exercises\b", _clean(HEADING.match(line).group(2)), re.I)
               for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines())


def code_tree(cell):
    try:
        return ast.parse(se._python_source(cell.source))
    except SyntaxError:
        return None


def checks_in(nb) -> list[tuple[int, str, list[str]]]:
    """(cell index, check_<name>, names of the plain arguments) for every check_ call in the notebook."""
    out = []
    for index, cell in enumerate(nb.cells):
        tree = code_tree(cell) if cell.cell_type == "code" else None
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("check_"):
                out.append((index, node.func.id, [a.id for a in node.args if isinstance(a, ast.Name)]))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "use_or_reference":
                for a in node.args[2:3]:  # use_or_reference(fn, reference, check_<name>)
                    if isinstance(a, ast.Name):
                        out.append((index, a.id, [x.id for x in node.args[:1] if isinstance(x, ast.Name)]))
    return out


def defined_in(nb) -> set[str]:
    """Names the notebook defines itself or imports from outside bert_edu.exercises (e.g. check_versions)."""
    names = set()
    for cell in nb.cells:
        tree = code_tree(cell) if cell.cell_type == "code" else None
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            if isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("bert_edu.exercises"):
                names.update(a.asname or a.name for a in node.names)
    return names


def exercise_functions(nb, name: str) -> list[tuple[int, str]]:
    """(cell index, name) of each function or class whose body holds a solution region."""
    out = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        student, raise_lines = se.replace_solutions(cell.source, where=f"{name}, cell {index}")
        if not raise_lines:
            continue
        tree = ast.parse(se._python_source(student))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and se._contains_line(node, raise_lines):
                out.append((index, node.name))
    return out


# --- every notebook ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[p.name for p in ALL_NOTEBOOKS])
def test_solution_markers_are_balanced(path):
    se.make_student_notebook(read(path), path.name)  # raises SolutionMarkerError naming the cell


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[p.name for p in ALL_NOTEBOOKS])
def test_every_check_used_exists(path):
    nb = read(path)
    own = defined_in(nb)  # e.g. 00_setup defines a checker to show how they work
    missing = sorted({name for _, name, _ in checks_in(nb) if name not in own and not hasattr(exercises, name)})
    assert not missing, f"{path.name} calls checkers that bert_edu.exercises does not define: {missing}"


# --- notebooks 01..08 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", EXERCISE_NOTEBOOKS)
def test_has_summary_and_exercises_sections(number):
    nb = read(notebook_path(number))
    titles = [_clean(HEADING.match(line).group(2)) for c in nb.cells if c.cell_type == "markdown"
              for line in c.source.splitlines() if HEADING.match(line)]
    assert any(re.match(r"summary\b", t, re.I) for t in titles), f"no 'Summary' heading in {titles}"
    assert has_exercises_section(nb), f"no 'Exercises' heading in {titles}"


@pytest.mark.parametrize("number", EXERCISE_NOTEBOOKS)
def test_has_two_to_six_exercises(number):
    path = notebook_path(number)
    found = exercises_in(read(path))
    titles = "\n  ".join(f"{e['where']}: {e['title']}" for e in found)
    assert 2 <= len(found) <= 6, f"{path.name} has {len(found)} exercises (needs 2-6):\n  {titles}"


@pytest.mark.parametrize("number", EXERCISE_NOTEBOOKS)
def test_has_a_predict_or_explain_exercise(number):
    path = notebook_path(number)
    found = exercises_in(read(path))
    assert any(PREDICT.search(e["text"]) for e in found), (
        f"{path.name}: none of its exercises asks to predict or explain: {[e['title'] for e in found]}")


@pytest.mark.parametrize("number", EXERCISE_NOTEBOOKS)
def test_has_an_implementation_exercise_with_a_checker(number):
    path = notebook_path(number)
    nb = read(path)
    functions = exercise_functions(nb, path.name)
    assert functions, f"{path.name} has no implementation exercise (a function with a solution region)"
    checked = [name for _, name, _ in checks_in(nb) if hasattr(exercises, name)]
    assert checked, f"{path.name} calls no checker from bert_edu.exercises"


@pytest.mark.parametrize("number", EXERCISE_NOTEBOOKS)
def test_every_implementation_exercise_is_checked(number):
    path = notebook_path(number)
    nb = read(path)
    checks = checks_in(nb)
    unchecked = [f"{fn} (cell {index})" for index, fn in exercise_functions(nb, path.name)
                 if not any(i >= index and fn in args and hasattr(exercises, name) for i, name, args in checks)]
    assert not unchecked, (f"{path.name}: no `check_<name>(fn)` from bert_edu.exercises after these "
                           f"exercises: {unchecked}")


# --- every checker ----------------------------------------------------------------------------------------

def test_there_are_checkers():
    assert CHECKERS, "bert_edu.exercises exports no check_<name> functions yet"


def test_checker_names_are_unique_across_topics():
    import importlib

    owners: dict[str, list[str]] = {}
    for topic in TOPIC_MODULES:
        module = importlib.import_module(f"bert_edu.exercises.{topic}")
        for name in dir(module):
            if name.startswith("check_") and getattr(module, name).__module__ == module.__name__:
                owners.setdefault(name, []).append(topic)
    clashes = {name: topics for name, topics in owners.items() if len(topics) > 1}
    assert not clashes, f"the same checker name in several topic modules (only one is exported): {clashes}"


@pytest.mark.parametrize("topic", TOPIC_MODULES)
def test_each_topic_module_has_a_test_file(topic):
    assert (ROOT / "tests" / f"test_exercises_{topic}.py").is_file(), (
        f"bert_edu/exercises/{topic}.py has no tests/test_exercises_{topic}.py")


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_signature(name):
    params = list(inspect.signature(getattr(exercises, name)).parameters.values())
    assert params and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD), \
        f"{name} must take the learner's function as its first argument"
    quiet = [p for p in params if p.name == "quiet"]
    assert quiet and quiet[0].default is False, f"{name} needs a `quiet=False` parameter"


def unimplemented(*args, **kwargs):
    # YOUR CODE HERE
    raise NotImplementedError()


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_reports_not_implemented_yet(name, capsys):
    check = getattr(exercises, name)
    assert check(unimplemented) is False
    out = capsys.readouterr().out
    assert "not implemented yet" in out, f"{name} on an unstarted exercise printed:\n{out}"
    assert "Traceback" not in out and "AssertionError" not in out
    assert check(unimplemented, quiet=True) is False
    assert capsys.readouterr().out == "", f"{name}(fn, quiet=True) must print nothing"


def does_nothing(*args, **kwargs):
    return None  # a "solution" that runs but computes nothing (as a class: builds nothing)


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_rejects_a_do_nothing_answer_with_a_message(name, capsys):
    check = getattr(exercises, name)
    assert check(does_nothing) is False, f"{name} accepted a function that returns None"
    out = capsys.readouterr().out
    assert out.strip() and "Traceback" not in out, f"{name} on a do-nothing answer printed:\n{out}"


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_is_used_in_a_notebook(name):
    used = {n for p in ALL_NOTEBOOKS for _, n, _ in checks_in(read(p))}
    assert name in used, f"no notebook calls {name}"


RECORDER = textwrap.dedent("""
    import json, os, sys
    import pytest
    sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
    import exercise_helpers as h

    log = open(os.environ["CHECKER_LOG"], "a")

    def key(fn):
        cells = tuple(repr(c.cell_contents)[:80] for c in (getattr(fn, "__closure__", None) or ()))
        code = getattr(fn, "__code__", None)
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}" \\
               f":{getattr(code, 'co_firstlineno', 0)}:{cells}"

    def record(**entry):
        log.write(json.dumps(entry) + "\\n")
        log.flush()

    passes, fails = h.assert_checker_passes, h.assert_checker_fails

    def assert_checker_passes(check, fn, capsys):
        passes(check, fn, capsys)
        record(check=check.__name__, kind="pass")

    def assert_checker_fails(check, wrong_fn, capsys, *, hint=None):
        fails(check, wrong_fn, capsys, hint=hint)
        record(check=check.__name__, kind="fail", wrong=key(wrong_fn), hint=hint)

    h.assert_checker_passes, h.assert_checker_fails = assert_checker_passes, assert_checker_fails
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
""")


@pytest.fixture(scope="module")
def checker_tests(tmp_path_factory):
    """Run tests/test_exercises_*.py once, recording every successful helper call: {check: entries}."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_exercises_*.py"))
    log = tmp_path_factory.mktemp("checkers") / "calls.jsonl"
    log.touch()
    if files:
        env = dict(os.environ, CHECKER_LOG=str(log), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        subprocess.run([sys.executable, "-c", RECORDER, *files], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=1800)
    calls: dict[str, list[dict]] = {}
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        calls.setdefault(entry["check"], []).append(entry)
    return calls


@pytest.mark.parametrize("name", CHECKERS)
def test_checker_is_tested_on_the_reference_and_two_wrong_versions(name, checker_tests):
    calls = checker_tests.get(name, [])
    passes = [c for c in calls if c["kind"] == "pass"]
    wrong = {c["wrong"] for c in calls if c["kind"] == "fail"}
    hinted = {c["wrong"] for c in calls if c["kind"] == "fail" and c["hint"]}
    assert passes, f"no passing test calls assert_checker_passes({name}, reference, capsys)"
    assert len(wrong) >= 2, (f"{name} is shown to reject {len(wrong)} wrong implementation(s) in passing tests "
                             "(assert_checker_fails); it needs at least 2")
    assert hinted, f"no assert_checker_fails({name}, ..., hint=...) checks that a hint names the mistake"


# --- no prediction answered before it is asked (issue 25) ---------------------------------------------------
#
# A prediction exercise is a markdown cell that asks to predict / estimate / guess and holds a written-answer region
# (<!-- ### BEGIN SOLUTION --> ... <!-- ### END SOLUTION -->). Its answer is given away when a distinctive number of
# the answer (one with a decimal part and at least two significant digits, like 4.5 or 0.69, or a whole number of
# 10,000 or more), not already in the question, is printed by a code cell above it or stated in a markdown cell above
# it in the same notebook, on a line that shares a word with the answer's line (so that a coincidence, the same
# digits in an unrelated table, does not count): a learner who works from the top has seen it before being asked.
# Printed numbers count with more decimals too (0.693 gives away 0.69).

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
_ANSWER_REGION = re.compile(r"<!--\s*### BEGIN SOLUTION\s*-->(.*?)<!--\s*### END SOLUTION\s*-->", re.S)
_ASKS = re.compile(r"\b(predict|estimat|guess)\w*", re.IGNORECASE)


def _numbers(text: str) -> set[tuple[float, int]]:
    """(value, decimals) of every number in the text ("30,522" -> (30522.0, 0), "0.693" -> (0.693, 3))."""
    out = set()
    for m in _NUMBER.finditer(text):
        whole, frac = m.group(1).replace(",", ""), m.group(2) or ""
        out.add((float(f"{whole}.{frac}" if frac else whole), len(frac)))
    return out


def _distinctive(value: float, decimals: int) -> bool:
    digits = f"{value:.{decimals}f}".replace(".", "").lstrip("0")
    return (decimals > 0 and len(digits) >= 2) or (decimals == 0 and value >= 10_000)


def _cell_outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def predictions_answered_before(nb) -> list[str]:
    """'cell N: <number> (seen in cell M)' for every prediction whose answer stands above its question."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        answers = _ANSWER_REGION.findall(cell.source)
        question = _ANSWER_REGION.sub("", cell.source)
        if not answers or not _ASKS.search(question):
            continue
        asked = {v for v, _ in _numbers(question)}
        wanted = {}  # (value, decimals) -> the words of the answer's lines that hold it
        for line in (line for a in answers for line in a.splitlines()):
            for v, d in _numbers(line):
                if _distinctive(v, d) and v not in asked:
                    wanted.setdefault((v, d), set()).update(_words(line))
        for earlier in range(index):
            above = nb.cells[earlier]
            text = above.source if above.cell_type == "markdown" else _cell_outputs(above)
            for line in _ANSWER_REGION.sub("", text).splitlines():
                seen = _numbers(line)
                for (value, decimals), words in sorted(wanted.items()):
                    if (any(d >= decimals and round(v, decimals) == value for v, d in seen)
                            and words & _words(line)):
                        found.append(f"cell {index}: {value:,.{decimals}f} (seen in cell {earlier})")
    return sorted(set(found))


_STOP = {"the", "and", "for", "are", "was", "with", "that", "this", "from", "its", "not", "but", "one", "all"}


def _words(line: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", line.lower()) if w not in _STOP}


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[p.name for p in ALL_NOTEBOOKS])
def test_no_prediction_is_answered_before_it_is_asked(path):
    found = predictions_answered_before(read(path))
    assert not found, (f"{path.name}: a prediction's answer stands above the question (move the exercise before "
                       f"the cell that prints or states it): {found}")


def test_a_prediction_answered_above_is_caught():
    """The fixture: a cell prints the losses at initialisation, then an exercise asks to predict them."""
    nb = nbformat.v4.new_notebook()
    printed = nbformat.v4.new_code_cell('print(f"NSP loss {nsp:.3f}")')
    printed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="NSP loss 0.693\n")]
    exercise = nbformat.v4.new_markdown_cell(
        "**Exercise 4 — predict.** Predict the NSP loss of a fresh model.\n\n<!-- ### BEGIN SOLUTION -->\n"
        "NSP is a coin: ln 2 = 0.69.\n<!-- ### END SOLUTION -->")
    nb.cells = [printed, exercise]
    assert predictions_answered_before(nb) == ["cell 1: 0.69 (seen in cell 0)"]
    nb.cells = [exercise, printed]  # asked first, printed after: fine
    assert predictions_answered_before(nb) == []
    stated = nbformat.v4.new_markdown_cell("A batch keeps 4.5 GiB of attention weights.")
    memory = nbformat.v4.new_markdown_cell("**Exercise 2 — predict the memory.** How many bytes?\n\n"
                                           "<!-- ### BEGIN SOLUTION -->\n12 layers keep 4.5 GiB.\n<!-- ### END SOLUTION -->")
    nb.cells = [stated, memory]
    assert predictions_answered_before(nb) == ["cell 1: 4.5 (seen in cell 0)"]

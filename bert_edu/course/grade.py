"""`bert-edu grade`: grade a whole class's notebooks with one command, no server (docs/teaching.md, "Grading").

    bert-edu grade SUBMISSIONS/ --out DIR [--timeout S] [--seed N] [--notebooks DIR]

``SUBMISSIONS/`` holds one folder per learner (named for the learner, holding their ``NN_name.ipynb``), or
``.ipynb`` files named for the learner (which course notebook each one is, is read from its cells).

Each notebook runs in its own process, in a temporary copy of the learner's folder, with a time limit (``--timeout``,
default: 60 s + 3 x the time the notebook's metadata records for the course's own run), on the CPU
(``CUDA_VISIBLE_DEVICES=""``), with the network pointed at a dead proxy and the hubs offline. This isolates by
process and folder; it is **not** a security sandbox: a notebook runs with the teacher's user rights. Writes and
deletions outside the temporary folder are detected (an audit hook in the kernel, and a before/after listing of the
submissions, the output folder, the course package and its asset cache) and reported, not prevented.

Which exercises exist is read from the course notebooks: a cell calling ``check_<name>(fn)`` where ``fn`` is written
in a solution region. Right after the learner's check cell the grader runs the checker again, on the learner's
function as it is at that point (later ``use_or_reference`` cells cannot turn a stub into the reference), then the
extra cases of ``bert_edu.exercises._grading`` drawn from ``--seed``. An exercise passes when both pass; its points
come from ``bert_edu.exercises._grading.POINTS``.

Output: ``DIR/grades.csv`` (``learner``, one column per exercise ``NN:name (points)``, ``total``, ``reason``),
``DIR/feedback/<learner>.html``, ``DIR/class-report.html`` and ``DIR/results.json`` (everything, for scripts).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = "results.jsonl"
OUTCOME = "outcome.json"
VIOLATIONS = "violations.txt"
KERNEL_PID = "kernel.pid"
DEAD_PROXY = "http://127.0.0.1:9"
TIMEOUT_FACTOR, TIMEOUT_BASE, TIMEOUT_FALLBACK = 3, 60, 600
_NOTEBOOK_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
BEGIN = "### BEGIN SOLUTION"  # the nbgrader marker the course uses (bert_edu.course.student_edition)


# --------------------------------------------------------------------------- which exercises exist

@dataclass(frozen=True)
class Exercise:
    notebook: str      # course notebook file name, e.g. "03_attention.ipynb"
    check: str         # "check_attention"
    target: str        # the learner's function or class the check is called on, e.g. "attention"
    points: int

    @property
    def label(self) -> str:
        return f"{self.notebook[:2]}:{self.check.removeprefix('check_')}"

    @property
    def column(self) -> str:
        return f"{self.label} ({self.points})"


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _python_source(source: str) -> str:
    """The cell as plain Python (IPython magics turned into calls); as the student edition reads cells."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:
        return "\n".join("#" + l if l.lstrip().startswith(("%", "!")) else l for l in source.splitlines())


def _parse(source: str):
    try:
        return ast.parse(_python_source(source))
    except SyntaxError:
        return None


def check_calls(tree) -> list[tuple[str, str]]:
    """(checker, argument name) of each top-level ``check_<name>(fn)`` statement (also ``assert check_...``)."""
    found = []
    for stmt in getattr(tree, "body", []):
        call = stmt.value if isinstance(stmt, ast.Expr) else stmt.test if isinstance(stmt, ast.Assert) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.startswith("check_")
                and call.args and isinstance(call.args[0], ast.Name)):
            found.append((call.func.id, call.args[0].id))
    return found


def defined_names(tree) -> set[str]:
    return {s.name for s in getattr(tree, "body", []) if isinstance(s, (ast.FunctionDef, ast.ClassDef))}


def discover_exercises(nb, notebook: str) -> list[Exercise]:
    """The graded exercises of a course notebook (with its solutions): every ``check_<name>(fn)`` cell whose ``fn``
    is defined in a cell holding a solution region. Points from ``bert_edu.exercises._grading``."""
    from bert_edu.exercises._grading import points

    written, out, seen = set(), [], set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = _source(cell)
        tree = _parse(source)
        if BEGIN in source:
            written |= defined_names(tree)
        for check, target in check_calls(tree):
            if target in written and check not in seen:
                seen.add(check)
                out.append(Exercise(notebook, check, target, points(check)))
    return out


def course_notebooks_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "notebooks"  # bert_edu/course/ -> the repository


def course_exercises(notebooks_dir=None) -> dict[str, list[Exercise]]:
    """Course notebook file name -> its exercises, in notebook order (notebooks without exercises left out)."""
    folder = Path(notebooks_dir) if notebooks_dir else course_notebooks_dir()
    out = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        exercises = discover_exercises(json.loads(path.read_text(encoding="utf-8")), path.name)
        if exercises:
            out[path.name] = exercises
    return out


def default_timeout(notebook: str, notebooks_dir=None) -> int:
    """60 s + 3 x the wall time recorded in the course notebook's metadata (600 s when none is recorded)."""
    path = (Path(notebooks_dir) if notebooks_dir else course_notebooks_dir()) / notebook
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("bert_edu", {})
        seconds = float((meta.get("cpu") or meta)["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return TIMEOUT_FALLBACK
    return int(TIMEOUT_BASE + TIMEOUT_FACTOR * seconds)


# --------------------------------------------------------------------------- grading one exercise (in the kernel)

def _diagnosis(text: str) -> str:
    """The failing cases and their messages from a checker's printed verdict."""
    lines = text.splitlines()
    if any("not implemented yet" in line or "：尚未实现" in line for line in lines[:1]):
        return "not implemented yet: the function still raises NotImplementedError"
    keep, failing = [], False
    for line in lines:
        if line.strip().startswith("[FAIL]"):
            failing = True
            keep.append(line.strip())
        elif line.strip().startswith(("[OK]", "Not there yet", "还没完成：")):  # English or Chinese checkers
            failing = False
        elif failing and line.strip():
            keep.append("  " + line.strip())
    return "\n".join(keep) or text.strip()


def grade_exercise(check_name: str, fn, seed: int) -> dict:
    """Run ``check_name`` on ``fn`` (quietly), then its extra seeded cases; returns
    ``{"passed", "check_passed", "extra_passed", "diagnosis"}``. Used by the grader and nbgrader's hidden tests."""
    import bert_edu.exercises as exercises
    from bert_edu.exercises._harness import run_extra_cases

    check = getattr(exercises, check_name, None)
    if check is None:
        return dict(passed=False, check_passed=False, extra_passed=None,
                    diagnosis=f"the course has no checker `{check_name}` (is bert_edu up to date?)")
    if str(getattr(fn, "__module__", "")).startswith("bert_edu"):
        return dict(passed=False, check_passed=False, extra_passed=None,
                    diagnosis="this is the course's reference implementation, not your own code")
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            check_passed = bool(check(fn))
    except Exception as err:  # a checker crash must not stop the grading
        return dict(passed=False, check_passed=False, extra_passed=None,
                    diagnosis=f"the check stopped with {type(err).__name__}: {err}")
    if not check_passed:
        return dict(passed=False, check_passed=False, extra_passed=None, diagnosis=_diagnosis(buffer.getvalue()))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            extra = run_extra_cases(check_name, fn, seed)
    except Exception as err:
        return dict(passed=False, check_passed=True, extra_passed=False,
                    diagnosis=f"the extra cases stopped with {type(err).__name__}: {err}")
    if extra is None or extra.passed:
        return dict(passed=True, check_passed=True, extra_passed=None if extra is None else True, diagnosis="")
    failed = [(name, message) for name, ok, message in extra.results if not ok]
    text = "\n".join(f"[FAIL] {name}\n  " + message.replace("\n", "\n  ") for name, message in failed)
    return dict(passed=False, check_passed=True, extra_passed=False,
                diagnosis="passes the notebook's cases but not the grader's extra cases:\n" + text)


def record(results_path: str, check_name: str, target: str, namespace: dict, seed: int) -> None:
    """Injected after each check cell of a graded copy: grade ``namespace[target]`` and append it as a JSON line."""
    if target in namespace:
        result = grade_exercise(check_name, namespace[target], seed)
    else:
        result = dict(passed=False, check_passed=False, extra_passed=None,
                      diagnosis=f"`{target}` is not defined when its check runs (renamed or deleted?)")
    result["check"] = check_name
    with open(results_path, "a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")


def hidden_score(items: list[tuple[str, str, float]], namespace: dict, seed: int) -> float:
    """nbgrader's hidden test (``bert-edu student --nbgrader``): the points earned by the exercises of one check
    cell, ``items`` = (checker, the learner's function's name, points). nbgrader reads the number as partial
    credit, so its autograde scores a cell as ``bert-edu grade`` scores its exercises."""
    earned = 0.0
    for check_name, target, points in items:
        if target in namespace and grade_exercise(check_name, namespace[target], seed)["passed"]:
            earned += points
    return earned


# --------------------------------------------------------------------------- the guard (in the kernel)

_WRITE_EVENTS = {"os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.mkdir", "os.truncate", "os.chmod",
                 "os.symlink", "os.link", "os.utime"}


def install_guard(allowed_root: str, log_path: str) -> None:
    """An audit hook that logs (does not block) every write, deletion or rename outside ``allowed_root``.
    Python-level only: a subprocess or C code can still escape it, which the grader's listings catch."""
    allowed = (os.path.realpath(allowed_root), "/dev/", "/proc/")
    log = open(log_path, "a", encoding="utf-8")  # opened before the hook exists
    busy = []

    def outside(path) -> bool:
        if isinstance(path, int) or path is None:
            return False
        path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
        real = os.path.realpath(path)
        return not any(real == a.rstrip("/") or real.startswith(a.rstrip("/") + "/") for a in allowed)

    def hook(event, args):
        if busy:
            return
        busy.append(1)
        try:
            paths = []
            if event == "open" and len(args) >= 3:
                mode, flags = args[1], args[2] or 0
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
                paths = [args[0]] if writing else []
            elif event in _WRITE_EVENTS:
                paths = list(args[:2]) if event in ("os.rename", "os.symlink", "os.link") else [args[0]]
            for path in paths:
                if outside(path):
                    log.write(f"{event} {os.fsdecode(path) if isinstance(path, bytes) else path}\n")
                    log.flush()
        except Exception:
            pass
        finally:
            busy.pop()

    sys.addaudithook(hook)


# --------------------------------------------------------------------------- one notebook, in its own process

def _code_cell(source: str):
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["bert-edu-grader"]
    return cell


def instrument(nb, exercises: list[Exercise], run_dir: Path, root: Path, seed: int):
    """A copy of the learner's notebook with the grader's cells: a setup cell first, a record cell after each
    exercise's check cell (or after the cell defining its function when the check cell is gone)."""
    import copy

    nb = copy.deepcopy(nb)
    after: dict[int, list[Exercise]] = {}
    for ex in exercises:
        index = None
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            tree = _parse(_source(cell))
            if (ex.check, ex.target) in check_calls(tree):
                index = i
                break
            if ex.target in defined_names(tree):
                index = i
        after.setdefault(len(nb.cells) - 1 if index is None else index, []).append(ex)
    setup = _code_cell(
        "import os as _bert_edu_os\n"
        f"open({str(run_dir / KERNEL_PID)!r}, 'w').write(str(_bert_edu_os.getpid()))\n"
        "import bert_edu.course.grade as _bert_edu_grade\n"
        f"_bert_edu_grade.install_guard({str(root)!r}, {str(run_dir / VIOLATIONS)!r})")
    cells = [setup]
    for i, cell in enumerate(nb.cells):
        cells.append(cell)
        for ex in after.get(i, []):
            cells.append(_code_cell(f"_bert_edu_grade.record({str(run_dir / RESULTS)!r}, {ex.check!r}, "
                                    f"{ex.target!r}, globals(), {int(seed)})"))
    nb.cells = cells
    return nb


def _error_outputs(nb) -> list[dict]:
    errors = []
    for index, cell in enumerate(nb.cells):
        if "bert-edu-grader" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") != "NotImplementedError":
                errors.append(dict(cell=index - 1, ename=out.get("ename"), evalue=str(out.get("evalue"))[:300]))
    return errors


def run_one(spec_path: str) -> int:
    """The child process: execute the instrumented notebook with a deadline; write ``outcome.json``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    run_dir = Path(spec["run_dir"])
    nb = nbformat.read(spec["notebook"], as_version=4)
    deadline = time.monotonic() + spec["timeout"]
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
                            timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
                            resources={"metadata": {"path": spec["work"]}})
    outcome = dict(timed_out=False, crashed=None)
    start = time.perf_counter()
    try:
        client.execute()
    except CellTimeoutError:
        outcome["timed_out"] = True
    except DeadKernelError as err:
        outcome["crashed"] = f"the kernel died ({str(err)[:200]})"
    except Exception as err:  # nbclient itself failed: report it, never stop the class
        outcome["crashed"] = f"{type(err).__name__}: {str(err)[:300]}"
    outcome["seconds"] = round(time.perf_counter() - start, 1)
    outcome["errors"] = _error_outputs(nb)
    (run_dir / OUTCOME).write_text(json.dumps(outcome), encoding="utf-8")
    return 0


def grading_env(root: Path, work: Path) -> dict:
    """The child's environment: CPU only, no network, every cache and home inside the temporary folder (the
    course's assets are linked in read-only use); BERT_EDU_SMOKE and thread settings pass through."""
    from bert_edu.data.assets import cache_dir

    env = dict(os.environ)
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env[key] = DEAD_PROXY
    env.update(no_proxy="", NO_PROXY="", CUDA_VISIBLE_DEVICES="", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", BERT_EDU_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg",
               BERT_EDU_NOTEBOOKS=str(work))
    cache = root / "cache"
    cache.mkdir(exist_ok=True)
    assets = cache_dir() / "assets"
    if assets.exists() and not (cache / "assets").exists():
        (cache / "assets").symlink_to(assets.resolve(), target_is_directory=True)
    for key, sub in [("HOME", "home"), ("BERT_EDU_CACHE", "cache"), ("XDG_CACHE_HOME", "xdg-cache"),
                     ("XDG_CONFIG_HOME", "xdg-config"), ("MPLCONFIGDIR", "mpl"), ("IPYTHONDIR", "ipython"),
                     ("HF_HOME", "hf"), ("TMPDIR", "tmp"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"), ("TRITON_CACHE_DIR", "triton")]:
        # (importing torch._dynamo, as transformers may, creates torch's compile cache folder)
        (root / sub).mkdir(exist_ok=True)
        env[key] = str(root / sub)
    return env


def _snapshot(folders: list[Path]) -> dict[str, tuple]:
    """path -> (size, mtime) of every file under ``folders`` (caches and virtual environments skipped)."""
    seen = {}
    for folder in folders:
        if not folder.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d not in {".venv", ".git", "__pycache__", ".ipynb_checkpoints"}]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                seen[path] = (st.st_size, st.st_mtime_ns)
    return seen


def _changes(before: dict, after: dict) -> list[str]:
    deleted = [f"deleted {p}" for p in before if p not in after]
    written = [f"wrote {p}" for p in after if before.get(p) != after[p]]
    return deleted + written


def _kill(pid_file: Path, proc) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # the kernel leads its own session
        os.kill(pid, signal.SIGKILL)


def run_notebook(nb, exercises, work: Path, root: Path, name: str, timeout: int, seed: int) -> dict:
    """Run one learner notebook in its own process; returns the outcome with ``results`` (check -> result)."""
    import nbformat

    run_dir = root / "runs" / name.removesuffix(".ipynb")
    run_dir.mkdir(parents=True)
    graded = run_dir / "graded.ipynb"
    nbformat.write(instrument(nb, exercises, run_dir, root, seed), graded)
    spec = run_dir / "spec.json"
    spec.write_text(json.dumps(dict(run_dir=str(run_dir), notebook=str(graded), work=str(work), timeout=timeout)))
    log = open(run_dir / "runner.log", "wb")
    env = grading_env(root, work)
    # a Chinese edition's checkers and diagnoses speak Chinese (bert_edu.exercises._messages reads BERT_EDU_LANG)
    env["BERT_EDU_LANG"] = "zh" if str(nb.metadata.get("language", "")).lower().startswith("zh") else "en"
    proc = subprocess.Popen([sys.executable, "-m", "bert_edu.course.grade", "_run", str(spec)], cwd=work,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        _kill(run_dir / KERNEL_PID, proc)
        proc.wait()
    finally:
        log.close()
    try:
        outcome = json.loads((run_dir / OUTCOME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        outcome = dict(timed_out=True, crashed=None, errors=[], seconds=timeout)
    results = {}
    if (run_dir / RESULTS).exists():
        for line in (run_dir / RESULTS).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                results.setdefault(item["check"], item)  # the first record of a check counts
    outcome["results"] = results
    violations = run_dir / VIOLATIONS
    outcome["violations"] = sorted(set(violations.read_text().splitlines())) if violations.exists() else []
    outcome["timeout"] = timeout
    return outcome


# --------------------------------------------------------------------------- the class

@dataclass
class Submission:
    learner: str
    notebooks: dict[str, Path] = field(default_factory=dict)   # course notebook name -> the learner's file
    problems: list[str] = field(default_factory=list)


def identify(nb: dict, course: dict[str, list[Exercise]], notebooks_dir=None) -> str | None:
    """Which course notebook ``nb`` is: the one sharing most cell ids, else most check calls."""
    folder = Path(notebooks_dir) if notebooks_dir else course_notebooks_dir()
    ids = {c.get("id") for c in nb.get("cells", []) if c.get("id")}
    best, score = None, 0
    for name in course:
        ref = json.loads((folder / name).read_text(encoding="utf-8"))
        shared = len(ids & {c.get("id") for c in ref["cells"]})
        if shared > score:
            best, score = name, shared
    if best:
        return best
    calls = {c for cell in nb.get("cells", []) if cell.get("cell_type") == "code"
             for c, _ in check_calls(_parse(_source(cell)))}
    ranked = sorted(course, key=lambda n: -len(calls & {e.check for e in course[n]}))
    return ranked[0] if ranked and calls & {e.check for e in course[ranked[0]]} else None


def _read_notebook(path: Path):
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:
        return None, f"{path.name}: not a valid notebook ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    return nb, None


def find_submissions(folder: Path, course: dict, notebooks_dir=None) -> list[Submission]:
    """One Submission per learner folder or per top-level ``.ipynb`` file, sorted by learner."""
    subs = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            sub = Submission(entry.name)
            for path in sorted(entry.glob("*.ipynb")):
                if path.name in course:
                    sub.notebooks[path.name] = path
                elif _NOTEBOOK_NAME.match(path.name) is None and not path.name.endswith(".new.ipynb"):
                    sub.problems.append(f"{path.name}: not a course notebook name (NN_name.ipynb), ignored")
            subs.append(sub)
        elif entry.suffix == ".ipynb":
            sub = Submission(entry.stem)
            nb, problem = _read_notebook(entry)
            name = identify(nb, course, notebooks_dir) if nb is not None else None
            if problem:
                sub.problems.append(problem)
            elif name is None:
                sub.problems.append(f"{entry.name}: not one of the course's graded notebooks")
            else:
                sub.notebooks[name] = entry
            subs.append(sub)
    return subs


@dataclass
class LearnerGrade:
    learner: str
    scores: dict[str, int] = field(default_factory=dict)       # exercise label -> points earned
    results: dict[str, dict] = field(default_factory=dict)     # exercise label -> passed, diagnosis, ...
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.scores.values())


def _watched(submissions: Path, out: Path, notebooks_dir) -> list[Path]:
    from bert_edu.data.assets import cache_dir

    # The course's own files are not listed: a teacher may edit them while a class is graded. The kernel's audit
    # hook reports a Python-level write there all the same.
    return [f.resolve() for f in (submissions, out, cache_dir() / "assets") if f.exists()]


def _not_run(outcome: dict | None, name: str) -> str:
    if outcome is None:
        return f"not graded: {name} was not submitted or could not be read"
    if outcome.get("timed_out"):
        return f"not reached: the notebook was stopped at its time limit ({outcome['timeout']} s) before this check"
    if outcome.get("crashed"):
        return f"not reached: {outcome['crashed']}"
    return "not graded: the exercise's check cell did not run"


def _reasons(name: str, outcome: dict) -> list[str]:
    out = []
    if outcome.get("timed_out"):
        out.append(f"{name}: stopped at the time limit ({outcome['timeout']} s)")
    if outcome.get("crashed"):
        out.append(f"{name}: {outcome['crashed']}")
    errors = outcome.get("errors", [])
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        out.append(f"{name}: cell {first['cell']} raised {first['ename']}: {first['evalue'][:120]}{more}")
    if outcome.get("violations"):
        v = outcome["violations"]
        out.append(f"{name}: wrote or deleted files outside its folder: {'; '.join(v[:3])}"
                   + (f" (and {len(v) - 3} more)" if len(v) > 3 else ""))
    return out


def grade_learner(sub: Submission, course: dict, notebooks: list[str], *, seed: int, timeouts: dict,
                  watched: list[Path]) -> LearnerGrade:
    """Copy the learner's notebooks to a temporary folder, run each graded notebook there, collect the results."""
    grade = LearnerGrade(sub.learner, reasons=list(sub.problems))
    root = Path(tempfile.mkdtemp(prefix="bert-edu-grade-")).resolve()
    work = root / "work"
    work.mkdir()
    try:
        readable = {}
        for name, path in sub.notebooks.items():
            nb, problem = _read_notebook(path)
            if problem:
                grade.reasons.append(problem)
            else:
                readable[name] = nb
                shutil.copyfile(path, work / name)
        # Later notebooks import the learner's modules of 02-05 (``chapter("05")``): a chapter the learner did not
        # hand in comes from the course, so that the notebooks that were handed in can run.
        for path in sorted(course_notebooks_dir().glob("0[2-5]_*.ipynb")):
            if not (work / path.name).exists():
                shutil.copyfile(path, work / path.name)
        for name in notebooks:
            outcome = None
            if name in readable:
                before = _snapshot(watched)
                outcome = run_notebook(readable[name], course[name], work, root, name, timeouts[name], seed)
                outcome["violations"] += _changes(before, _snapshot(watched))
                grade.reasons += _reasons(name, outcome)
                grade.seconds += outcome.get("seconds", 0)
            elif name not in sub.notebooks:
                grade.reasons.append(f"{name}: not submitted")
            for ex in course[name]:
                result = (outcome or {}).get("results", {}).get(ex.check) or dict(
                    passed=False, diagnosis=_not_run(outcome, name))
                grade.results[ex.label] = result
                grade.scores[ex.label] = ex.points if result["passed"] else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return grade


def grade_class(submissions, out, *, seed: int = 0, timeout: int | dict | None = None, notebooks_dir=None,
                progress=print) -> tuple[list[Exercise], list[LearnerGrade]]:
    """Grade every learner under ``submissions`` and write the CSV, the feedback pages and the class report.
    ``timeout``: seconds for every notebook, or a dict notebook name -> seconds (default: ``default_timeout``)."""
    submissions, out = Path(submissions), Path(out)
    course = course_exercises(notebooks_dir)
    subs = find_submissions(submissions, course, notebooks_dir)
    notebooks = [n for n in course if any(n in s.notebooks for s in subs)]
    exercises = [ex for n in notebooks for ex in course[n]]
    per = timeout if isinstance(timeout, dict) else {n: timeout for n in notebooks}
    timeouts = {n: per.get(n) or default_timeout(n, notebooks_dir) for n in notebooks}
    out.mkdir(parents=True, exist_ok=True)
    watched = _watched(submissions, out, notebooks_dir)
    grades = []
    for i, sub in enumerate(subs, 1):
        start = time.perf_counter()
        grade = grade_learner(sub, course, notebooks, seed=seed, timeouts=timeouts, watched=watched)
        grades.append(grade)
        progress(f"[{i}/{len(subs)}] {sub.learner}: {grade.total}/{sum(e.points for e in exercises)} points"
                 f" ({time.perf_counter() - start:.0f} s){' - ' + grade.reasons[0] if grade.reasons else ''}")
    write_csv(out / "grades.csv", exercises, grades)
    write_feedback(out / "feedback", exercises, grades)
    write_class_report(out / "class-report.html", exercises, grades, seed)
    (out / "results.json").write_text(json.dumps(
        dict(seed=seed, exercises=[asdict(e) | {"label": e.label} for e in exercises],
             learners=[asdict(g) | {"total": g.total} for g in grades]), indent=1), encoding="utf-8")
    return exercises, grades


# --------------------------------------------------------------------------- what the teacher reads

def write_csv(path: Path, exercises: list[Exercise], grades: list[LearnerGrade]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["learner", *[e.column for e in exercises], "total", "reason"])
        for g in grades:
            writer.writerow([g.learner, *[g.scores.get(e.label, 0) for e in exercises], g.total,
                             "; ".join(g.reasons)])


_STYLE = """<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}
.pass{color:#176b1d;font-weight:bold}.fail{color:#a31515;font-weight:bold}pre{white-space:pre-wrap;margin:0}
.reason{background:#fff3cd;padding:.5em}</style>"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"{_STYLE}</head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def safe_name(learner: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", learner).strip("._") or "learner"


def feedback_html(g: LearnerGrade, exercises: list[Exercise]) -> str:
    possible = sum(e.points for e in exercises)
    parts = [f"<p>Total: <b>{g.total} / {possible}</b> points.</p>"]
    parts += [f"<p class=\"reason\">{html.escape(r)}</p>" for r in g.reasons]
    rows = []
    for e in exercises:
        r = g.results.get(e.label, {})
        verdict = "<span class=\"pass\">pass</span>" if r.get("passed") else "<span class=\"fail\">fail</span>"
        rows.append(f"<tr><td>{html.escape(e.notebook)}</td><td><code>{html.escape(e.check)}</code></td>"
                    f"<td>{verdict}</td><td>{g.scores.get(e.label, 0)} / {e.points}</td>"
                    f"<td><pre>{html.escape(r.get('diagnosis', ''))}</pre></td></tr>")
    parts.append("<table><tr><th>notebook</th><th>exercise</th><th>result</th><th>points</th><th>diagnosis</th>"
                 "</tr>" + "".join(rows) + "</table>")
    return _page(f"Feedback for {g.learner}", "".join(parts))


def write_feedback(folder: Path, exercises: list[Exercise], grades: list[LearnerGrade]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for g in grades:
        (folder / f"{safe_name(g.learner)}.html").write_text(feedback_html(g, exercises), encoding="utf-8")


def misconception(diagnosis: str) -> str:
    """The part of a diagnosis that names the mistake, for counting across the class."""
    m = re.search(r"Likely mistake: (.+)", diagnosis)
    if m:
        return m.group(1).strip()
    for line in diagnosis.splitlines():
        line = line.strip()
        if line and not line.startswith("[FAIL]") and not line.startswith("passes the notebook"):
            return re.sub(r" Largest difference .*", "", re.sub(r"line \d+", "line N", line))
    return diagnosis.strip().splitlines()[0] if diagnosis.strip() else "(no diagnosis)"


def write_class_report(path: Path, exercises: list[Exercise], grades: list[LearnerGrade], seed: int) -> None:
    rows = []
    for e in exercises:
        results = [g.results.get(e.label, {}) for g in grades]
        passed = sum(bool(r.get("passed")) for r in results)
        failed = [r.get("diagnosis", "") for r in results if not r.get("passed")]
        open_ = sum(d.startswith(("not implemented", "not graded", "not reached")) for d in failed)
        counts = Counter(misconception(d) for d in failed if not d.startswith(
            ("not implemented", "not graded", "not reached")))
        top = "".join(f"<li>{n} x {html.escape(text)}</li>" for text, n in counts.most_common(3))
        rows.append(f"<tr><td><code>{html.escape(e.label)}</code></td><td>{e.points}</td>"
                    f"<td>{passed} / {len(grades)}</td><td>{open_}</td><td><ul>{top}</ul></td></tr>")
    totals = sorted(g.total for g in grades)
    median = totals[len(totals) // 2] if totals else 0
    body = (f"<p>{len(grades)} learners, extra cases drawn with seed {seed}; median total {median} / "
            f"{sum(e.points for e in exercises)}.</p><table><tr><th>exercise</th><th>points</th><th>passed</th>"
            "<th>not started or not run</th><th>most frequent diagnoses (misconceptions)</th></tr>" + "".join(rows) + "</table>")
    path.write_text(_page("Class report", body), encoding="utf-8")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["_run"]:  # the child process of run_notebook
        return run_one(argv[1])
    parser = argparse.ArgumentParser(prog="bert-edu grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="one folder per learner, or .ipynb files named by learner")
    parser.add_argument("--out", type=Path, required=True, help="where grades.csv and the HTML pages go")
    parser.add_argument("--timeout", type=int, default=None,
                        help="seconds per notebook (default: 60 + 3 x its recorded time in the course)")
    parser.add_argument("--seed", type=int, default=0, help="the seed the extra cases are drawn from")
    parser.add_argument("--notebooks", type=Path, default=None, help="the course notebooks (default: notebooks/)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder: pass the folder holding the learners' notebooks",
              file=sys.stderr)
        return 2
    if args.timeout is not None and args.timeout < 1:
        print("error: --timeout must be at least 1 second", file=sys.stderr)
        return 2
    if args.out.resolve() == args.submissions.resolve() or args.submissions.resolve() in args.out.resolve().parents:
        print(f"error: --out {args.out} is inside the submissions: choose a folder outside it", file=sys.stderr)
        return 2
    exercises, grades = grade_class(args.submissions, args.out, seed=args.seed, timeout=args.timeout,
                                    notebooks_dir=args.notebooks)
    if not grades:
        print(f"error: no learners in {args.submissions}: expected one folder per learner or .ipynb files",
              file=sys.stderr)
        return 2
    print(f"graded {len(grades)} learner(s) on {len(exercises)} exercise(s): {args.out / 'grades.csv'}, "
          f"{args.out / 'class-report.html'}, {args.out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

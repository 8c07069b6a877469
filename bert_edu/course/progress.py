"""`bert-edu progress [FOLDER]`: for a self-learner, which exercises pass now and which are still open, per notebook.

    bert-edu progress            # the current folder, or ./student when the current folder has no notebooks
    bert-edu progress student/ [--json]

It reads the saved notebooks and runs no training cell. For each exercise (the course's ``check_<name>(fn)`` cells,
as ``bert-edu grade`` finds them) it:

1. re-checks the learner's code as saved: it runs only the notebook's *definitions* (the top-level ``import``,
   ``def`` and ``class`` statements of every cell, and ``X = chapter("NN").X``; data, training and plots are
   skipped), then the exercise's checker on the function. The checkers run on tiny inputs;
2. when that is not possible (the function needs a value made by a skipped cell), reports what the saved output of
   the notebook's own check cell says, and that it comes from the last run.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import re
import sys
from pathlib import Path

from bert_edu.course.grade import _diagnosis, _parse, _source, course_exercises

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# a checker's first line, in English or (the Chinese edition, bert_edu/exercises/messages.py) in Chinese
_VERDICT = re.compile(r"^(check_\w+)(?:: (?:(\d+)/(\d+) cases passed|not implemented yet)"
                      r"|：(?:(\d+) 个用例通过了 (\d+) 个|尚未实现))", re.M)


def _is_chapter_import(stmt) -> bool:
    """``X = chapter("03").X``: the learner's own class from an earlier notebook (bert_edu.course.learner)."""
    value = getattr(stmt, "value", None)
    return (isinstance(stmt, ast.Assign) and isinstance(value, ast.Attribute) and isinstance(value.value, ast.Call)
            and getattr(value.value.func, "id", None) == "chapter")


def saved_verdicts(nb) -> dict[str, str]:
    """check name -> "pass" / "fail" / "open" from the saved outputs of the check cells."""
    out = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                       for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        for m in _VERDICT.finditer(text):
            passed, total = (m.group(2), m.group(3)) if m.group(3) is not None else (m.group(5), m.group(4))
            if total is None:
                out[m.group(1)] = "open"
            else:
                out[m.group(1)] = "pass" if passed == total else "fail"
    return out


def recheck(nb, exercises) -> dict[str, dict]:
    """check name -> {"status", "detail"} from re-running the definition cells and the checkers."""
    import bert_edu.exercises as checkers

    namespace = {"__name__": "__main__"}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for stmt in getattr(_parse(_source(cell)), "body", []):
            if not (isinstance(stmt, _DEFINITIONS) or _is_chapter_import(stmt)):
                continue  # data, training, plots: not re-run
            with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
                exec(compile(ast.Module([stmt], type_ignores=[]), "<notebook cell>", "exec"), namespace)
    results = {}
    for ex in exercises:
        fn = namespace.get(ex.target)
        if fn is None:
            results[ex.check] = dict(status="unknown", detail=f"`{ex.target}` is defined in a cell that computes "
                                                              "something, so it was not re-run")
            continue
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                passed = bool(getattr(checkers, ex.check)(fn))
        except Exception as err:
            results[ex.check] = dict(status="unknown", detail=f"the check stopped: {type(err).__name__}: {err}")
            continue
        text = buffer.getvalue()
        if passed:
            results[ex.check] = dict(status="pass", detail="")
        elif text.startswith((f"{ex.check}: not implemented yet", f"{ex.check}：尚未实现")):
            results[ex.check] = dict(status="open", detail="not started: still raises NotImplementedError")
        elif "NameError" in text:
            results[ex.check] = dict(status="unknown", detail="it uses a value made by a cell that was not re-run")
        else:
            results[ex.check] = dict(status="fail", detail=_diagnosis(text).splitlines()[0])
    return results


def notebook_progress(path: Path, exercises) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    saved, now = saved_verdicts(nb), recheck(nb, exercises)
    rows = []
    for ex in exercises:
        result = now[ex.check]
        status, detail, source = result["status"], result["detail"], "re-checked now"
        if status == "unknown":
            status = saved.get(ex.check, "not run")
            source = "saved output of the last run" if ex.check in saved else "no saved output"
            detail = result["detail"]
        rows.append(dict(exercise=ex.label, check=ex.check, status=status, source=source, detail=detail))
    return rows


def default_folder() -> Path:
    here = Path.cwd()
    if not any(here.glob("[0-9][0-9]_*.ipynb")) and (here / "student").is_dir():
        return here / "student"
    return here


def progress(folder: Path) -> dict[str, list[dict]]:
    course = course_exercises()
    out = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        if path.name in course:
            try:
                out[path.name] = notebook_progress(path, course[path.name])
            except (ValueError, KeyError) as err:
                out[path.name] = [dict(exercise="-", check="-", status="unreadable", source="",
                                       detail=f"not a valid notebook: {err}")]
    return out


_MARK = {"pass": "[pass]", "fail": "[fail]", "open": "[open]", "not run": "[ -- ]", "unreadable": "[bad ]"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bert-edu progress", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=None,
                        help="your notebooks (default: this folder, or ./student)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    folder = args.folder or default_folder()
    if not folder.is_dir():
        print(f"error: {folder} is not a folder: pass the folder holding your notebooks", file=sys.stderr)
        return 2
    report = progress(folder)
    if not report:
        print(f"error: no course notebooks with exercises (NN_name.ipynb) in {folder}: pass your notebooks' folder, "
              "e.g. bert-edu progress student/", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for name, rows in report.items():
        passed = sum(r["status"] == "pass" for r in rows)
        print(f"{name}: {passed}/{len(rows)} exercises pass")
        for r in rows:
            note = f"  {r['detail']}" if r["detail"] and r["status"] != "pass" else ""
            saved = " (saved output)" if r["source"].startswith("saved") else ""
            print(f"  {_MARK.get(r['status'], r['status'])} {r['exercise']:32s}{saved}{note}")
    total = sum(len(rows) for rows in report.values())
    done = sum(r["status"] == "pass" for rows in report.values() for r in rows)
    print(f"{done}/{total} exercises pass; open ones say [open], failing ones [fail] with the first problem")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write the student edition of the course: the notebooks with every solution taken out.

    python -m bert_edu.student_edition OUT_DIR [--notebooks DIR] [--force]

The committed notebooks hold each exercise's solution between two marker lines (the nbgrader convention)::

    def wordpiece(word, vocab):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

In the student edition a code region becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError()`` at the
indentation of its ``### BEGIN SOLUTION`` line, and a markdown region (a written answer: a prediction, an
explanation) becomes a "Your answer here" prompt. Outputs and execution counts are cleared, so no result
gives a solution away. Nothing else is copied except images the notebooks show, plus a README for the learner.

Which cells raise, and get the ``raises-exception`` tag that lets nbval (and nbclient) run past them?
The tool executes nothing; it reads each cell's Python (``ast``), in notebook order, with this rule:

1. A cell raises when a solution region sits at the top level of the cell (outside any ``def``),
   including inside a top-level ``for``/``if``/``with``: that is where the learner's code runs.
2. A function whose body holds a solution region is an *exercise function*; so is a class whose
   ``__init__`` holds one, a function that calls an exercise function, and a name assigned one
   (``f = my_fn``). Assigning anything else to the name (``my_fn = use_or_reference(my_fn, ...)``)
   or redefining it without a region makes it an ordinary name again.
3. A cell also raises when, outside any ``def``/``lambda``/``class`` body, it calls an exercise function.
   Passing the function along is not a call: ``check_<name>(my_fn)`` and ``use_or_reference(my_fn, ...)``
   never raise (checkers report "not implemented yet", ``use_or_reference`` falls back to the reference).
   Code after the first raising statement of a cell never runs, so it is not analysed.

So notebook authors follow one convention: after an exercise, run the learner's function only through
``check_<name>`` and ``use_or_reference``. nbval 0.11 and nbclient treat the tag as a permission, not a
requirement (a tagged cell that runs cleanly passes too), so ``tests/test_student_edition.py`` executes the
student edition of every notebook and checks both directions: a cell raises only if it is tagged, every cell
the tool tags does raise, and always NotImplementedError.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_PROMPT = "# YOUR CODE HERE"
CODE_RAISE = "raise NotImplementedError()"
ANSWER_PROMPT = "**Your answer here:** *replace this line with your prediction or explanation.*"
ANSWER_PROMPTS = {"en": ANSWER_PROMPT, "zh": "**在这里写你的答案：** *把这一行换成你的预测或解释。*"}


def notebook_language(nb) -> str:
    """"zh" for a Chinese edition (``metadata.language`` zh-CN, set by ``bert-edu translate build``), else "en"."""
    return "zh" if str(nb.metadata.get("language", "")).lower().startswith("zh") else "en"
RAISES_TAG = "raises-exception"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}

# A marker is a line of its own. In markdown it may be hidden in an HTML comment: <!-- ### BEGIN SOLUTION -->
_CODE_MARKER = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION[ \t]*$")
_MARKDOWN_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)(?:<!--[ \t]*)?### (?P<kind>BEGIN|END) SOLUTION(?:[ \t]*-->)?[ \t]*$")


class SolutionMarkerError(ValueError):
    """The solution markers of a notebook are unbalanced or leave invalid Python behind."""


@dataclass
class NotebookReport:
    """What the student edition of one notebook contains."""
    name: str
    code_regions: int = 0
    answer_regions: int = 0
    exercise_functions: list[str] = field(default_factory=list)   # functions the learner writes
    checks: list[str] = field(default_factory=list)               # check_<name> calls, in order
    raising_cells: list[int] = field(default_factory=list)        # indices of cells tagged raises-exception


def replace_solutions(source: str, *, markdown: bool = False, where: str = "cell",
                      prompt: str = ANSWER_PROMPT) -> tuple[str, list[int]]:
    """Replace every solution region in ``source``.

    Returns the new source and, for each region, the 1-based line number of what replaced it (in code,
    the inserted ``raise`` line; in markdown, the answer prompt).
    ``where`` names the cell in error messages (e.g. "01_tokenizer.ipynb, cell 12").
    """
    marker = _MARKDOWN_MARKER if markdown else _CODE_MARKER
    out: list[str] = []
    raise_lines: list[int] = []
    begin_line = None  # line number of the open BEGIN, if any
    for number, line in enumerate(source.splitlines(), start=1):
        m = marker.match(line)
        if m is None:
            if begin_line is None:
                out.append(line)
            continue
        if m["kind"] == "BEGIN":
            if begin_line is not None:
                raise SolutionMarkerError(
                    f"{where}: line {number} opens a new '{BEGIN}' but the one on line {begin_line} "
                    f"is not closed yet; add '{END}' before it.")
            begin_line = number
            indent = m["indent"]
            if markdown:
                out.append(indent + prompt)
            else:
                out.append(indent + CODE_PROMPT)
                out.append(indent + CODE_RAISE)
            raise_lines.append(len(out))
        else:
            if begin_line is None:
                raise SolutionMarkerError(
                    f"{where}: line {number} has '{END}' without a '{BEGIN}' before it.")
            begin_line = None
    if begin_line is not None:
        raise SolutionMarkerError(f"{where}: the '{BEGIN}' on line {begin_line} has no '{END}' after it.")
    if not raise_lines:
        return source, []
    return "\n".join(out) + ("\n" if source.endswith("\n") else ""), raise_lines


def _python_source(cell_source: str) -> str:
    """The cell as plain Python (IPython magics turned into calls), keeping line numbers."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(cell_source)
    except Exception:  # no IPython, or a transform it cannot do: comment magic lines out instead
        return "\n".join("#" + l if l.lstrip().startswith(("%", "!")) else l for l in cell_source.splitlines())


def _contains_line(node: ast.AST, lines: list[int]) -> bool:
    return any(node.lineno <= n <= node.end_lineno for n in lines)


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _run_at_definition(node: ast.AST) -> list[ast.AST]:
    """The parts of a def/lambda/class that run when it is defined: decorators, defaults, base classes."""
    parts = list(getattr(node, "decorator_list", [])) + list(getattr(node, "bases", []))
    if hasattr(node, "args"):
        parts += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    return parts


def _calls(node: ast.AST, names: set[str]) -> bool:
    """Does ``node`` call one of ``names`` when it runs (not counting def/lambda/class bodies)?"""
    stack = _run_at_definition(node) if isinstance(node, _DEFINITIONS) else [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names:
            return True
        for child in ast.iter_child_nodes(n):
            stack.extend(_run_at_definition(child) if isinstance(child, _DEFINITIONS) else [child])
    return False


def _calls_anywhere(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
               for n in ast.walk(node))


def _analyse_cell(tree: ast.Module, raise_lines: list[int], stubs: set[str]) -> tuple[bool, list[str]]:
    """Apply the module docstring's rule to one cell; update ``stubs``. Returns (raises, new exercise functions)."""
    new: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _calls(stmt, stubs):  # decorators/defaults calling an exercise function
                return True, new
            if _contains_line(stmt, raise_lines):
                stubs.add(stmt.name)
                new.append(stmt.name)
            elif _calls_anywhere(stmt, stubs - {stmt.name}):
                stubs.add(stmt.name)
            else:
                stubs.discard(stmt.name)
            continue
        if isinstance(stmt, ast.ClassDef):
            if _calls(stmt, stubs):
                return True, new
            init = [f for f in stmt.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and f.name == "__init__"]
            if _contains_line(stmt, raise_lines):
                new.append(stmt.name)
            if init and (_contains_line(init[0], raise_lines) or _calls_anywhere(init[0], stubs)):
                stubs.add(stmt.name)
            else:
                stubs.discard(stmt.name)
            continue
        if _contains_line(stmt, raise_lines) or _calls(stmt, stubs):
            return True, new
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            alias = isinstance(stmt.value, ast.Name) and stmt.value.id in stubs
            for t in targets:
                if isinstance(t, ast.Name):
                    (stubs.add if alias else stubs.discard)(t.id)
    return False, new


def _check_calls(tree: ast.Module) -> list[str]:
    return [n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id.startswith("check_")]


def make_student_notebook(nb, name: str = "notebook"):
    """Return ``(student_nb, NotebookReport)``; ``nb`` (an nbformat v4 notebook) is left unchanged."""
    nb = copy.deepcopy(nb)
    report = NotebookReport(name)
    stubs: set[str] = set()
    prompt = ANSWER_PROMPTS[notebook_language(nb)]
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index} ({cell.cell_type})"
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown":
            new, prompts = replace_solutions(source, markdown=True, where=where, prompt=prompt)
            report.answer_regions += len(prompts)
            cell.source = new
            continue
        if cell.cell_type != "code":
            continue
        new, raise_lines = replace_solutions(source, where=where)
        report.code_regions += len(raise_lines)
        cell.source = new
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)  # nbclient's timestamps
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        try:
            tree = ast.parse(_python_source(new))
        except SyntaxError as err:
            if raise_lines:
                raise SolutionMarkerError(
                    f"{where}: with its solution replaced the cell is not valid Python ({err.msg}, line "
                    f"{err.lineno}). A region must hold whole statements, and its '{BEGIN}' line must be "
                    "indented like the first statement inside it.") from None
            continue  # not Python we can read (e.g. a %%bash cell) and no exercise in it
        raises, new_functions = _analyse_cell(tree, raise_lines, stubs)
        report.exercise_functions += new_functions
        report.checks += _check_calls(tree)
        tags = list(cell.metadata.get("tags", []))
        if raises:
            report.raising_cells.append(index)
            if RAISES_TAG not in tags:
                tags.append(RAISES_TAG)
        if tags:
            cell.metadata["tags"] = tags
    nb.metadata.pop("widgets", None)  # saved widget state is output too
    return nb, report


def default_notebooks_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "notebooks"  # bert_edu/course/ -> the repository


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _source_and_target(notebooks_dir, out_dir) -> tuple[Path, Path, list[Path]]:
    """The course notebooks to read and the folder to write, refused when one lies inside the other."""
    src = Path(notebooks_dir) if notebooks_dir is not None else default_notebooks_dir()
    out = Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"no notebooks folder at {src}; pass --notebooks DIR")
    paths = sorted(p for p in src.glob("[0-9]*.ipynb") if ".new." not in p.name)
    if not paths:
        raise FileNotFoundError(f"no course notebooks (NN_name.ipynb) in {src}")
    src_r, out_r = src.resolve(), out.resolve()
    if _is_within(out_r, src_r) or _is_within(src_r, out_r):
        raise ValueError(f"refusing to write the student edition to {out}: it would overwrite or mix with the "
                         f"source notebooks in {src}. Choose a folder outside it, e.g. ./student")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    return src, out, paths


def write_student_edition(out_dir, notebooks_dir=None, *, force: bool = False) -> list[NotebookReport]:
    """Write the student notebooks, the images they show and a learner README into ``out_dir``."""
    import nbformat

    src, out, paths = _source_and_target(notebooks_dir, out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(
            f"{out} is not empty (it may hold a learner's work). Choose a new folder, or pass --force to "
            "overwrite the notebooks and README.md of the same names there (other files are left alone).")

    # Build everything in memory first: a marker error stops the tool before it writes anything.
    student, langs = [], set()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        langs.add(notebook_language(nb))
        student.append((path.name, *make_student_notebook(nb, path.name)))

    out.mkdir(parents=True, exist_ok=True)
    for filename, nb, _ in student:
        nbformat.validate(nb)
        nbformat.write(nb, out / filename)
    for image in src.rglob("*"):
        rel = image.relative_to(src)
        if image.suffix.lower() in IMAGE_SUFFIXES and image.is_file() and ".ipynb_checkpoints" not in rel.parts:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, out / rel)
    reports = [r for _, _, r in student]
    (out / "README.md").write_text(learner_readme(reports, "zh" if langs == {"zh"} else "en"), encoding="utf-8")
    return reports


MANIFEST = ".bert-edu-generated.json"  # what `update_student_edition` last wrote: file name -> sha256


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def new_copy_name(filename: str) -> str:
    """Where an upstream change goes when the learner edited the notebook: 07_pretraining.new.ipynb."""
    stem, dot, suffix = filename.rpartition(".")
    return f"{stem}.new.{suffix}" if dot else f"{filename}.new"


def update_student_edition(out_dir, notebooks_dir=None, log=print) -> dict[str, str]:
    """Build the student edition in ``out_dir``, or bring an existing one up to date without losing work.

    For each notebook (and the learner README) the bytes this function writes are recorded by their sha256 in
    ``out_dir/.bert-edu-generated.json``. On a later run a file whose bytes still have the recorded hash was not
    edited and is replaced by the new edition when that differs; a file the learner edited (or one from before the
    manifest existed that differs from the new edition) is never touched: when the course's notebook changed since,
    the new edition is written beside it as ``NN_name.new.ipynb`` with one line saying so. A missing file is
    written. Images are copied every time. Returns {file name: what happened} ("written", "updated", "kept",
    "kept, new version beside it", "unchanged")."""
    import json

    import nbformat

    src, out, paths = _source_and_target(notebooks_dir, out_dir)

    generated: dict[str, bytes] = {}
    reports, langs = [], set()
    for path in paths:  # everything in memory first: a marker error stops before anything is written
        source_nb = nbformat.read(path, as_version=4)
        langs.add(notebook_language(source_nb))
        nb, report = make_student_notebook(source_nb, path.name)
        nbformat.validate(nb)
        generated[path.name] = (nbformat.writes(nb) + "\n").encode("utf-8")
        reports.append(report)
    generated["README.md"] = learner_readme(reports, "zh" if langs == {"zh"} else "en").encode("utf-8")

    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    done: dict[str, str] = {}
    for name, data in generated.items():
        target, new_hash = out / name, _sha256(data)
        if not target.exists():
            target.write_bytes(data)
            manifest[name], done[name] = new_hash, "written"
            continue
        current = _sha256(target.read_bytes())
        if current == new_hash:
            manifest[name], done[name] = new_hash, "unchanged"
        elif current == manifest.get(name):  # generated by us and not edited since: safe to replace
            target.write_bytes(data)
            manifest[name], done[name] = new_hash, "updated"
        elif manifest.get(name) == new_hash:  # edited by the learner; the course has not changed since
            done[name] = "kept"
        else:  # edited by the learner AND changed in the course: keep theirs, put ours beside it
            beside = out / new_copy_name(name)
            beside.write_bytes(data)
            manifest[name], done[name] = new_hash, "kept, new version beside it"
            if log:
                log(f"{name}: the course's version changed, and you edited yours: yours is kept, the new one is "
                    f"{beside.name}")
    for image in src.rglob("*"):
        rel = image.relative_to(src)
        if image.suffix.lower() in IMAGE_SUFFIXES and image.is_file() and ".ipynb_checkpoints" not in rel.parts:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, out / rel)
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(manifest_path)
    return done


def _exercise_rows(reports: list[NotebookReport], comma: str) -> str:
    """The rows of the learner README's table: notebook | functions to write | written answers."""
    rows = []
    for r in reports:
        todo = comma.join(f"`{f}`" for f in r.exercise_functions) or "-"
        answers = str(r.answer_regions) if r.answer_regions else "-"
        rows.append(f"| `{r.name}` | {todo} | {answers} |")
    return "\n".join(rows)


def learner_readme(reports: list[NotebookReport], lang: str = "en") -> str:
    if lang == "zh":
        return learner_readme_zh(reports)
    table = _exercise_rows(reports, ", ")
    return f"""# BERT from scratch: your notebooks

These are the course notebooks with the exercises left for you. Work through them in order: each one
builds a piece of BERT, checks it against the `transformers` library, and ends with a few exercises.

## How to run them

The notebooks use the course's Python package `bert_edu` (data, pretrained weights, exercise checkers).
Set it up once from the course repository (`make setup`, or `pip install -e .` there), activate its
environment, then open this folder:

```bash
source <course>/.venv/bin/activate
jupyter lab
```

Everything runs offline on a laptop CPU; a GPU is used automatically when there is one.

## How the exercises work

* **Write code** where a cell says `# YOUR CODE HERE`: delete the `raise NotImplementedError()` line
  below it and write your version. Until you do, that cell stops with `NotImplementedError`; that is
  expected.
* **Check it** by running the next cell, `check_<name>(your_function)`. It runs your function on
  several cases, including edge cases, and compares it with the reference. It prints which cases
  passed and, for a failure, the case, the expected and actual shapes or values, and a hint at the
  likely mistake. It returns `True` only when every case passes. Change your code, re-run both cells,
  repeat. An exercise you have not started reports "not implemented yet".
* **Predict or explain** where a markdown cell says "Your answer here": write your answer *before*
  running the cells that follow, then compare.

## Skipping an exercise

You can skip any exercise and still run the whole notebook. Cells that need an exercise's result call
`use_or_reference(your_function, reference, check_<name>)`: when your function does not pass its check
yet, they use the course's reference implementation and print a note saying so:

    Note: `your_function` does not pass its check yet, so the cells below use the reference `...`.

Once your function passes, re-run that cell and the rest of the notebook uses your code.

## What is in each notebook

| notebook | functions you write | written answers |
| --- | --- | --- |
{table}

Use "Run All" freely: the only cells that stop are the ones waiting for your code.
"""


def learner_readme_zh(reports: list[NotebookReport]) -> str:
    table = _exercise_rows(reports, "、")
    return f"""# 从零构建 BERT：你的笔记本

这些是课程的笔记本，练习留给你来完成。请按顺序学习：每个笔记本构建 BERT 的一个部件，用 `transformers`
库检验它，最后是几道练习。

## 如何运行

笔记本要用到课程的 Python 包 `bert_edu`（数据、预训练权重、练习的检查函数）。在课程仓库里安装一次
（`make setup`，或在仓库里运行 `pip install -e .`），激活它的环境，再打开这个文件夹：

```bash
source <course>/.venv/bin/activate
bert-edu course --lang zh
```

一切都能在笔记本电脑的 CPU 上离线运行；有 GPU 时会自动使用。检查函数用中文给出提示（由环境变量
`BERT_EDU_LANG=zh` 或笔记本所在的 `zh` 文件夹决定）。

## 练习怎么做

* **写代码**：在标有 `# YOUR CODE HERE` 的单元格里，删掉它下面的 `raise NotImplementedError()`，写上你的实现。
  在你写好之前，这个单元格会停在 `NotImplementedError`，这是预期的。
* **检查**：运行下一个单元格 `check_<name>(your_function)`。它会在若干用例（包括边界情况）上运行你的函数，
  并与参考实现比较；它会列出哪些用例通过了，对失败的用例给出期望的和实际的形状或数值，以及可能的错误所在。
  只有全部用例通过时它才返回 `True`。修改代码，重新运行这两个单元格，直到通过。还没开始的练习会报告“尚未实现”。
* **预测或解释**：在写着“在这里写你的答案”的 Markdown 单元格里，先写下你的答案，*再*运行后面的单元格，然后对照。

## 跳过一道练习

你可以跳过任何一道练习，照样运行整个笔记本。需要某道练习结果的单元格会调用
`use_or_reference(your_function, reference, check_<name>)`：你的函数还没通过检查时，它们改用课程的参考实现，
并打印一条说明。等你的函数通过了，重新运行那个单元格，笔记本的其余部分就会用你的代码。

## 每个笔记本里有什么

| 笔记本 | 你要写的函数 | 书面回答 |
| --- | --- | --- |
{table}

放心使用“全部运行”（Run All）：只有等你写代码的单元格会停下来。
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bert_edu.student_edition",
        description="Write the student edition of the course: notebooks with the solutions taken out.")
    parser.add_argument("out_dir", type=Path, help="folder to write (new or empty, unless --force)")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help=f"source notebooks folder (default: {default_notebooks_dir()})")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty OUT_DIR, overwriting files of the same names")
    parser.add_argument("--nbgrader", action="store_true",
                        help="also write nbgrader's cell metadata and hidden tests: OUT_DIR becomes an nbgrader "
                             "source folder (docs/teaching.md)")
    parser.add_argument("--seed", type=int, default=0, help="with --nbgrader: the seed of the hidden extra cases")
    args = parser.parse_args(argv)
    try:
        reports = write_student_edition(args.out_dir, args.notebooks, force=args.force)
        if args.nbgrader:
            from bert_edu.course.nbgrader import add_nbgrader_metadata

            import nbformat

            source = _source_and_target(args.notebooks, args.out_dir)[2][0]  # the edition's language: its prompt
            prompt = ANSWER_PROMPTS[notebook_language(nbformat.read(source, as_version=4))]
            done = add_nbgrader_metadata(args.out_dir, args.notebooks, seed=args.seed, answer_prompt=prompt)
            print(f"nbgrader metadata and hidden tests (seed {args.seed}) in {len(done)} notebook(s): use "
                  f"{args.out_dir} as nbgrader's source/<assignment>/ folder, hand out nbgrader's release")
    except (SolutionMarkerError, OSError, ValueError) as err:  # OSError: e.g. a folder we may not write
        print(f"error: {err}", file=sys.stderr)
        return 2
    for r in reports:
        print(f"  {r.name}: {r.code_regions} code region(s), {r.answer_regions} written answer(s), "
              f"{len(r.raising_cells)} cell(s) tagged {RAISES_TAG}")
    print(f"wrote {len(reports)} student notebook(s) and README.md to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

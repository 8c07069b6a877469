"""The Chinese edition of the notebooks, generated from the English ones, never forked (issue 29).

One translation source per notebook, ``notebooks/zh/NN_name.zh.yaml``, holds the Chinese text of each markdown
cell, keyed by the English cell's id, with a hash of the English cell it translates::

    notebook: 13_chinese_bert.ipynb
    cells:
      8f85584d:
        en: 3f2a9c0b1d4e5f60      # sha256 of the English cell's source, first 16 hex digits
        zh: |-
          # 13 · 从字开始：一个中文 BERT
          ...

``bert-edu translate build`` writes ``notebooks/zh/NN_name.ipynb``: the English notebook with every markdown cell
replaced by its translation, and the code cells (source, outputs, ids) copied as they are. ``bert-edu translate
status`` lists what is wrong, per notebook:

* ``missing``: an English markdown cell has no translation (or an empty one);
* ``stale``: the English cell changed since it was translated (its hash differs from the stored one);
* ``numbers``: the numbers in the Chinese text are not those of the English cell (a figure was changed, dropped
  or added: a translation keeps every number, written with digits);
* ``untranslated``: the "translation" is the English text, or holds no Chinese at all where the English is prose;
* ``markers``: the solution markers (``<!-- ### BEGIN SOLUTION -->`` / ``END``) of a written answer are not
  those of the English cell: the student edition and the grader find the answer regions by them;
* ``orphan``: an entry for a cell id the English notebook no longer has.

``tests/test_translation_sync.py`` fails on any of them, and when a built notebook's code cells differ from the
English notebook's. Each notebook's source is a plain YAML file, so a change to a translation is a readable diff,
and the book can build its Chinese pages from the same files. ``bert-edu translate stub NN`` adds empty entries
(with the hashes) for the cells still to translate.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

LANGUAGE = "zh-CN"
SUFFIX = ".zh.yaml"
HASH_CHARS = 16
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_PROSE_WORD = re.compile(r"\b[A-Za-z]{3,}\b")
_NOT_PROSE = re.compile(r"```.*?```|`[^`\n]*`|<!--.*?-->|\]\([^)]*\)|https?://\S+", re.DOTALL)
# a figure or link relative to notebooks/ must point one folder up from notebooks/zh/, except a link to another
# notebook of the course (its Chinese edition is the sibling) and the glossary (its Chinese edition)
_RELATIVE_LINK = re.compile(r"(\]\(|src=\")(?!https?:|/|#|mailto:)([^)\"\s]+)")
_SIBLING_NOTEBOOK = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb(#.*)?$")
_GLOSSARY = re.compile(r"^\.\./docs/glossary\.md(#.*)?$")
ZH_GLOSSARY = "../../docs/glossary.zh-CN.md"


class TranslationError(ValueError):
    """A translation source is unreadable or does not match its notebook; the message says which and how to fix it."""


@dataclass(frozen=True)
class Problem:
    kind: str  # missing | stale | numbers | untranslated | orphan
    cell_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:12s} cell {self.cell_id}: {self.detail}"


# The header's time row is written by `make notebooks` at every run (bert_edu.course.notebooks.time_row), not by a
# person: the translation keeps a placeholder row, the hash and the number check leave the row out, and the build
# writes the Chinese row from the notebook's recorded time.
_EN_TIME_ROW = re.compile(r"^\| \*\*Time\*\* \|.*\|$", re.MULTILINE)
_ZH_TIME_ROW = re.compile(r"^\| \*\*用时\*\* \|.*\|$", re.MULTILINE)


def _without_time_row(text: str) -> str:
    return _ZH_TIME_ROW.sub("| **用时** | |", _EN_TIME_ROW.sub("| **Time** | |", text))


def zh_time_row(record: dict) -> str:
    """The Chinese header row for a notebook's recorded run times (``metadata.bert_edu``)."""
    from bert_edu.course.notebooks import time_row

    return time_row(record, "zh")


def cell_hash(source: str) -> str:
    """The hash an entry stores of the English cell it translates (the machine-written time row left out)."""
    return hashlib.sha256(_without_time_row(source).encode("utf-8")).hexdigest()[:HASH_CHARS]


def numbers(text: str) -> Counter:
    """The numbers written with digits in ``text`` (``1,000`` and ``1000`` are the same number)."""
    return Counter(m.replace(",", "") for m in _NUMBER.findall(text))


def source_path(notebook: Path) -> Path:
    """``notebooks/13_x.ipynb`` -> ``notebooks/zh/13_x.zh.yaml``."""
    notebook = Path(notebook)
    return notebook.parent / "zh" / (notebook.stem + SUFFIX)


def output_path(notebook: Path) -> Path:
    notebook = Path(notebook)
    return notebook.parent / "zh" / notebook.name


def translated_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The English notebooks that have a translation source."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("[0-9]*.ipynb") if source_path(p).is_file())


def load_source(path: Path) -> dict:
    """``{"notebook": name, "cells": {cell_id: {"en": hash, "zh": text}}}``, checked for shape."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise TranslationError(f"{path} is not valid YAML ({err}); fix the line it names") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", {}), dict):
        raise TranslationError(f"{path} must be a mapping with 'notebook' and 'cells' (cell id -> en, zh)")
    cells = {}
    for cell_id, entry in (data.get("cells") or {}).items():
        if not isinstance(entry, dict) or set(entry) - {"en", "zh"}:
            raise TranslationError(f"{path}: cell {cell_id} must have only the keys 'en' (hash) and 'zh' (text)")
        cells[str(cell_id)] = {"en": str(entry.get("en") or ""), "zh": entry.get("zh") or ""}
    return {"notebook": data.get("notebook"), "cells": cells}


class _Literal(str):
    pass


def _literal(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def dump_source(source: dict, path: Path) -> Path:
    """Write a translation source: cells in the English notebook's order, text as YAML block scalars."""
    path = Path(path)
    header = (f"# {LANGUAGE} translation of notebooks/{source['notebook']}: one entry per markdown cell, keyed by "
              "its id.\n# en: hash of the English cell translated (bert-edu translate status says when it "
              "changed).\n# Keep every number as the English has it. Build: bert-edu translate build\n")
    cells = {cid: {"en": e["en"], "zh": _Literal(e["zh"].rstrip("\n")) if "\n" in e["zh"] else e["zh"]}
             for cid, e in source["cells"].items()}
    body = yaml.safe_dump({"notebook": source["notebook"], "cells": cells}, allow_unicode=True, sort_keys=False,
                          width=100000)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)
    return path


def _markdown_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "markdown"]


def check(nb, source: dict) -> list[Problem]:
    """Everything that keeps ``source`` from being a complete, current translation of notebook ``nb``."""
    problems = []
    entries = source["cells"]
    ids = {c.get("id") for c in nb.cells}
    for cell in _markdown_cells(nb):
        entry = entries.get(cell.id)
        first = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
        if entry is None or not str(entry["zh"]).strip():
            problems.append(Problem("missing", cell.id, f"no translation of {first!r}"))
            continue
        zh = str(entry["zh"])
        if entry["en"] != cell_hash(cell.source):
            problems.append(Problem("stale", cell.id, f"the English cell changed since it was translated ({first!r}): "
                                                      "update the translation, then its 'en' hash"))
        en_numbers, zh_numbers = numbers(_without_time_row(cell.source)), numbers(_without_time_row(zh))
        if en_numbers != zh_numbers:
            lost = sorted((en_numbers - zh_numbers).elements())
            added = sorted((zh_numbers - en_numbers).elements())
            problems.append(Problem("numbers", cell.id, f"numbers differ from the English cell: English only "
                                                        f"{lost or '-'}, Chinese only {added or '-'}"))
        if _markers(cell.source) != _markers(zh):
            problems.append(Problem("markers", cell.id, "keep the solution marker lines exactly as the English cell "
                                                        f"has them ({' / '.join(_markers(cell.source)) or 'none'}), "
                                                        "each on a line of its own; translate only the text between"))
        en_prose = _PROSE_WORD.findall(_NOT_PROSE.sub(" ", cell.source))
        if zh.strip() == cell.source.strip() and en_prose or (len(en_prose) >= 3 and not _CJK.search(zh)):
            problems.append(Problem("untranslated", cell.id, f"the text is still English ({first!r})"))
    for cell_id in entries:
        if cell_id not in ids:
            problems.append(Problem("orphan", cell_id, "the English notebook has no cell with this id: delete the "
                                                       "entry (or re-attach it to the cell's new id)"))
        elif next(c for c in nb.cells if c.get("id") == cell_id).cell_type != "markdown":
            problems.append(Problem("orphan", cell_id, "this id is a code cell: code is copied, never translated"))
    return problems


_MARKER_LINE = re.compile(r"^[ \t]*(?:<!--[ \t]*)?### (?:BEGIN|END) SOLUTION(?:[ \t]*-->)?[ \t]*$", re.MULTILINE)


def _markers(text: str) -> list[str]:
    return [m.group(0).strip() for m in _MARKER_LINE.finditer(text)]


def _relink(text: str) -> str:
    def fix(m):
        target = m.group(2)
        if _SIBLING_NOTEBOOK.match(target):
            return m.group(0)
        if _GLOSSARY.match(target):  # the Chinese glossary is one table: no per-term anchors
            return m.group(1) + ZH_GLOSSARY
        if target.split("#")[0] == "../README.md":
            return m.group(1) + "../../README.zh-CN.md"
        return m.group(1) + "../" + target

    return _RELATIVE_LINK.sub(fix, text)


def build_notebook(nb, source: dict, english_name: str, executed: bool = False):
    """The Chinese notebook: a deep copy of ``nb`` with translated markdown; code cells untouched."""
    problems = check(nb, source)
    if problems:
        raise TranslationError(f"the translation of {english_name} is not complete and current ({len(problems)} "
                               "problems):\n  " + "\n  ".join(map(str, problems)) +
                               "\nfix them (bert-edu translate status lists them), then build again")
    zh_nb = copy.deepcopy(nb)
    row = zh_time_row(nb.metadata.get("bert_edu", {}))
    for index, cell in enumerate(zh_nb.cells):
        if cell.cell_type == "markdown":
            cell.source = _relink(str(source["cells"][cell.id]["zh"]).rstrip("\n"))
            if index == 0:  # the machine writes the measured time into the first cell's row only, as in English
                cell.source = _ZH_TIME_ROW.sub(lambda _: row, cell.source)
    zh_nb.metadata["language"] = LANGUAGE
    zh_nb.metadata["bert_edu_translation"] = {
        "language": LANGUAGE, "english": f"notebooks/{english_name}",
        "source": f"notebooks/zh/{Path(english_name).stem}{SUFFIX}",
        "generated_by": "bert-edu translate build (edit the source, not this file)",
        # True once make notebooks ran this edition itself (outputs in Chinese); a rebuild keeps that run
        "executed": executed}
    return zh_nb


def build(notebook: Path) -> Path:
    """Write ``notebooks/zh/<name>.ipynb`` from the English notebook and its translation source."""
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    out = output_path(notebook)
    executed = _own_run(nb, out)
    if executed is not None:  # keep the Chinese edition's own run (its checkers printed Chinese), same code
        nb = copy.deepcopy(nb)
        for cell, own in zip(nb.cells, executed.cells):
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = own.outputs, own.execution_count
        for key in ("bert_edu", "widgets"):
            if key in executed.metadata:
                nb.metadata[key] = executed.metadata[key]
            else:
                nb.metadata.pop(key, None)
    zh_nb = build_notebook(nb, load_source(source_path(notebook)), notebook.name, executed is not None)
    tmp = out.with_name(out.name + ".tmp")
    nbformat.write(zh_nb, tmp)
    tmp.replace(out)
    return out


def _own_run(nb, out: Path):
    """The existing Chinese notebook when it was executed as a Chinese edition (``make notebooks``) from exactly
    the English notebook's code cells, else None: then the build takes the English outputs until it is run."""
    if not out.is_file():
        return None
    try:
        old = nbformat.read(out, as_version=4)
    except Exception:
        return None
    if code_differences(nb, old) or old.metadata.get("bert_edu_translation", {}).get("executed") is not True:
        return None
    return old


def code_differences(english, chinese) -> list[str]:
    """Where the code cells of a built Chinese notebook differ from the English notebook's (id, order, source)."""
    en = [(c.get("id"), c.source) for c in english.cells if c.cell_type == "code"]
    zh = [(c.get("id"), c.source) for c in chinese.cells if c.cell_type == "code"]
    found = []
    if [i for i, _ in en] != [i for i, _ in zh]:
        found.append("the code cells are not the same cells in the same order as in the English notebook")
    zh_by_id = dict(zh)
    for cell_id, a in en:
        if cell_id not in zh_by_id:
            found.append(f"code cell {cell_id} is missing (a new English cell? run bert-edu translate build)")
        elif a != zh_by_id[cell_id]:
            found.append(f"code cell {cell_id} differs from the English one")
    if [c.get("id") for c in english.cells] != [c.get("id") for c in chinese.cells]:
        found.append("the cells (ids, order) are not those of the English notebook")
    return found


def stub(notebook: Path) -> tuple[Path, int]:
    """Add an empty entry, with the English cell's hash, for every markdown cell that has none; keep the rest.
    Returns (source path, number of entries added)."""
    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    path = source_path(notebook)
    source = load_source(path) if path.is_file() else {"notebook": notebook.name, "cells": {}}
    ordered, added = {}, 0
    for cell in _markdown_cells(nb):
        if cell.id in source["cells"]:
            ordered[cell.id] = source["cells"][cell.id]
        else:
            ordered[cell.id] = {"en": cell_hash(cell.source), "zh": ""}
            added += 1
    ordered.update({k: v for k, v in source["cells"].items() if k not in ordered})  # orphans stay, to be re-attached
    return dump_source({"notebook": notebook.name, "cells": ordered}, path), added


# ------------------------------------------------------------------------------------------------ command line


def _resolve(names: list[str], folder: Path) -> list[Path]:
    if not names:
        return translated_notebooks(folder)
    found = []
    for name in names:
        matches = [Path(name)] if Path(name).suffix == ".ipynb" and Path(name).is_file() else \
            sorted(folder.glob(f"{name}*.ipynb")) if name[:2].isdigit() else []
        if len(matches) != 1:
            raise TranslationError(f"no single notebook matches {name!r} in {folder}: pass NN (e.g. 13) or a path "
                                   "to an English notebook")
        found.append(matches[0])
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bert-edu translate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the folder of the English notebooks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, help_ in [("status", "list missing, stale, wrong-number and untranslated cells (exit 1 if any)"),
                        ("build", "write notebooks/zh/NN_*.ipynb from the English notebooks and the sources"),
                        ("stub", "add empty entries for the cells still to translate")]:
        p = sub.add_parser(name, help=help_)
        p.add_argument("names", nargs="*" if name != "stub" else "+", metavar="NN",
                       help="notebook numbers or paths (default: every notebook that has a translation source)")
    args = parser.parse_args(argv)
    try:
        paths = _resolve(args.names, args.notebooks)
        if not paths:
            print(f"no notebook in {args.notebooks} has a translation source (notebooks/zh/NN_name{SUFFIX})")
            return 0
        if args.cmd == "stub":
            for path in paths:
                out, added = stub(path)
                print(f"{out}: {added} entries to translate")
            return 0
        if args.cmd == "status":
            bad = 0
            for path in paths:
                src = source_path(path)
                problems = check(nbformat.read(path, as_version=4), load_source(src)) if src.is_file() else \
                    [Problem("missing", "*", f"no translation source {src}")]
                bad += bool(problems)
                print(f"{path.name}: {'OK' if not problems else f'{len(problems)} problems'}")
                for p in problems:
                    print(f"  {p}")
            return 1 if bad else 0
        for path in paths:
            print(f"wrote {build(path)}")
        return 0
    except (TranslationError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

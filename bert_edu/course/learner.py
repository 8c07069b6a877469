"""The learner's own BERT, collected from the notebooks: ``chapter("03").BertSelfAttention``.

Notebooks 02-05 build BERT's modules in cells whose first line is ``#| export`` (d2l's ``#@save``, rasbt's
``previous_chapters.py``). A later notebook reaches them with::

    from bert_edu.course.learner import chapter
    BertAttention = chapter("03").BertAttention

:func:`chapter` reads the ``#| export`` cells of the saved notebook (``03_attention.ipynb`` in the folder the
notebook runs from, else the course's ``notebooks/``), runs them in a fresh module, and checks every piece
listed in :data:`CHAPTERS` with its exercise checker, which compares it with the package's reference on a tiny
config. A piece that does not pass (not written yet, as in the student edition, or wrong) is replaced by the
reference, and a one-line note says so, as ``use_or_reference`` does inside a notebook. So later notebooks run
in any order and in any state of the earlier ones, on the learner's code wherever it is right.

Used by notebooks 03, 04, 05 and later ones; tests/test_learner.py ties the notebooks' classes to the package.
"""

from __future__ import annotations

import importlib
import json
import linecache
import os
import types
from pathlib import Path

import torch

EXPORT = "#| export"

# chapter -> (notebook name, [(exported name, reference "module:attribute", checker in bert_edu.exercises)])
CHAPTERS = {
    "02": ("02_embeddings", [
        ("BertEmbeddings", "bert_edu.model.embeddings:BertEmbeddings", "check_bert_embeddings"),
    ]),
    "03": ("03_attention", [
        ("attention", "bert_edu.exercises.attention:reference_attention", "check_attention"),
        ("split_heads", "bert_edu.model.attention:split_heads", "check_split_heads"),
        ("merge_heads", "bert_edu.model.attention:merge_heads", "check_merge_heads"),
        ("BertSelfAttention", "bert_edu.model.attention:BertSelfAttention", "check_bert_self_attention"),
        ("BertSelfOutput", "bert_edu.model.attention:BertSelfOutput", "check_bert_self_output"),
        ("BertAttention", "bert_edu.model.attention:BertAttention", "check_bert_attention"),
    ]),
    "04": ("04_encoder", [
        ("BertIntermediate", "bert_edu.model.encoder:BertIntermediate", "check_bert_intermediate"),
        ("BertOutput", "bert_edu.model.encoder:BertOutput", "check_bert_output"),
        ("BertLayer", "bert_edu.model.encoder:BertLayer", "check_bert_layer"),
        ("BertEncoder", "bert_edu.model.encoder:BertEncoder", "check_bert_encoder"),
    ]),
    "05": ("05_bert_model", [
        ("BertPooler", "bert_edu.model.bert:BertPooler", "check_bert_pooler"),
        ("BertModel", "bert_edu.model.bert:BertModel", "check_bert_model"),
    ]),
}

_cache: dict[tuple, types.ModuleType] = {}
_loading: list[tuple[Path, list]] = []  # (folder, chapters it imported) of each chapter being loaded, innermost last


def notebooks_dir() -> Path:
    """Where the learner's notebooks are: $BERT_EDU_NOTEBOOKS, else the working folder when it holds course
    notebooks (Jupyter, nbval and the student edition run a notebook from its own folder), else notebooks/."""
    if _loading:  # a chapter's exported cells import an earlier chapter: from the same folder
        return _loading[-1][0]
    if os.environ.get("BERT_EDU_NOTEBOOKS"):
        return Path(os.environ["BERT_EDU_NOTEBOOKS"])
    here = Path.cwd()
    if any(here.glob("0[2-5]_*.ipynb")):
        return here
    return Path(__file__).resolve().parents[2] / "notebooks"


def export_cells(path: Path) -> list[tuple[int, str]]:
    """(cell index, source) of every code cell whose first line is ``#| export``."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    out = []
    for index, cell in enumerate(cells):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "code" and source.lstrip().startswith(EXPORT):
            # IPython magics and shell lines are not Python; exported cells should not need them
            lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
            out.append((index, "\n".join(lines) + "\n"))
    return out


def _reference(spec: str):
    module, attribute = spec.split(":")
    return getattr(importlib.import_module(module), attribute)


def _passes(obj, check) -> bool:
    with torch.random.fork_rng(devices=[]):  # checks seed torch; leave the notebook's random state alone
        try:
            return bool(check(obj, quiet=True))
        except Exception:
            return False


def _load(number: str, path: Path) -> types.ModuleType:
    import bert_edu.exercises as exercises

    module = types.ModuleType(f"learner_ch{number}", f"The exported cells of {path.name}")
    module.__file__ = str(path)
    module.yours, module.reference, module.notes = [], [], []
    imported = []
    _loading.append((path.parent, imported))
    try:
        for index, source in export_cells(path):
            filename = f"<{path.name} cell {index}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # readable tracebacks
            try:
                exec(compile(source, filename, "exec"), module.__dict__)
            except Exception as err:  # a broken cell must not stop the notebook that imports the chapter
                module.notes.append(f"cell {index} of {path.name} raised {type(err).__name__}: {err}; "
                                    "its definitions are skipped")
    finally:
        _loading.pop()
    for earlier, other in imported:
        if other.reference:
            module.notes.append(f"{path.name} uses chapter {earlier}, where the reference stands in for "
                                f"{', '.join(other.reference)}; run chapter(\"{earlier}\") to see why.")
    for name, spec, check_name in CHAPTERS[number][1]:
        reference = _reference(spec)
        mine = module.__dict__.get(name)
        if mine is not None and _passes(mine, getattr(exercises, check_name)):
            module.yours.append(name)
            continue
        setattr(module, name, reference)  # later classes of this chapter then use the reference
        module.reference.append(name)
        why = "is not in an exported cell" if mine is None else "does not pass its check yet"
        module.notes.append(f"your `{name}` in {path.name} {why}, so chapter(\"{number}\").{name} is the reference "
                            f"`{spec.replace(':', '.')}`. Run `{check_name}({name})` in that notebook to see what "
                            "is missing; once it passes, save the notebook and re-run this cell.")
    return module


def chapter(number, folder=None, *, quiet: bool = False) -> types.ModuleType:
    """The learner's exported code of notebook ``number`` ("02" .. "05") as a module; every piece that does not
    pass its check is the package's reference instead, with a note saying so."""
    number = f"{int(number):02d}"
    nested = bool(_loading)  # called by an exported cell of another chapter: its notes go to that chapter's
    quiet = quiet or nested
    if number not in CHAPTERS:
        raise ValueError(f"chapter {number!r} exports nothing; the chapters with modules are {sorted(CHAPTERS)}")
    folder = Path(folder) if folder is not None else notebooks_dir()
    path = folder / f"{CHAPTERS[number][0]}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: chapter(\"{number}\") reads the saved notebook; run from the "
                                "course's notebooks folder or set BERT_EDU_NOTEBOOKS to the folder that holds it")
    # an earlier chapter's notebook may have changed too (chapter 04 imports chapter 03)
    key = (str(path.resolve()),) + tuple((p.name, p.stat().st_mtime_ns) for p in sorted(folder.glob("0[2-5]_*.ipynb")))
    if key not in _cache:
        _cache[key] = _load(number, path)
    module = _cache[key]
    if nested and (number, module) not in _loading[-1][1]:
        _loading[-1][1].append((number, module))
    if not quiet:
        from bert_edu.exercises._messages import say

        for note in module.notes:
            print(say(f"Note: {note}"))
        if module.yours:
            print(say(f"chapter {number}: yours from {path.name}: {', '.join(module.yours)}"))
    return module

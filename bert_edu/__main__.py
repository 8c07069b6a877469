"""`bert-edu`: one command for the course. `bert-edu info` (the default) prints versions, device and asset
status for bug reports; every other subcommand is the same as its `python -m bert_edu.<name>` form and
takes the same flags (`bert-edu pretrain --help`)."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata

def requirements() -> dict[str, str]:
    """package -> minimum version, read from the installed package's metadata (pyproject.toml is the
    single source of truth; environment.yml is checked against it by tests/test_packaging.py)."""
    import re

    try:
        lines = metadata.requires("bert-edu") or []
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        lines = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    out = {}
    for line in lines:
        if "extra ==" in line:
            continue
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][^,;\s]*))?", line)
        if m:
            out[m.group(1).lower()] = m.group(2) or "0"
    return out


def _version_tuple(v: str) -> tuple:
    parts = []
    for piece in v.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_versions() -> list[tuple[str, str | None, str, bool]]:
    """(package, installed version or None, minimum, ok) for every requirement."""
    rows = []
    for name, minimum in requirements().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        ok = installed is not None and _version_tuple(installed) >= _version_tuple(minimum)
        rows.append((name, installed, minimum, ok))
    return rows


def info() -> int:
    from bert_edu.data import assets
    from bert_edu import __version__

    print(f"bert-edu {__version__}")
    print(f"python   {platform.python_version()} ({sys.executable})")
    print(f"platform {platform.platform()}")
    bad = 0
    for name, installed, minimum, ok in check_versions():
        bad += not ok
        print(f"  [{'OK' if ok else 'FAIL'}] {name:12s} {installed or 'not installed':14s} (needs >= {minimum})")
    try:
        from bert_edu.train.device import describe

        print(f"device   {describe()}")
    except Exception as err:  # torch missing or broken: say so, keep going
        print(f"device   unknown ({err})")
    print(f"cache    {assets.cache_dir()}")
    for name, found in assets.status().items():
        bad += bool(found)
        print(f"  [{'FAIL' if found else 'OK'}] asset {name}" + (f": {'; '.join(found)}" if found else ""))
    if bad:
        print(f"fix missing packages with `pip install -e .`, missing assets with `{assets.FIX_COMMAND}`")
    return 1 if bad else 0


# subcommand -> (module whose main(argv) it runs, one line of help). Each is also `python -m <module>`.
COMMANDS = {
    "assets": ("bert_edu.data.assets", "fetch, verify and locate the offline assets"),
    "data": ("bert_edu.data.__main__", "write the course's data (sentiment split, corpus) to files"),
    "pretrain": ("bert_edu.train.pretrain", "MLM + NSP pretraining (notebook 07)"),
    "finetune": ("bert_edu.train.classify", "fine-tune a text classifier (notebook 08)"),
    "ner": ("bert_edu.train.ner", "fine-tune a named-entity tagger (notebook 10)"),
    "qa": ("bert_edu.train.qa", "fine-tune extractive question answering (notebook 11)"),
    "predict": ("bert_edu.train.predict", "predict with a saved model"),
    "student": ("bert_edu.course.student_edition", "write the student edition of the notebooks"),
    "course": ("bert_edu.course.launch", "open the course in JupyterLab (exercise edition; --solutions)"),
    "notebooks": ("bert_edu.course.notebooks", "re-execute notebooks in place"),
    "book": ("bert_edu.course.book", "the executed course as a static site that opens offline (and its zip)"),
    "test": ("bert_edu.course.suite", "what `make test` runs: fetch the assets, then the tests and every notebook"),
    "grade": ("bert_edu.course.grade", "grade a class's notebooks: grades.csv, feedback pages, class report"),
    "progress": ("bert_edu.course.progress", "which exercises pass and which are open, per notebook"),
    "translate": ("bert_edu.course.translate", "the Chinese edition: build notebooks/zh/, list missing or stale cells"),
}


def available_commands() -> dict:
    """The subcommands whose module exists in this version of the package."""
    from importlib.util import find_spec

    return {name: spec for name, spec in COMMANDS.items() if find_spec(spec[0]) is not None}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = available_commands()
    if argv and argv[0] in commands:
        import importlib

        module = importlib.import_module(commands[argv[0]][0])
        return module.main(argv[1:])
    epilog = "subcommands:\n" + "\n".join(f"  {name:10s} {help_}" for name, (_, help_) in commands.items())
    parser = argparse.ArgumentParser(prog="bert-edu", description=__doc__, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="info", choices=["info", *commands],
                        help="info (default) or one of the subcommands below")
    parser.parse_args(argv)
    return info()


if __name__ == "__main__":
    sys.exit(main())

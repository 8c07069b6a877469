"""`python -m bert_edu` (or `bert-edu info`): versions, device and asset status, for bug reports."""

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
    from bert_edu import __version__, assets

    print(f"bert-edu {__version__}")
    print(f"python   {platform.python_version()} ({sys.executable})")
    print(f"platform {platform.platform()}")
    bad = 0
    for name, installed, minimum, ok in check_versions():
        bad += not ok
        print(f"  [{'OK' if ok else 'FAIL'}] {name:12s} {installed or 'not installed':14s} (needs >= {minimum})")
    try:
        from bert_edu.device import describe

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bert-edu", description=__doc__)
    parser.add_argument("command", nargs="?", default="info", choices=["info"])
    parser.parse_args(argv)
    return info()


if __name__ == "__main__":
    sys.exit(main())

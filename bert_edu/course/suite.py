"""`bert-edu test`: the test run of `make test`, without `make` (Windows, conda): fetch the assets, then run the
unit tests, the browser tests, the book build and every notebook under nbval, from the root of a clone.

    bert-edu test                 # = make test (after its setup)
    bert-edu test -- -k book      # extra arguments after `--` go to pytest

It runs the same commands as the Makefile's `test` target (tests/test_constraints.py checks that the two agree).
The tests and the notebooks are not in the wheel: this needs a clone of the repository (`pip install -e .` in it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The commands of `make test` (its setup fetches the default assets first), with `python` for $(PY).
ASSET_STEPS = [
    ["-m", "bert_edu.assets", "download"],
    ["-m", "bert_edu.assets", "download", "chinese_reviews"],  # on request (38 MB): notebook 13 and its tests
]
PYTEST = ["-m", "pytest", "-v", "--durations=20", "--nbval-lax", "--nbval-current-env", "tests", "notebooks"]
# the environment of the pytest step: BERT_EDU_SMOKE unset, so the solution notebooks run the real recipe
PYTEST_ENV = {"BERT_EDU_SMOKE": ""}
UNIT = ["-m", "pytest", "-q", "tests", "-k", "not course_notebook"]  # `make unit`


def clone_root(start: Path | None = None) -> Path | None:
    """The clone this package was installed from (editable), or None for an installed wheel."""
    start = start or ROOT
    return start if (start / "tests").is_dir() and (start / "notebooks").is_dir() else None


def commands(extra: list[str] = (), unit: bool = False) -> list[list[str]]:
    if unit:
        return [[sys.executable, *ASSET_STEPS[0]], [sys.executable, *UNIT, *extra]]
    return [[sys.executable, *step] for step in ASSET_STEPS] + [[sys.executable, *PYTEST, *extra]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bert-edu test", description=__doc__.split("\n\n")[0])
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest (after --)")
    parser.add_argument("--unit", action="store_true",
                        help="the unit tests only, without executing the notebooks (what `make unit` runs)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    args = parser.parse_args(argv)
    root = clone_root()
    if root is None:
        print("error: bert-edu test needs a clone of the repository (the tests and notebooks are not in the "
              f"installed package at {ROOT}): git clone the repository, then in it: pip install -e \".[course,test]\" "
              "&& bert-edu test", file=sys.stderr)
        return 2
    for cmd in commands(args.pytest_args, unit=args.unit):
        print("[bert-edu test] " + " ".join(cmd[1:] if cmd[0] == sys.executable else cmd), flush=True)
        if args.dry_run:
            continue
        env = {**os.environ, **PYTEST_ENV} if "pytest" in cmd else None
        code = subprocess.call(cmd, cwd=root, env=env)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

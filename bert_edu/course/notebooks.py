"""Re-execute course notebooks in place (what we commit), printing how long each took.

    python -m bert_edu.course.notebooks execute notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def execute(path: Path, timeout: int = 1800) -> float:
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_edu.course.notebooks")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("execute", help="execute notebooks in place, in the order given")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    total = 0.0
    for path in args.paths:
        print(f"executing {path} ...", flush=True)
        seconds = execute(path, args.timeout)
        total += seconds
        print(f"  {path.name}: {seconds:.0f} s", flush=True)
    print(f"all {len(args.paths)} notebook(s): {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

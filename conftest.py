"""Print how long each notebook took under nbval, and the total (the course's run-time budget)."""

import time
from collections import OrderedDict

_notebook_seconds: "OrderedDict[str, float]" = OrderedDict()

# The Chinese edition (notebooks/zh/, built by `bert-edu translate build`) has the English code cells: it is checked by
# tests/test_translation_sync.py, not by a second nbval pass (issue 29).
collect_ignore_glob = ["notebooks/zh/*"]


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] = _notebook_seconds.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("notebook run times (nbval, this machine)")
    for path, seconds in _notebook_seconds.items():
        tr.write_line(f"{path:55s} {seconds:7.1f} s")
    total = sum(_notebook_seconds.values())
    tr.write_line(f"{'all notebooks':55s} {total:7.1f} s  ({total / 60:.1f} min)")


def pytest_collection_modifyitems(session, config, items):
    """A checked cell (``# NBVAL_CHECK_OUTPUT``) is compared on what it prints and returns, not on warnings:
    a library's warning on stderr depends on its version and the machine (seen: a parity cell each in notebooks 10
    and 11 failed only because something warned on stderr under transformers 5.17, torch 2.11 and CUDA), and a
    warning is not a result. Errors still fail the cell."""
    for item in items:
        notebook = item.parent
        skip = getattr(notebook, "skip_compare", None)
        if skip is not None and "stderr" not in skip:
            notebook.skip_compare = skip + ("stderr",)

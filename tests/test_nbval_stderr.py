"""The repo's conftest.py makes checked notebook cells ignore warnings on stderr, and nothing else."""

import subprocess
import sys
import uuid
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _notebook(source: str, stdout: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\n" + source,
                                     outputs=[nbformat.v4.new_output("stream", name="stdout", text=stdout)])
    cell.execution_count = 1
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]
    return nb


def _nbval(nb) -> subprocess.CompletedProcess:
    path = ROOT / "tests" / f"_stderr_{uuid.uuid4().hex[:8]}.ipynb"  # inside the repo: its conftest applies
    nbformat.write(nb, path)
    try:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                               "--nbval-current-env", str(path)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
    finally:
        path.unlink()


def test_a_warning_on_stderr_does_not_fail_a_checked_cell():
    warns = "import sys, warnings\nwarnings.warn('a library changed its mind')\nprint('same result')\n"
    result = _nbval(_notebook(warns, "same result\n"))
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_different_printed_result_still_fails():
    result = _nbval(_notebook("print('another result')\n", "same result\n"))
    assert result.returncode == 1 and "Cell outputs differ" in result.stdout

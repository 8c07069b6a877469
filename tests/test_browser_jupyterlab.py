"""A learner's run of JupyterLab, in a real browser: the exercise edition of notebook 02, "Run All Cells", the
checker's "not implemented yet", a correct solution typed into the exercise cell, run again, the checker passes.
A screenshot of each of the four states goes to test-artifacts/jupyterlab/ (CI keeps the folder).

Playwright for Python on the system's Chromium (tests/browser_support.py); the browser may reach only the local
JupyterLab server. Skipped outside CI without Chromium or Playwright, naming the command that installs them;
failed in CI."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser_support import ARTIFACTS, Offline, launch, needs_a_browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "02_embeddings.ipynb"
EXERCISE = "def embedding_parameters("
CHECK = "check_embedding_parameters(embedding_parameters)"
SOLUTION = ("def embedding_parameters(vocab_size, hidden_size, max_position_embeddings, type_vocab_size):\n"
            "    tables = (vocab_size + max_position_embeddings + type_vocab_size) * hidden_size\n"
            "    return tables + 2 * hidden_size  # LayerNorm's weight and bias\n")
TIMEOUT_MS = 240_000  # run all of notebook 02 (about 10 s on an idle 2-core machine) plus the kernel's start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exercise_edition(tmp: Path) -> Path:
    """The exercise edition, as a learner gets it: `bert-edu course --print-folder` (it builds it and prints the
    folder as its last line), or, where this version has no `course` command yet, the student edition."""
    from bert_edu.__main__ import available_commands

    folder = tmp / "student"
    if "course" in available_commands():
        out = subprocess.run([sys.executable, "-m", "bert_edu", "course", "--print-folder", "--folder", str(folder)],
                             capture_output=True, text=True, check=True, cwd=ROOT).stdout
        return Path(out.strip().splitlines()[-1])
    subprocess.run([sys.executable, "-m", "bert_edu.student_edition", str(folder)], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    needs_a_browser()
    tmp = tmp_path_factory.mktemp("lab")
    folder = exercise_edition(tmp)
    assert (folder / NOTEBOOK).is_file()
    port, token = _free_port(), "bert-edu-browser-test"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "jupyterlab.log", "wb")
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, \
                    "JupyterLab did not start:\n" + (tmp / "jupyterlab.log").read_text(errors="replace")[-3000:]
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_a_learner_runs_notebook_02_and_solves_an_exercise(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    shots = ARTIFACTS / "jupyterlab"
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    with sync_playwright() as p:
        browser = launch(p)
        local = Offline(browser, allow=(base, "data:", "blob:"))  # the local server, nothing else
        page = local.new_page()
        page.set_viewport_size({"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            exercise = page.locator(".jp-CodeCell", has_text=EXERCISE).first
            check = page.locator(".jp-CodeCell", has_text=CHECK).first
            exercise.wait_for(timeout=TIMEOUT_MS)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                         "#jp-main-statusbar :text('Idle')").first.wait_for(timeout=TIMEOUT_MS)
            page.screenshot(path=str(shots / "1-opened.png"))

            # Run > Run All Cells
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            output = check.locator(".jp-OutputArea")
            output.get_by_text("not implemented yet").wait_for(timeout=TIMEOUT_MS)
            check.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "2-not-implemented-yet.png"))
            assert "cases passed" not in output.inner_text()

            # the learner replaces the cell's text with a solution (inserted as typed text, without auto-indent)
            exercise.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(SOLUTION)
            assert "raise NotImplementedError" not in exercise.locator(".cm-content").inner_text()
            page.screenshot(path=str(shots / "3-solution-typed.png"))

            page.keyboard.press("Shift+Enter")  # runs the exercise cell, moves to the check
            check.locator(".cm-content").click()
            page.keyboard.press("Shift+Enter")
            output.get_by_text("3/3 cases passed").wait_for(timeout=TIMEOUT_MS)
            check.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "4-check-passed.png"))
            assert "not implemented yet" not in output.inner_text()
        finally:
            local.close()
            browser.close()
    assert not local.blocked, f"JupyterLab asked the network for: {local.blocked}"
    assert sorted(q.name for q in shots.glob("*.png")) == ["1-opened.png", "2-not-implemented-yet.png",
                                                          "3-solution-typed.png", "4-check-passed.png"]

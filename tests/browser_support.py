"""Real-browser tests: Playwright for Python driving the system's Chromium (never `playwright install`).

Needs Chromium (/usr/bin/chromium, or $BERT_EDU_CHROMIUM) and the `playwright` package, which
`sudo bash .ci/browser-setup.sh` installs (apt for Chromium, pip for Playwright into .venv). Without them the
tests are skipped naming that command; in CI (CI=true) they fail instead (tests/system_requirements.py).
Screenshots go to test-artifacts/ (gitignored; CI keeps it), or $BERT_EDU_ARTIFACTS.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from system_requirements import require

SETUP = "sudo bash .ci/browser-setup.sh"
CHROMIUM = os.environ.get("BERT_EDU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("BERT_EDU_ARTIFACTS") or ROOT / "test-artifacts")


def missing_requirements(chromium: str = CHROMIUM) -> list[str]:
    """What the browser tests need from outside the course's dependencies and do not find."""
    missing = []
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        missing.append(f"the Chromium browser ({chromium}; set BERT_EDU_CHROMIUM to use one elsewhere)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install playwright; no `playwright install`: "
                       "it drives the system's Chromium)")
    return missing


def launch(playwright):
    """Headless system Chromium. --no-sandbox: CI runs as root, where Chromium's sandbox cannot start."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])


class Offline:
    """A browser context in which every request that is not a file (or inline data) is blocked and recorded,
    and every console error, page error and failed request is collected."""

    def __init__(self, browser, allow=("file://", "data:")):
        self.context = browser.new_context()
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.allow = allow
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.allow):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def new_page(self):
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type in ("error", "assert") else None)
        page.on("pageerror", lambda e: self.errors.append(f"exception: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))
        return page

    def close(self):
        self.context.close()


def needs_a_browser():
    require(missing_requirements(), SETUP)

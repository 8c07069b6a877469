"""What the test suite needs from outside Python, and what a test does when it is missing.

On a learner's or developer's machine (``make test`` on a fresh clone, no root, maybe macOS) a test that needs
a program Python cannot install, such as a headless Chromium, is *skipped*, with a reason that names the
command that installs it. In CI (``CI=true``, set by ``.ci/run``) the same test *fails*: there everything must
run, and a test that skipped itself would go silently untested.

    from system_requirements import require
    require(["the Chromium browser (/usr/bin/chromium)"], "sudo bash .ci/browser-setup.sh")
"""

from __future__ import annotations

import os

import pytest


def in_ci(environ=os.environ) -> bool:
    """True when the suite runs in CI (``CI`` set to 1/true/yes, as CI services do)."""
    return environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def decide(missing: list[str], install: str, ci: bool) -> tuple[str, str] | None:
    """``None`` when nothing is missing; else ``("skip" | "fail", reason)``: fail in CI, skip elsewhere.
    The reason names what is missing and the command that installs it."""
    if not missing:
        return None
    reason = f"needs {'; '.join(missing)}, which Python cannot install. Install with: {install}"
    if ci:
        return "fail", reason + " (CI=true: in CI a missing requirement fails the test instead of skipping it)"
    return "skip", reason


def require(missing: list[str], install: str) -> None:
    """Skip (outside CI) or fail (in CI) the calling test or fixture when ``missing`` is not empty."""
    decision = decide(missing, install, in_ci())
    if decision is None:
        return
    action, reason = decision
    if action == "fail":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)

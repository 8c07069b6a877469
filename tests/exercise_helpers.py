"""Shared assertions for exercise-checker tests (tests/test_exercises_<topic>.py).

Every checker must pass the reference and fail, with a helpful message, on at least two typical wrong
implementations. Use these two helpers so every topic is tested the same way.
"""

from __future__ import annotations


def assert_checker_passes(check, fn, capsys):
    ok = check(fn)
    out = capsys.readouterr().out
    assert ok is True, f"{check.__name__} rejected the reference:\n{out}"
    assert "cases passed" in out


def assert_checker_fails(check, wrong_fn, capsys, *, hint: str | None = None):
    """``hint``: a phrase the verdict must contain (the likely-mistake message for this wrong version)."""
    ok = check(wrong_fn)
    out = capsys.readouterr().out
    assert ok is False, f"{check.__name__} accepted a wrong implementation {wrong_fn.__name__}:\n{out}"
    assert "[FAIL]" in out, out
    assert "AssertionError" not in out, f"the verdict must explain, not just say AssertionError:\n{out}"
    if hint is not None:
        assert hint.lower() in out.lower(), f"expected the hint {hint!r} in the verdict:\n{out}"

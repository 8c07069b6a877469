"""The machinery behind every ``check_<name>`` function (notebook 00 shows how exercises work): run the
learner's code on several cases, compare with the reference, and print a verdict a learner can act on.

A checker is written like this::

    def check_gelu(fn, quiet=False) -> bool:
        ck = Checker("gelu", fn, quiet=quiet)
        x = torch.linspace(-4, 4, 101)
        with ck.case("101 points in [-4, 4]") as case:
            case.expect_close(
                fn(x), reference_gelu(x),
                mistakes={"you used the tanh approximation; BERT uses the exact erf form": tanh_gelu(x)},
            )
        return ck.verdict()

* An exception in the learner's code is reported with its type, message and the line of their code,
  never as a bare ``AssertionError``; ``NotImplementedError`` means "not started yet".
* ``mistakes`` maps a hint to what a typical wrong implementation returns on the same input: when the
  learner's output matches one of them, that hint is printed. This is how a checker can say "the mask
  was applied after the softmax" instead of "values differ".
* A function that returns ``None`` gets "did you forget ``return``?", a wrong shape gets both shapes
  (and a transpose hint when the sizes are the same in another order), NaN/inf gets its likely causes.
* Every line a learner reads goes through :func:`bert_edu.exercises._messages.say`, which prints it in Chinese
  in the Chinese edition (catalogues/zh.yaml); a new English message needs its translation there
  (``python -m bert_edu.exercises._messages extract``, then ``check``). The ``[OK]``/``[FAIL]`` markers stay as
  they are in every language: short, aligned, and what ``bert-edu grade`` and ``progress`` look for.
"""

from __future__ import annotations

import os
import random
import sysconfig
import traceback
from contextlib import contextmanager
from typing import Any, Callable

from bert_edu.exercises._messages import say

try:  # torch is optional for checkers that only handle Python values
    import torch
except ImportError:  # pragma: no cover
    torch = None


class CaseFailed(Exception):
    """Raised inside a case to stop it; carries the message shown to the learner."""


def _is_tensor(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _shape(x):
    if _is_tensor(x):
        return tuple(x.shape)
    if hasattr(x, "shape"):
        return tuple(x.shape)
    return None


def _as_float64(x):
    if _is_tensor(x):
        return x.detach().cpu().to(torch.float64)
    return torch.as_tensor(x, dtype=torch.float64)


def _close(got, expected, atol: float, rtol: float) -> bool:
    try:
        g, e = _as_float64(got), _as_float64(expected)
    except Exception:
        return False
    return g.shape == e.shape and bool(torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=False))


def _equal(got, expected) -> bool:
    """Exact equality that never raises: tensors by shape and value, everything else with ``==``."""
    if _is_tensor(got) or _is_tensor(expected):
        if not (_is_tensor(got) and _is_tensor(expected)):
            # a one-element tensor equals the Python number it holds: torch.tensor(7) == 7
            tensor, other = (got, expected) if _is_tensor(got) else (expected, got)
            if isinstance(other, (int, float)) and tensor.numel() == 1:
                return tensor.item() == other
            return False
        return got.shape == expected.shape and bool(torch.equal(got.detach().cpu(), expected.detach().cpu()))
    try:
        same = got == expected
        if hasattr(same, "all") and not isinstance(same, bool):  # numpy arrays compare elementwise
            return _shape(got) == _shape(expected) and bool(same.all())
        return bool(same)
    except Exception:
        return False


def _short(x, limit: int = 160) -> str:
    if _is_tensor(x):
        x = x.detach().cpu()
        text = repr(x.flatten()[:8].tolist()) + (" ..." if x.numel() > 8 else "")
    else:
        text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_NONE_MESSAGE = "your function returned None: did you forget the `return` statement?"


class Case:
    def __init__(self, name: str):
        self.name = name

    def expect_close(self, got, expected, *, atol: float = 1e-5, rtol: float = 1e-4,
                     mistakes: dict[str, Any] | None = None, what: str = "output") -> None:
        """Numbers (tensors, arrays, floats) must match the reference within tolerance."""
        if got is None and expected is not None:
            raise CaseFailed(_NONE_MESSAGE)
        if _is_tensor(expected) and not _is_tensor(got):
            raise CaseFailed(f"expected a torch.Tensor as {what}, got {type(got).__name__}")
        exp_shape, got_shape = _shape(expected), _shape(got)
        if exp_shape is not None and got_shape != exp_shape:
            hint = ""
            if got_shape is not None and sorted(got_shape) == sorted(exp_shape):
                hint = " The same sizes in another order: check which axes you transposed or reshaped."
            raise CaseFailed(f"{what} has shape {got_shape}, expected {exp_shape}.{hint}")
        if _is_tensor(got) and not torch.isfinite(got).all() and torch.isfinite(expected).all():
            raise CaseFailed(f"{what} contains NaN or inf where the reference is finite "
                             "(a softmax over a row that is all -inf? a division by zero?)")
        if _close(got, expected, atol, rtol):
            return
        for hint, wrong in (mistakes or {}).items():
            if _close(got, wrong, atol, rtol):
                raise CaseFailed(f"{what} does not match the reference. Likely mistake: {hint}")
        detail = ""
        try:
            diff = (_as_float64(got) - _as_float64(expected)).abs()
            idx = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0]) if diff.dim() else ()
            detail = f" Largest difference {diff.max().item():.3g} at index {idx}."
        except Exception:
            pass
        raise CaseFailed(f"{what} differs from the reference.{detail}\n"
                         f"      expected: {_short(expected)}\n      got:      {_short(got)}")

    def expect_equal(self, got, expected, *, mistakes: dict[str, Any] | None = None,
                     what: str = "output") -> None:
        """Exact equality (token lists, ids, labels, tensors of integers)."""
        if _equal(got, expected):
            return
        if got is None:
            raise CaseFailed(_NONE_MESSAGE)
        for hint, wrong in (mistakes or {}).items():
            if _equal(got, wrong):
                raise CaseFailed(f"{what} does not match the reference. Likely mistake: {hint}")
        if _is_tensor(expected) != _is_tensor(got):
            raise CaseFailed(f"expected {type(expected).__name__} as {what}, got {type(got).__name__}\n"
                             f"      expected: {_short(expected)}\n      got:      {_short(got)}")
        exp_shape, got_shape = _shape(expected), _shape(got)
        if exp_shape is not None and got_shape != exp_shape:
            raise CaseFailed(f"{what} has shape {got_shape}, expected {exp_shape}.")
        raise CaseFailed(f"{what} is wrong.\n      expected: {_short(expected)}\n      got:      {_short(got)}")

    def expect(self, condition: bool, message: str) -> None:
        """Any other property (e.g. 'rows sum to one'); ``message`` says what is wrong when it fails."""
        if not condition:
            raise CaseFailed(message)


# Frames in these folders are not the learner's code: the checkers and references (this package),
# torch, the standard library. The learner's line is the innermost frame outside them.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_DIRS = tuple({os.path.abspath(p) for key, p in sysconfig.get_paths().items()
                       if key in ("stdlib", "platstdlib", "purelib", "platlib")})


def _is_learner_frame(filename: str) -> bool:
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):
        return False
    return not any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS)


def _crash_message(err: BaseException, fn, check_name: str = "check_x") -> str:
    """Explain an exception raised while a case ran, pointing at the learner's line when it is theirs."""
    frames = traceback.extract_tb(err.__traceback__)
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is not None:  # a plain function: its frames and the ones it called are the learner's
        codes = [frame.f_code for frame, _ in traceback.walk_tb(err.__traceback__)]
        start = codes.index(code) if code in codes else len(frames)
        frames = frames[start:]
    learner = [f for f in frames if _is_learner_frame(f.filename)]
    text = str(err)
    if isinstance(err, AssertionError):
        # Never show a bare "AssertionError": say in words which assert stopped the code.
        what = f"a failed `assert`: {text}" if text else "a failed `assert`"
    else:
        what = f"{type(err).__name__}: {text}" if text else type(err).__name__
    if isinstance(err, TypeError) and not callable(fn) and "not callable" in text:
        return (f"the check needs your function itself, but got a {type(fn).__name__}: "
                "pass the function's name without calling it, "
                f"e.g. {check_name}(my_fn), not {check_name}(my_fn(...))")
    if learner:
        # one whole sentence per case (no two holes side by side), so that the catalogue can translate it
        line, lineno = (learner[-1].line or "").strip(), learner[-1].lineno
        if isinstance(err, AssertionError):
            if line:
                return f"your code stopped at {what} (line {lineno}: `{line}`)"
            return f"your code stopped at {what} (line {lineno})"
        if line:
            return f"your code raised {what} (line {lineno}: `{line}`)"
        return f"your code raised {what} (line {lineno})"
    if isinstance(err, TypeError) and "argument" in text:
        return (f"your function could not be called the way the exercise specifies ({what}): "
                "check its parameters against the exercise's `def` line")
    # The error came from the checker's own code while it looked at your output, which usually means the
    # output has an unexpected type or structure.
    return (f"the check could not use your function's output ({what}): "
            "does it return the type and structure the exercise asks for?")


class Checker:
    """Collects the cases of one exercise and prints the verdict."""

    def __init__(self, name: str, fn: Callable | None = None, *, quiet: bool = False):
        self.name = name
        self.fn = fn
        self.fn_name = getattr(fn, "__name__", "your function")
        self.quiet = quiet
        self.results: list[tuple[str, bool, str]] = []
        self._not_implemented: set[str] = set()  # names of the cases that hit NotImplementedError

    @contextmanager
    def case(self, name: str):
        case = Case(name)
        try:
            yield case
        except CaseFailed as fail:
            self.results.append((name, False, str(fail)))
        except NotImplementedError:
            self._not_implemented.add(name)
            self.results.append((name, False, f"`{self.fn_name}` is not implemented yet: replace "
                                               "`raise NotImplementedError()` with your code."))
        except Exception as err:  # the learner's code crashed: show where, in their code
            self.results.append((name, False, _crash_message(err, self.fn, f"check_{self.name}")))
        else:
            self.results.append((name, True, ""))

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    @property
    def not_implemented(self) -> bool:
        """True when every case stopped at ``raise NotImplementedError()`` (the exercise is not started)."""
        return bool(self.results) and all(name in self._not_implemented for name, _, _ in self.results)

    def verdict(self) -> bool:
        if not self.quiet:
            if self.not_implemented:
                n = len(self.results)
                waiting = "1 case waiting" if n == 1 else f"{n} cases waiting"
                print(say(f"check_{self.name}: not implemented yet ({waiting})"))
                print("  " + say(f"`{self.fn_name}` still raises NotImplementedError: replace "
                                 "`raise NotImplementedError()` with your code, then run this check again."))
                return False
            n_ok = sum(ok for _, ok, _ in self.results)
            print(say(f"check_{self.name}: {n_ok}/{len(self.results)} cases passed"))
            for name, ok, message in self.results:
                # the markers stay [OK]/[FAIL] in every language: short, known to all, aligned, and what tools grep
                mark = "[OK]  " if ok else "[FAIL]"
                print(f"  {mark} {say(name)}")
                if not ok:
                    for line in say(message).splitlines():
                        print(f"      {line}")
            if self.passed:
                print("  " + say(f"Well done: `{self.fn_name}` matches the reference on every case."))
            else:
                print("  " + say("Not there yet: fix the first failing case, then run this check again."))
        return self.passed


def use_or_reference(fn: Callable, reference: Callable, check: Callable[..., bool], *,
                     name: str | None = None) -> Callable:
    """Return the learner's ``fn`` if it passes ``check``, else the reference with a visible note.

    Later cells of a notebook call this, so a learner who skipped an exercise can still run the rest.
    """
    try:
        ok = bool(check(fn, quiet=True))
    except Exception:
        ok = False
    if ok:
        return fn
    label = name or getattr(fn, "__name__", "your function")
    ref = f"{reference.__module__}.{getattr(reference, '__qualname__', reference)}"
    check_name = getattr(check, "__name__", "its check")
    print(say(f"Note: `{label}` does not pass its check yet, so the cells below use the reference `{ref}`. "
              f"Run `{check_name}({label})` to see what is missing; once it passes, re-run this cell to use yours."))
    return reference


# --------------------------------------------------------------------------- extra cases for grading
# `bert-edu grade` (bert_edu/course/grade.py) runs, after each checker, cases the notebook never shows: the
# learner's function against the reference on inputs drawn from the teacher's seed, so they cannot be memorised.
# A checker module registers them with ``@extra_cases("check_<name>")``; an exercise without any is graded on
# its checker alone.
_EXTRA_CASES: dict[str, Callable] = {}


def extra_cases(check_name: str):
    """Register ``make(ck, fn, rng)``: add cases to the Checker ``ck`` with ``ck.case(...)``, drawing every input
    from ``rng`` (a ``random.Random``; ``torch.Generator().manual_seed(rng.getrandbits(63))`` for tensors)."""
    def register(make: Callable) -> Callable:
        _EXTRA_CASES[check_name] = make
        return make
    return register


def has_extra_cases(check_name: str) -> bool:
    return check_name in _EXTRA_CASES


def run_extra_cases(check_name: str, fn, seed: int, *, quiet: bool = True) -> Checker | None:
    """The Checker of ``check_name``'s extra cases for ``fn`` with inputs drawn from ``seed`` (None if it has none).
    The same seed gives the same inputs on every machine."""
    make = _EXTRA_CASES.get(check_name)
    if make is None:
        return None
    ck = Checker(check_name.removeprefix("check_") + " (extra cases)", fn, quiet=quiet)
    make(ck, fn, random.Random(f"{check_name}:{seed}"))
    ck.verdict()
    return ck

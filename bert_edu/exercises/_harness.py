"""The machinery behind every ``check_<name>`` function: run the learner's code on several cases, compare
with the reference, and print a verdict a learner can act on.

A checker is written like this::

    def check_gelu(fn) -> bool:
        ck = Checker("gelu", fn)
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
"""

from __future__ import annotations

import traceback
from contextlib import contextmanager
from typing import Any, Callable

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


def _close(got, expected, atol: float, rtol: float) -> bool:
    try:
        g = torch.as_tensor(got, dtype=torch.float64)
        e = torch.as_tensor(expected, dtype=torch.float64)
    except Exception:
        return False
    return g.shape == e.shape and bool(torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=False))


def _short(x, limit: int = 160) -> str:
    if _is_tensor(x):
        x = x.detach().cpu()
        text = repr(x.flatten()[:8].tolist()) + (" ..." if x.numel() > 8 else "")
    else:
        text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Case:
    def __init__(self, name: str):
        self.name = name

    def expect_close(self, got, expected, *, atol: float = 1e-5, rtol: float = 1e-4,
                     mistakes: dict[str, Any] | None = None, what: str = "output") -> None:
        """Numbers (tensors, arrays, floats) must match the reference within tolerance."""
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
            diff = (torch.as_tensor(got, dtype=torch.float64) - torch.as_tensor(expected, dtype=torch.float64)).abs()
            idx = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0]) if diff.dim() else ()
            detail = f" Largest difference {diff.max().item():.3g} at index {idx}."
        except Exception:
            pass
        raise CaseFailed(f"{what} differs from the reference.{detail}\n"
                         f"      expected: {_short(expected)}\n      got:      {_short(got)}")

    def expect_equal(self, got, expected, *, mistakes: dict[str, Any] | None = None,
                     what: str = "output") -> None:
        """Exact equality (token lists, ids, labels, tensors of integers)."""
        same = bool(torch.equal(got, expected)) if _is_tensor(got) and _is_tensor(expected) \
            and got.shape == expected.shape else (got == expected) is True or got == expected
        if same:
            return
        for hint, wrong in (mistakes or {}).items():
            if got == wrong:
                raise CaseFailed(f"{what} does not match the reference. Likely mistake: {hint}")
        raise CaseFailed(f"{what} is wrong.\n      expected: {_short(expected)}\n      got:      {_short(got)}")

    def expect(self, condition: bool, message: str) -> None:
        """Any other property (e.g. 'rows sum to one'); ``message`` says what is wrong when it fails."""
        if not condition:
            raise CaseFailed(message)


class Checker:
    """Collects the cases of one exercise and prints the verdict."""

    def __init__(self, name: str, fn: Callable | None = None, *, quiet: bool = False):
        self.name = name
        self.fn_name = getattr(fn, "__name__", "your function")
        self.quiet = quiet
        self.results: list[tuple[str, bool, str]] = []

    @contextmanager
    def case(self, name: str):
        case = Case(name)
        try:
            yield case
        except CaseFailed as fail:
            self.results.append((name, False, str(fail)))
        except NotImplementedError:
            self.results.append((name, False, f"`{self.fn_name}` is not implemented yet: replace "
                                               "`raise NotImplementedError()` with your code."))
        except Exception as err:  # the learner's code crashed: show where, in their code
            frames = [f for f in traceback.extract_tb(err.__traceback__) if "bert_edu" not in f.filename]
            where = f" (line {frames[-1].lineno}: `{(frames[-1].line or '').strip()}`)" if frames else ""
            self.results.append((name, False, f"your code raised {type(err).__name__}: {err}{where}"))
        else:
            self.results.append((name, True, ""))

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    def verdict(self) -> bool:
        if not self.quiet:
            n_ok = sum(ok for _, ok, _ in self.results)
            print(f"check_{self.name}: {n_ok}/{len(self.results)} cases passed")
            for name, ok, message in self.results:
                mark = "[OK]  " if ok else "[FAIL]"
                print(f"  {mark} {name}")
                if not ok:
                    for line in message.splitlines():
                        print(f"      {line}")
            if self.passed:
                print(f"  Well done: `{self.fn_name}` matches the reference on every case.")
            else:
                print("  Not there yet: fix the first failing case, then run this check again.")
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
    print(f"Note: `{label}` does not pass its check yet, so the cells below use the reference `{ref}`.")
    return reference

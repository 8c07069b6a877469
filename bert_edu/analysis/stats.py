"""Intervals for the comparisons of notebook 12: a mean with its 95% interval, over sentences or over seeds.

Every claim of the form "method A beats method B" in notebook 12 is a difference of two means measured on the
same sentences (or the same seeds), so the interval that matters is the one of the *paired* difference.
Plain torch, no SciPy: Student's t quantile from a small table, then the Cornish-Fisher expansion.
"""

from __future__ import annotations

import math

import torch

_Z975 = 1.959963984540054  # the normal distribution's 97.5% quantile


# Exact 97.5% quantiles of Student's t for 1 to 9 degrees of freedom (any statistics table); few seeds need them.
_T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622}


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (for a two-sided 95% interval).

    A table for df < 10; from df = 10 the Cornish-Fisher expansion, within 0.001 of the exact value
    (2.228 for df = 10, 2.086 for df = 20), which tends to the normal 1.960.
    """
    if df < 1:
        raise ValueError(f"an interval needs at least 2 values (df >= 1), got df={df}")
    if df in _T975:
        return _T975[df]
    z = _Z975
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))


def mean_interval(values) -> tuple[float, float]:
    """(mean, half-width of its 95% t-interval): the interval is mean +- half-width."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if x.numel() < 2:
        raise ValueError(f"an interval needs at least 2 values, got {x.numel()}")
    half = t_quantile_975(x.numel() - 1) * x.std(unbiased=True).item() / math.sqrt(x.numel())
    return x.mean().item(), half


def format_interval(values, scale: float = 1.0, digits: int = 1) -> str:
    """'12.3 +- 0.4' (scale=100 turns fractions into percentage points)."""
    mean, half = mean_interval(torch.as_tensor(values, dtype=torch.float64) * scale)
    return f"{mean:.{digits}f} +- {half:.{digits}f}"


def excludes_zero(values) -> bool:
    """True when the 95% interval of the mean lies entirely on one side of zero (a paired difference that
    the noise cannot explain)."""
    mean, half = mean_interval(values)
    return abs(mean) > half

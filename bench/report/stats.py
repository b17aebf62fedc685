"""Uncertainty from per-sample rows: Wilson intervals for accuracies, a normal interval for means, and
McNemar's exact test for two methods evaluated on the same samples.

Wilson (1927) score interval: for k successes in n trials and z = 1.96,
    centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²).
McNemar (1947), exact form: of the samples on which the two methods disagree, b are right only for the
first and c only for the second; under "no difference" b ~ Binomial(b + c, 1/2); the p-value is the
two-sided binomial tail, min(1, 2 P(X <= min(b, c))) for this symmetric distribution (what
scipy.stats.binomtest returns, without importing scipy.stats: a test compares the two).

With several seeds the seed x input rows are not independent (one input's seeds share it), so the units are
the inputs: intervals are normal intervals of the mean of the per-input means over seeds (``sums_interval``
on their count, sum and sum of squares), and the tie test is the exact sign test over inputs, b and c
counting the inputs whose per-input mean is higher for one method or the other (``mcnemar_p(b, c)``; with
one seed the per-input means are the 0/1 outcomes and b, c McNemar's discordant counts).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import bdtr

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (nan, nan for n == 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values, z: float = Z95) -> tuple[float, float]:
    """A normal-approximation interval of a mean (a point interval for one value)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return (math.nan, math.nan)
    m = float(v.mean())
    if len(v) == 1:
        return (m, m)
    half = z * float(v.std(ddof=1)) / math.sqrt(len(v))
    return (m - half, m + half)


def sums_interval(n: int, total: float, squares: float, z: float = Z95) -> tuple[float, float]:
    """The normal interval of a mean from the count, sum and sum of squares of its n values."""
    if n <= 0:
        return (math.nan, math.nan)
    mean = total / n
    half = z * math.sqrt(max(squares - n * mean * mean, 0.0) / (n - 1)) / math.sqrt(n) if n > 1 else 0.0
    return (mean - half, mean + half)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (1 when there are none)."""
    if only_a + only_b == 0:
        return 1.0
    return float(min(1.0, 2 * bdtr(min(only_a, only_b), only_a + only_b, 0.5)))


def mcnemar(a: pd.Series, b: pd.Series) -> tuple[float, int, int]:
    """Exact McNemar test of two boolean outcomes on the same samples (aligned on their index).

    Returns (p-value, b, c): b = samples right for ``a`` only, c = right for ``b`` only.
    """
    a, b = a.astype(bool).align(b.astype(bool), join="inner")
    only_a = int((a & ~b).sum())
    only_b = int((~a & b).sum())
    return (mcnemar_p(only_a, only_b), only_a, only_b)

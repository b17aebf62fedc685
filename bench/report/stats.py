"""Uncertainty from per-sample rows: Wilson intervals for accuracies, a normal interval for means, and
McNemar's exact test for two methods evaluated on the same samples.

Wilson (1927) score interval: for k successes in n trials and z = 1.96,
    centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²).
McNemar (1947), exact form: of the samples on which the two methods disagree, b are right only for the
first and c only for the second; under "no difference" b ~ Binomial(b + c, 1/2); the p-value is the
two-sided binomial tail, min(1, 2 P(X <= min(b, c))) for this symmetric distribution (what
scipy.stats.binomtest returns, without importing scipy, a tenth of a second of every report's start: a test
compares the two).

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


def half_binomial_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2): the top term C(n, k) / 2^n from log-gamma, times 1 plus the sum of
    the lower terms relative to it (each term is the next one times i / (n - i + 1)), so the sum runs in numpy
    with no cancellation; relative error about 1e-12 at n = 10^5."""
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    top = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    i = np.arange(k, 0, -1, dtype=np.float64)
    return math.exp(top) * (1.0 + float(np.cumprod(i / (n - i + 1)).sum()))


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (1 when there are none)."""
    if only_a + only_b == 0:
        return 1.0
    return min(1.0, 2 * half_binomial_cdf(min(only_a, only_b), only_a + only_b))


def mcnemar(a: pd.Series, b: pd.Series) -> tuple[float, int, int]:
    """Exact McNemar test of two boolean outcomes on the same samples (aligned on their index).

    Returns (p-value, b, c): b = samples right for ``a`` only, c = right for ``b`` only.
    """
    a, b = a.astype(bool).align(b.astype(bool), join="inner")
    only_a = int((a & ~b).sum())
    only_b = int((~a & b).sum())
    return (mcnemar_p(only_a, only_b), only_a, only_b)

"""fixed: a one-shot test with n samples and Clopper-Pearson bounds ("The use of confidence or fiducial
limits illustrated in the case of the binomial", Biometrika 1934), as Cohen et al. (ICML 2019) bound the
top class's probability in CERTIFY.

The tested class is the majority of N0 selection samples (bench.certify.rules); of the next n samples, v
agree. With the one-sided (1 - alpha) bounds L = Beta_alpha(v, n - v + 1) and U = Beta_{1-alpha}(v + 1, n - v):
certified when L > 1 - kappa, not_certified when U < 1 - kappa, undecided otherwise. L > p0 exactly when
P(Z >= v | n, p0) < alpha, so this is Algorithm 2's right-tail test done once, at n, with its error
<= alpha. With every sample agreeing it needs n >= log(alpha)/log(1-kappa) (459 at the defaults).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import beta

from bench.certify.rules._rule import CERTIFIERS, N0, Rule, largest_true, smallest_true


def clopper_pearson(v, n, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided (1 - alpha) lower and upper Clopper-Pearson bounds of a share after v of n."""
    v, n = np.asarray(v, dtype=float), np.asarray(n, dtype=float)
    lower = np.where(v > 0, beta.ppf(alpha, np.maximum(v, 1), n - v + 1), 0.0)
    upper = np.where(v < n, beta.ppf(1 - alpha, v + 1, np.maximum(n - v, 1)), 1.0)
    return lower, upper


@CERTIFIERS.register("fixed")
def fixed_rule(kappa: float, alpha: float, max_samples: int | None = None, n: int = 1000) -> Rule:
    p0 = 1.0 - kappa
    hi = smallest_true(lambda v, w: (w == n) & (clopper_pearson(v, w, alpha)[0] > p0), n)
    lo = largest_true(lambda v, w: (w == n) & (clopper_pearson(v, w, alpha)[1] < p0), n)
    return Rule("fixed", N0, lo, hi, n)

"""sprt: a mixture sequential probability ratio test (Robbins, "Statistical methods related to the law
of the iterated logarithm", 1970), i.e. a confidence sequence for the share p of the vicinity predicted
as the tested class, which keeps its error <= alpha however long it samples. bench.certify.rules.spike
(the default) mixes over a prior with a point mass at q = 1 instead, for fewer samples near p = 1.

With v of w test samples agreeing and p0 = 1 - kappa, the likelihood ratio of q against p0, mixed over q
uniform on (p0, 1],

    M+ = int_{p0}^{1} q^v (1-q)^(w-v) dq / (1 - p0)  /  (p0^v (1-p0)^(w-v)),

is a nonnegative supermartingale with M+_0 = 1 whenever p <= p0 (each factor has mean
p q/p0 + (1-p)(1-q)/(1-p0) <= 1 for q > p0 >= p). By Ville's inequality P(sup_w M+ >= 1/alpha) <= alpha:
certifying when M+ >= 1/alpha wrongly certifies a class with p <= 1 - kappa with probability <= alpha at
any stopping time, with no indifference zone. The mirror test (q uniform on [0, p0)) stops with
not_certified when M- >= 1/alpha, wrong with probability <= alpha when p >= p0. The tested class is the
majority of the first N0 samples (bench.certify.rules), so it does not depend on the test's samples.

Cost: with every sample agreeing, kappa = alpha = 0.01 certifies after ~650 test samples (Algorithm 2:
459, which it buys with its excess false certifications).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln
from scipy.stats import beta

from bench.certify.rules._rule import CERTIFIERS, N0, Rule, largest_true, smallest_true


def log_mixture(v, w, p0: float, upper: bool, start: float | None = None):
    """log M+ (upper: q uniform on (start, 1], start = p0 unless given, start >= p0) or log M- (q uniform
    on [0, p0)) after v of w samples agreed."""
    v, w = np.asarray(v, dtype=float), np.asarray(w, dtype=float)
    a, b = v + 1, w - v + 1
    start = p0 if start is None else start
    mass = beta.logsf(start, a, b) - np.log1p(-start) if upper else beta.logcdf(p0, a, b) - np.log(p0)
    return betaln(a, b) + mass - v * np.log(p0) - (w - v) * np.log1p(-p0)


@CERTIFIERS.register("sprt")
def sprt_rule(kappa: float, alpha: float, max_samples: int, n: int | None = None) -> Rule:
    p0, bound = 1.0 - kappa, -np.log(alpha)
    cap = max_samples - N0
    hi = smallest_true(lambda v, w: log_mixture(v, w, p0, True) >= bound, cap)
    lo = largest_true(lambda v, w: log_mixture(v, w, p0, False) >= bound, cap)
    return Rule("sprt", N0, lo, hi, cap)

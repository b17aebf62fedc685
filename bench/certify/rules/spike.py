"""spike (the default certifier): a spike-and-slab mixture SPRT. The likelihood ratio of q against
p0 = 1 - kappa is mixed over a prior with a point mass (the spike) at q = 1 and a uniform part (the slab)
on the alternatives that the sample cap can decide; certified when the mixture reaches 1/alpha.

Why: Wald's bound log(1/alpha) / KL(p || p0) is the fewest samples any level-alpha test needs on average
at a true share p (Wald 1945; reached by the SPRT of p0 against that p alone). The uniform mixture of
``sprt`` pays for not knowing p by spreading its prior over (p0, 1]: at kappa = alpha = 0.01 it needs
1.43x Wald's bound at p = 1 and 1.24x at p = 0.999. Inputs whose samples all agree are the common case
of a robust model, and for them the best alternative is q = 1 exactly, where the likelihood ratio grows
fastest (1/p0 per sample): a point mass there gives the certificate of the all-agree sequence after
log(1/(spike alpha)) / log(1/p0) samples. The slab keeps the other p covered; it starts at the q whose
Wald bound is the cap (KL(q || p0) = log(1/alpha) / cap), because prior mass on alternatives that even
the test tuned to them decides only past the cap is wasted weight: moving it onto the decidable ones
pays at every p that can be certified within the cap.

The test. With v of w test samples agreeing, weights (SPIKE, 1 - SPIKE) and the slab uniform on
(s, 1], p0 <= s < 1 (s depends on kappa, alpha and the cap only, never on the samples):

    M+_w = SPIKE * [v = w] p0^(-w)  +  (1 - SPIKE) * int_s^1 L_w(q) dq / (1 - s),
    L_w(q) = q^v (1-q)^(w-v) / (p0^v (1-p0)^(w-v)).

Validity (certified when the true share p of the tested class is <= p0). Fix p <= p0. Each sample agrees
independently with probability p (the tested class is chosen from N0 earlier samples,
bench.certify.rules, so the test's samples are independent of the choice).
- For one q in (p0, 1], L_w(q) is a product of independent factors q/p0 (agree) or (1-q)/(1-p0) (not),
  whose mean p q/p0 + (1-p)(1-q)/(1-p0) is linear in p, equals 1 at p = p0 and increases with p (slope
  q/p0 - (1-q)/(1-p0) > 0 for q > p0), so it is <= 1: L_w(q) is a nonnegative supermartingale, L_0 = 1.
- q = 1 is the spike's case: its factors are 1/p0 and 0, so L_w(1) = [v = w] p0^(-w), again with mean
  factor p/p0 <= 1.
- A mixture with fixed weights of nonnegative supermartingales (Fubini for the slab's integral) is a
  nonnegative supermartingale, and M+_0 = SPIKE + (1 - SPIKE) = 1.
By Ville's inequality P(sup_w M+_w >= 1/alpha) <= alpha M+_0 = alpha: certifying when M+ >= 1/alpha
wrongly certifies with probability <= alpha at any stopping time, whatever the cap. The not-certified side
is ``sprt``'s (M- mixes q uniform on [0, p0); wrong with probability <= alpha when p >= p0).

Cost (exact, by dynamic programming over the rule's boundaries, bench.certify.rules.exact;
tests/test_certify_sim.py): mean samples, the N0 selection ones included, over Wald's bound:

    kappa = alpha = 0.01, cap 10000   p = 1: 1.18x (sprt 1.43x)  0.999: 1.12x (1.24x)  0.995: 1.14x (1.14x)
    kappa = 0.001, alpha = 0.01       p = 1: 1.07x (sprt 1.41x)  0.9999: 0.95x (1.15x; capped: certified
      cap 10000                       83% (sprt 79%), the rest undecided at the cap)
      cap 30000                       p = 1: 1.13x (sprt 1.41x)  0.9999: 1.06x (1.23x)

and no p in [0.992, 1] costs more than 1% above sprt (the most: p = 0.994). How close this is to the
floor: no single test reaches Wald's bound at every p at once. A mixture's log M+ after w samples is
about w KL(p-hat || p0) less log(1 / prior mass near p-hat), so each p pays for the prior mass that is
not at it; at p = 1 the spike alone would cost log(1/SPIKE) / log(1/p0) = 120 samples over Wald's
bound (with the slab's help: 84, the N0 selection samples included). Raising SPIKE moves samples from
p = 1 to p < 1: 0.4 gives 1.15x at p = 1 and 1.17x at 0.995 (3% above sprt at 0.994); SPIKE = 0.3
keeps every p within 1% of sprt.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from bench.certify.rules._rule import CERTIFIERS, N0, Rule, kl, largest_true, smallest_true
from bench.certify.rules.sequential import log_mixture

SPIKE = 0.3  # prior weight of q = 1


def slab_start(p0: float, alpha: float, cap: int) -> float:
    """The q in (p0, 1) whose Wald bound is ``cap`` test samples; p0 when even q = 1 needs more."""
    need = np.log(1 / alpha) / cap
    if kl(1.0, p0) <= need:
        return p0
    return brentq(lambda q: kl(q, p0) - need, p0, 1.0, xtol=1e-15)


def log_spike_slab(v, w, p0: float, start: float):
    """log M+ after v of w test samples agreed (slab on (start, 1])."""
    v, w = np.asarray(v, dtype=float), np.asarray(w, dtype=float)
    spike = np.where(v == w, np.log(SPIKE) - w * np.log(p0), -np.inf)
    return np.logaddexp(spike, np.log1p(-SPIKE) + log_mixture(v, w, p0, True, start))


@CERTIFIERS.register("spike")
def spike_rule(kappa: float, alpha: float, max_samples: int, n: int | None = None) -> Rule:
    p0, bound = 1.0 - kappa, -np.log(alpha)
    cap = max_samples - N0
    start = slab_start(p0, alpha, cap)
    hi = smallest_true(lambda v, w: log_spike_slab(v, w, p0, start) >= bound, cap)
    lo = largest_true(lambda v, w: log_mixture(v, w, p0, False) >= bound, cap)
    return Rule("spike", N0, lo, hi, cap)

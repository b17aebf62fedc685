"""paper: Algorithm 2 of "Towards Certified Probabilistic Robustness with High Accuracy" (the certified-PR
paper, Appendix B), exact binomial tests repeated after every sample.

After every new vicinity sample, u = the majority class so far (ties: the class seen first, as argmax over
an insertion-ordered dict), v = its count, w = samples so far, and two exact binomial tests against
p0 = 1 - kappa (its Eq. 7):

    p_left  = P(Z <= v | w, p0)  < alpha  -> not certified (checked first, lines 20-21)
    p_right = P(Z >= v | w, p0)  < alpha  -> certified (Theorem B.2)

Sampling stops at the first crossing. Two changes, both documented:
- The counter bug is fixed. Lines 9-12 start a class seen for the first time at S[s] <- 0, so every class's
  first sample is never counted: v and w both undercount (by 1 and by the number of classes seen). Here a
  new class starts at 1, so v and w are the true counts the binomial test assumes.
- A sample cap: the paper's loop has no bound; at ``max_samples`` without a crossing the decision is
  ``undecided``.

This is a repeated significance test: each test is exact at its own w, but testing after every sample
gives many chances to cross, so for a share just below 1 - kappa it certifies more often than alpha
(tests/test_certify_sim.py measures how much). ``spike`` (the default) and ``sprt`` are anytime-valid.

``algorithm2`` is the faithful one-sample-at-a-time version (one forward and two scipy tests per sample),
the reference that the batched engine must match decision for decision (tests, benchmarks/bench_certify.py).
"""
from __future__ import annotations

import torch
from scipy.stats import binom

from bench.certify.rules._rule import CERTIFIERS, Rule, largest_true, smallest_true


def left_tail(v, w, p0):
    return binom.cdf(v, w, p0)


def right_tail(v, w, p0):
    return binom.sf(v - 1, w, p0)


@CERTIFIERS.register("paper")
def paper_rule(kappa: float, alpha: float, max_samples: int, n: int | None = None) -> Rule:
    p0 = 1.0 - kappa
    lo = largest_true(lambda v, w: left_tail(v, w, p0) < alpha, max_samples)
    hi = smallest_true(lambda v, w: right_tail(v, w, p0) < alpha, max_samples)
    return Rule("paper", 0, lo, hi, max_samples)


@torch.no_grad()
def algorithm2(model, next_sample, kappa: float, alpha: float, max_samples: int) -> tuple[int, str, int]:
    """One input, one sample at a time: ``next_sample()`` gives the next vicinity sample (C, H, W).
    Returns (majority prediction u, decision, samples drawn)."""
    p0 = 1.0 - kappa
    counts: dict[int, int] = {}
    for w in range(1, max_samples + 1):
        s = int(model(next_sample()[None]).argmax(1))
        counts[s] = counts.get(s, 0) + 1  # the paper's line 12 sets 0 here (its counter bug)
        u = max(counts, key=counts.get)  # first-inserted among ties
        v = counts[u]
        if left_tail(v, w, p0) < alpha:
            return u, "not_certified", w
        if right_tail(v, w, p0) < alpha:
            return u, "certified", w
    return max(counts, key=counts.get), "undecided", max_samples

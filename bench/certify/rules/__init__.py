"""Certifiers of probabilistic robustness as stopping rules on a count sequence, behind one interface.

Certifying x at (kappa, alpha) means a statistical test, at level alpha, that the vicinity's share of
samples predicted as one class c is at least p0 = 1 - kappa; certified robust accuracy also asks that c
be the label. Every certifier is a ``Rule`` (bench.certify.rules._rule): after each new test sample it
looks at (w, v) = (test samples so far, how many of them were predicted as the tested class) and

    not_certified   when v <= lo[w],
    certified       when v >= hi[w],
    undecided       when w reaches ``cap`` with neither.

Which class is tested: with ``n0 == 0`` (Algorithm 2 of the certified-PR paper) the running majority of
all samples so far, re-chosen after every sample; with ``n0 > 0`` the majority of the first n0 samples
(ties: the class seen first), after which only the following samples are tested, so the tested class
does not depend on the samples of the test (as in Cohen et al.'s CERTIFY). Because ``lo``/``hi`` are
precomputed for every w, a whole chunk of samples is decided at once (bench.certify.engine) and stops
where the one-sample-at-a-time rule would.

CERTIFIERS (name -> make(kappa, alpha, max_samples, n) -> Rule), one module each in this package,
discovered at import (bench.registry; modules starting with _ are helpers):
- spike (default, spike.py): a spike-and-slab mixture SPRT, anytime-valid, 1.12-1.18x Wald's bound near p = 1.
- sprt (sequential.py): a uniform mixture SPRT, anytime-valid: error <= alpha however long it runs.
- paper (repeated_binomial.py): the certified-PR paper's Algorithm 2, exact binomial tests after every sample.
- fixed (fixed.py): one-shot Clopper-Pearson bounds from n samples.
"""
from __future__ import annotations

from bench.certify.rules._rule import CERTIFIERS, N0, Rule, exact, simulate, wald_bound  # noqa: F401  (public)
from bench.registry import import_all

import_all(__name__, __path__)  # every certifier module registers itself


def make_rule(name: str, kappa: float, alpha: float, max_samples: int, n: int) -> Rule:
    return CERTIFIERS.get(name)(kappa=kappa, alpha=alpha, max_samples=max_samples, n=n)

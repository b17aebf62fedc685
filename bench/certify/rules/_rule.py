"""The certifiers' common ground (a leaf module: it imports no certifier): ``Rule``, the ``CERTIFIERS``
registry, the selection size N0, the bisections that turn a test into per-w boundaries, a rule's
operating characteristics at a true share p (``simulate``: Bernoulli runs; ``exact``: dynamic
programming) and Wald's bound to measure them against.
See bench.certify.rules for what a rule decides.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import rel_entr

from bench.registry import Registry

N0 = 10  # samples that choose the tested class for sprt and fixed (a class with share >= 1-kappa > 1/2
# is their majority with probability > 1 - 1e-7 for kappa <= 0.01; a wrong choice only costs power)


@dataclass(frozen=True)
class Rule:
    name: str
    n0: int  # samples that choose the tested class; 0: the running majority of all samples
    lo: np.ndarray  # int64, index w = 0..cap: not_certified when v <= lo[w]
    hi: np.ndarray  # int64, index w = 0..cap: certified when v >= hi[w]
    cap: int  # test samples at most; then undecided

    @property
    def max_samples(self) -> int:
        return self.n0 + self.cap

    def decide(self, v: int, w: int) -> str | None:
        """The decision after w test samples with v for the tested class (None: keep sampling)."""
        if v <= self.lo[w]:
            return "not_certified"
        if v >= self.hi[w]:
            return "certified"
        return "undecided" if w >= self.cap else None


CERTIFIERS: Registry[Callable[..., Rule]] = Registry("certifier")


def smallest_true(pred: Callable[[np.ndarray, np.ndarray], np.ndarray], cap: int) -> np.ndarray:
    """For each w = 0..cap, the smallest v in 0..w with pred(v, w) true, or w+1 when there is none;
    pred must be monotone in v (false, then true). Vectorised bisection: about log2(cap) calls."""
    w = np.arange(cap + 1)
    lo, hi = np.zeros(cap + 1, dtype=np.int64), w + 1
    while (open_ := lo < hi).any():
        mid = (lo + hi) // 2
        ok = np.zeros(cap + 1, dtype=bool)
        ok[open_] = pred(mid[open_], w[open_])
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid + 1, lo)
    return lo


def largest_true(pred: Callable[[np.ndarray, np.ndarray], np.ndarray], cap: int) -> np.ndarray:
    """For each w, the largest v in 0..w with pred(v, w) true, or -1; pred monotone (true, then false)."""
    return smallest_true(lambda v, w: ~pred(v, w), cap) - 1


def simulate(rule: Rule, p: float, runs: int, seed: int = 0, block: int = 1024) -> dict[str, float]:
    """Run ``rule`` on ``runs`` simulated Bernoulli(p) sample sequences (1 = the sample agrees with the
    tested class), vectorised over runs. With n0 == 0 the tested count is the larger of the two classes,
    as Algorithm 2's majority. Returns the share of each decision and mean_samples, the n0 selection samples
    included (as the engine's ``samples``)."""
    rng = np.random.default_rng(seed)
    agree = np.zeros(runs, dtype=np.int64)
    code = np.zeros(runs, dtype=np.int64)  # 0 running, 1 certified, 2 not_certified, 3 undecided
    used = np.zeros(runs, dtype=np.int64)
    w0 = 0
    while w0 < rule.cap and (active := np.flatnonzero(code == 0)).size:
        c = min(block, rule.cap - w0)
        w = w0 + np.arange(1, c + 1)
        a = agree[active, None] + (rng.random((active.size, c)) < p).cumsum(1)
        v = np.maximum(a, w - a) if rule.n0 == 0 else a
        cert, notc = v >= rule.hi[w], v <= rule.lo[w]
        stop = cert | notc
        hit = stop.any(1)
        j = stop.argmax(1)
        rows = np.arange(active.size)
        code[active[hit]] = np.where(notc[rows, j], 2, 1)[hit]
        used[active[hit]] = w[j][hit]
        agree[active] = a[:, -1]
        w0 += c
    code[code == 0], used[code == 3] = 3, rule.cap
    return {"certified": float((code == 1).mean()), "not_certified": float((code == 2).mean()),
            "undecided": float((code == 3).mean()), "mean_samples": rule.n0 + float(used.mean())}


def exact(rule: Rule, p: float) -> dict[str, float]:
    """``simulate``'s numbers without sampling error, for a rule with a selected class (n0 > 0) whose share
    is p (selection assumed right): the law of the number d of disagreeing test samples, carried forward
    one sample at a time."""
    if rule.n0 == 0:
        raise ValueError("exact needs a rule with a selected class (n0 > 0); use simulate")
    law = np.zeros(int(np.max(np.arange(rule.cap + 1) - rule.lo)) + 2)  # d = 0 .. the largest running d, + 1
    law[0] = 1.0
    cert = notc = 0.0
    mean = float(rule.n0)
    for w in range(1, rule.cap + 1):
        mean += law.sum()  # P(the w-th test sample is drawn)
        law[1:] = law[1:] * p + law[:-1] * (1 - p)
        law[0] *= p
        c, n = max(w - rule.hi[w] + 1, 0), max(w - rule.lo[w], 0)  # certified: d < c; not_certified: d >= n
        cert += law[:c].sum()
        notc += law[n:].sum()
        law[:c], law[n:] = 0.0, 0.0
        if law.sum() < 1e-13:
            break
    return {"certified": cert, "not_certified": notc, "undecided": max(0.0, 1.0 - cert - notc),
            "mean_samples": mean}


def kl(p, p0: float):
    """KL(Bernoulli(p) || Bernoulli(p0)) in nats."""
    return rel_entr(p, p0) + rel_entr(1 - p, 1 - p0)


def wald_bound(p, p0: float, alpha: float):
    """log(1/alpha) / KL(p || p0): the fewest samples any level-alpha test of p0 needs on average at p."""
    return np.log(1 / alpha) / kl(p, p0)

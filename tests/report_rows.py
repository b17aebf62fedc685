"""Synthetic per-sample rows that follow bench's row conventions (bench/store.py ROW_SCHEMA and the
evaluation names of DESIGN.md), for the report and check tests. Outcomes are drawn with fixed seeds so
that each recipe has a known accuracy per evaluation."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.results.store import COLUMNS

# accuracy of each recipe per evaluation (the certify ones: share certified)
ACC = {
    "erm": {"clean": 0.95, "attack:PGD": 0.05, "attack:FGSM": 0.3, "attack:CWinf": 0.02, "attack:AutoAttack": 0.0,
            "attack:PGD-20": 0.05, "attack:PGD-100": 0.04, "attack:MIFGSM": 0.03, "attack:APGD": 0.02},
    "pgdt": {"clean": 0.85, "attack:PGD": 0.5, "attack:FGSM": 0.6, "attack:CWinf": 0.45, "attack:AutoAttack": 0.42,
             "attack:PGD-20": 0.5, "attack:PGD-100": 0.48, "attack:MIFGSM": 0.5, "attack:APGD": 0.46},
    "vmt": {"clean": 0.94, "attack:PGD": 0.9, "attack:FGSM": 0.92, "attack:CWinf": 0.9, "attack:AutoAttack": 0.88,
            "attack:PGD-20": 0.9, "attack:PGD-100": 0.9, "attack:MIFGSM": 0.9, "attack:APGD": 0.89},
}
CERT = {"erm": 0.1, "pgdt": 0.8, "vmt": 0.9}


def _block(ds, recipe, seed, evaluation, n, rng, **cols):
    base = {c: [None] * n for c in COLUMNS}
    base.update(dataset=[ds] * n, recipe=[recipe] * n, arch=["small_cnn"] * n, seed=[seed] * n,
                evaluation=[evaluation] * n, index=list(range(n)), label=list(rng.integers(0, 10, n)),
                cell=[f"{recipe}-{seed}-{evaluation}"] * n, train_cell=[f"{recipe}-{seed}"] * n, params=["{}"] * n)
    base.update({k: list(v) for k, v in cols.items()})
    return pd.DataFrame(base)


def synthetic(n: int = 60, seeds=(0, 1), recipes=("erm", "pgdt", "vmt"), ds: str = "digits",
              extra: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for recipe in recipes:
        for seed in seeds:
            clean = rng.random(n) < ACC[recipe]["clean"]
            parts.append(_block(ds, recipe, seed, "clean", n, rng, correct=clean))
            for ev, acc in ACC[recipe].items():
                if ev == "clean":
                    continue
                parts.append(_block(ds, recipe, seed, ev, n, rng, correct=clean & (rng.random(n) < acc / ACC[recipe]["clean"]),
                                    eps=np.full(n, 0.1)))
            if not extra:
                continue
            for eps in (0.05, 0.2):
                acc = ACC[recipe]["attack:PGD"] * (1.5 if eps < 0.1 else 0.5)
                parts.append(_block(ds, recipe, seed, f"attack:PGD@{eps:g}", n, rng,
                                    correct=clean & (rng.random(n) < acc), eps=np.full(n, eps)))
            parts.append(_block(ds, recipe, seed, "attack:PGD[vote,EOT]", n, rng,
                                correct=clean & (rng.random(n) < ACC[recipe]["attack:PGD"]), eps=np.full(n, 0.1)))
            pr = np.clip(rng.beta(8, 1 + 6 * (1 - CERT[recipe]), n), 0, 1)
            parts.append(_block(ds, recipe, seed, "pr:linf@0.1", n, rng, correct=clean, pr=pr,
                                agree=(pr * 100).astype(int), eps=np.full(n, 0.1)).assign(n=100))
            for name, kappa, alpha, eps in [("certify:linf@0.1", 0.01, 0.01, 0.1),
                                            ("certify:linf@0.1[kappa=0.1,alpha=0.01]", 0.1, 0.01, 0.1),
                                            ("certify:linf@0.1[kappa=0.001,alpha=0.01]", 0.001, 0.01, 0.1),
                                            ("certify:linf@0.05", 0.01, 0.01, 0.05),
                                            ("certify:rotation@35", 0.01, 0.01, 35.0)]:
                cert = rng.random(n) < CERT[recipe] * (1.05 if kappa > 0.01 or eps < 0.1 else 1)
                decision = np.where(cert, "certified", np.where(rng.random(n) < 0.9, "not_certified", "undecided"))
                parts.append(_block(ds, recipe, seed, name, n, rng, correct=clean, decision=decision,
                                    samples=rng.integers(100, 1000, n), kappa=np.full(n, kappa),
                                    alpha=np.full(n, alpha), eps=np.full(n, eps)))
            radius = np.where(clean, rng.random(n), np.nan)
            parts.append(_block(ds, recipe, seed, "smooth:gaussian@0.25", n, rng, correct=clean, radius=radius))
            parts.append(_block(ds, recipe, seed, "ibp", n, rng, correct=clean & (rng.random(n) < CERT[recipe] / 2)))
    rows = pd.concat(parts, ignore_index=True)
    return rows[COLUMNS]


def run_info(recipes=("erm", "pgdt", "vmt")) -> dict:
    return {"suite": "synthetic", "order": {"datasets": ["digits"], "recipes": list(recipes)},
            "recipes": {r: {"card": r, "method": r} for r in recipes},
            "timings": {"train": {f"{r}-{s}": 10.0 * (i + 1) + s for i, r in enumerate(recipes) for s in (0, 1)},
                        "eval": {}}}

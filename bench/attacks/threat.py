"""The threat-model table: one place that turns a dataset's budget into every attack's parameters.

Linf attacks get eps = the dataset's Linf budget and alpha = eps/4 (2/255 at 8/255, the papers'
setting); L2 attacks eps = the dataset's L2 budget and alpha = eps/5 (torchattacks' PGDL2 ratio);
attacks that take a class count get the dataset's. Everything else keeps torchattacks' default.
A suite's ``params`` override any entry.
"""
from __future__ import annotations

from bench.attacks import AttackInfo


def threat_params(attack: AttackInfo, info, overrides: dict | None = None) -> dict:
    """Resolved keyword arguments for ``attack`` on dataset ``info``."""
    out = dict(attack.defaults)
    norm = attack.norm
    if "norm" in out:
        out["norm"] = "Linf" if norm == "linf" else "L2"
    if norm in ("linf", "l2") and "eps" in out:
        out["eps"] = float(info.eps[norm])
        if "alpha" in out:
            out["alpha"] = out["eps"] / (4 if norm == "linf" else 5)
    if "n_classes" in out:
        out["n_classes"] = info.num_classes
    out.update(overrides or {})
    return out

"""Every scalar metric the rows hold, in long format: one row per (dataset, recipe, evaluation, metric).

This is what `bench check` compares with a reference file and what `--compare-paper` puts beside the
published numbers. Values are fractions (accuracies, rates, mean PR), the mean over seeds of the per-seed
value; ``n`` is the number of per-sample rows behind the value.

    clean, attack:*, ibp*   accuracy            mean(correct)
    certify:*               accuracy            mean(correct)           (majority prediction == label)
                            certified_rate      mean(decision == certified)
                            certified_accuracy  mean(certified and correct)
    pr:*                    pr_mean             mean PR over clean-correct inputs (AT-PR)
                            probacc@q           share of inputs with PR > 1 - q (PRL's ProbAcc), q in PROBACC_Q
    smooth:*                accuracy            mean(correct)           (abstain counts as wrong)
                            certified_accuracy@r  mean(correct and radius >= r), r in SMOOTH_RADII
"""
from __future__ import annotations

import pandas as pd

from bench.report import kind

PROBACC_Q = (0.2, 0.1, 0.05, 0.01)
SMOOTH_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)
METRIC_COLUMNS = ["dataset", "recipe", "evaluation", "metric", "value", "n"]


def certified(g: pd.DataFrame) -> pd.Series:
    return g["decision"] == "certified"


def per_sample(evaluation: str, g: pd.DataFrame) -> dict[str, pd.Series]:
    """The per-sample series behind each metric of one evaluation block (NaN where a sample does not count)."""
    k = kind(evaluation)
    correct = g["correct"].astype(bool)
    if k == "certify":
        return {"accuracy": correct, "certified_rate": certified(g), "certified_accuracy": certified(g) & correct}
    if k == "pr":
        out = {"pr_mean": g["pr"].where(correct)}
        for q in PROBACC_Q:
            out[f"probacc@{q:g}"] = g["pr"] > 1 - q
        return out
    if k == "smooth":
        out = {"accuracy": correct}
        for r in SMOOTH_RADII:
            out[f"certified_accuracy@{r:g}"] = correct & (g["radius"].fillna(-1) >= r)
        return out
    return {"accuracy": correct}


def metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """All metrics of all (dataset, recipe, evaluation) blocks, in the rows' order."""
    out = []
    for (ds, recipe, ev), g in rows.groupby(["dataset", "recipe", "evaluation"], sort=False):
        for metric, s in per_sample(ev, g).items():
            s = pd.Series(s.to_numpy(dtype=float), index=g["seed"].to_numpy())
            per_seed = s.groupby(level=0).mean()
            out.append((ds, recipe, ev, metric, float(per_seed.mean()), int(s.notna().sum())))
    return pd.DataFrame(out, columns=METRIC_COLUMNS)


def headline(evaluation: str) -> str:
    """The metric a leaderboard shows for an evaluation."""
    k = kind(evaluation)
    return {"certify": "certified_accuracy", "pr": "pr_mean", "smooth": "certified_accuracy@0.5"}.get(k, "accuracy")

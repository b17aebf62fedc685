"""Certification layouts of "Towards Certified Probabilistic Robustness with High Accuracy" (seeds/002):
Table 1 (standard accuracy | certified robustness rate | certified robust accuracy, per dataset, Lp vicinity),
Table 2 (certified robust accuracy under translation, rotation, affine, scale), Table 10 (the same at
several vicinity sizes), Tables 11/12 (kappa / alpha sweeps), and randomized smoothing's certified
accuracy at radii.

Paper's Table 8: standard accuracy = mean(argmax h(x) = y); certified robustness rate = mean(certified);
certified robust accuracy = mean(certified and correct). Here ``correct`` of a certify row is the
majority prediction == label, and standard accuracy comes from the ``clean`` evaluation.
"""
from __future__ import annotations

import pandas as pd

from bench.report import Table, family, kind, ordered
from bench.report.layouts import (LAYOUTS, blocks, by_columns, compare, datasets_of, evaluations_of, group,
                                  metric_column, outcomes, recipes_of)
from bench.report.metrics import SMOOTH_RADII

LP = ("certify:linf", "certify:l2")
TRANSFORMS = [("certify:translation", "Translation"), ("certify:rotation", "Rotation"), ("certify:affine", "Affine"),
              ("certify:scale", "Scale")]
DEFAULT_KAPPA, DEFAULT_ALPHA = 0.01, 0.01


def _param(rows: pd.DataFrame, ev: str, col: str) -> float | None:
    v = rows.loc[rows["evaluation"] == ev, col].dropna()
    return float(v.iloc[0]) if len(v) else None


def _main_evaluation(rows: pd.DataFrame, run: dict, ds: str, families) -> str | None:
    """A dataset's certification evaluation of the given families for Tables 1/2: the suite's first with
    the paper's kappa = alpha = 0.01 (or without sweep parameters), else the suite's first."""
    sub = rows[rows["dataset"] == ds]
    names = evaluations_of(sub, run, lambda e: family(e) in families)
    for ev in names:
        kappa, alpha = _param(sub, ev, "kappa"), _param(sub, ev, "alpha")
        if kappa in (None, DEFAULT_KAPPA) and alpha in (None, DEFAULT_ALPHA):
            return ev
    return names[0] if names else None


def _fmt_eps(rows, ev) -> str:
    eps = _param(rows, ev, "eps")
    return ev if eps is None else f"{family(ev).split(':')[1]} ε = {eps:g}"


@LAYOUTS.register("table1")
def table1(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 1: standard accuracy | certified robustness rate | certified robust accuracy per dataset."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    chosen = {ds: _main_evaluation(rows, run, ds, LP) for ds in datasets}
    datasets = [ds for ds in datasets if chosen[ds]]
    if not datasets:
        return None
    columns = []
    for title, ev_of, metric in [("Standard Accuracy", lambda ds: "clean", "accuracy"),
                                 ("Certified Robustness Rate", chosen.get, "certified_rate"),
                                 ("Certified Robust Accuracy", chosen.get, "certified_accuracy")]:
        for ds in datasets:
            columns.append(((title, ds), metric_column(bl, ds, recipes, ev_of(ds), metric)))
    used = "; ".join(f"{ds}: {chosen[ds]}" + _sweep_text(rows, chosen[ds]) for ds in datasets)
    return by_columns("table1", "Table 1: certified probabilistic robustness, Lp vicinity", "Approach", recipes,
                      columns, f"Percent; best per column in bold. Certification: {used}.")


def _sweep_text(rows, ev) -> str:
    kappa, alpha = _param(rows, ev, "kappa"), _param(rows, ev, "alpha")
    return "" if kappa is None else f" (κ = {kappa:g}, 1 − α = {1 - alpha:g})"


@LAYOUTS.register("table2")
def table2(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 2: certified robust accuracy under translation, rotation, affine and scale."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    columns = []
    for ds in datasets:
        for fam, label in TRANSFORMS:
            ev = _main_evaluation(rows, run, ds, (fam,))
            if ev:
                columns.append(((group(ds, datasets), label), metric_column(bl, ds, recipes, ev, "certified_accuracy")))
    if not columns:
        return None
    return by_columns("table2", "Table 2: certified robust accuracy under transformations", "Approach", recipes,
                      columns, "Certified robust accuracy (%); best per column in bold.")


OTHER = {"kappa": ("alpha", DEFAULT_ALPHA), "alpha": ("kappa", DEFAULT_KAPPA)}


def _point(rows: pd.DataFrame, evs: list[str], col: str) -> str:
    """Of the evaluations at one value of ``col``, the one whose other test parameter is at the paper's
    default (Table 11 sweeps kappa at alpha 0.01, Table 12 alpha at kappa 0.01)."""
    other = OTHER.get(col)
    if other:
        for ev in evs:
            if _param(rows, ev, other[0]) == other[1]:
                return ev
    return evs[0]


def _sweep(rows: pd.DataFrame, run: dict, name: str, title: str, col: str, label) -> Table | None:
    """Certified robust accuracy of one Lp certification family at each value of ``col`` (kappa, alpha, eps)."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    cert = rows[rows["evaluation"].map(kind) == "certify"]
    columns = []
    for ds in datasets:
        sub = cert[cert["dataset"] == ds]
        for fam in ordered(sub["evaluation"].map(family), list(LP)):
            evs = evaluations_of(sub, run, lambda e: family(e) == fam)
            values = {ev: _param(sub, ev, col) for ev in evs}
            distinct = sorted({v for v in values.values() if v is not None})
            if len(distinct) < 2:
                continue
            if col == "kappa" and "ibp" in set(rows.loc[rows["dataset"] == ds, "evaluation"]):
                columns.append(((group(ds, datasets), "κ = 0 (deterministic, IBP)"),
                                metric_column(bl, ds, recipes, "ibp", "accuracy")))
            for v in distinct:
                ev = _point(sub, [e for e, x in values.items() if x == v], col)
                head = label(v) if len(ordered(sub["evaluation"].map(family), None)) == 1 else f"{fam} {label(v)}"
                columns.append(((group(ds, datasets), head), metric_column(bl, ds, recipes, ev, "certified_accuracy")))
    if not columns:
        return None
    return by_columns(name, title, "Approach", recipes, columns, "Certified robust accuracy (%); best per column in bold.")


@LAYOUTS.register("table10")
def table10(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 10: certified robust accuracy at several vicinity sizes eps."""
    return _sweep(rows, run, "table10", "Table 10: certified robust accuracy against vicinity size", "eps",
                  lambda v: f"ε = {v:g}")


@LAYOUTS.register("table11")
def table11(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 11: certified robust accuracy against kappa (kappa = 0: IBP's deterministic verification)."""
    return _sweep(rows, run, "table11", "Table 11: certified robust accuracy against κ", "kappa", lambda v: f"κ = {v:g}")


@LAYOUTS.register("table12")
def table12(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 12: certified robust accuracy against the significance level alpha."""
    return _sweep(rows, run, "table12", "Table 12: certified robust accuracy against α", "alpha",
                  lambda v: f"1 − α = {1 - v:g}")


@LAYOUTS.register("smoothing")
def smoothing(rows: pd.DataFrame, run: dict) -> Table | None:
    """Randomized smoothing (Cohen et al. 2019): certified accuracy at L2 radii r = mean(correct and radius >= r)."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    columns = []
    for ds in datasets:
        for ev in evaluations_of(rows[rows["dataset"] == ds], run, lambda e: kind(e) == "smooth"):
            for r in SMOOTH_RADII:
                samples = {}
                for rec in recipes:
                    g = bl.get((ds, rec, ev))
                    samples[rec] = None if g is None else outcomes(
                        g, lambda g: g["correct"].astype(bool) & (g["radius"].fillna(-1) >= r))
                columns.append(((f"{ds} {ev}" if len(datasets) > 1 else ev, f"r = {r:g}"), compare(samples)))
    if not columns:
        return None
    return by_columns("smoothing", "Randomized smoothing: certified accuracy at L2 radius r", "Approach", recipes,
                      columns, "Certified accuracy (%): correct and certified radius ≥ r; abstentions count as wrong.")


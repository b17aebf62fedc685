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

from bench.results.metrics import SMOOTH_RADII
from bench.results.names import DEFAULT_ALPHA, DEFAULT_KAPPA
from bench.report import Table, ordered
from bench.report.data import Rows
from bench.report.layouts import (CERTIFIED_PR, by_columns, datasets_of, evaluations_of, group, layout,
                                  metric_column, paper_title, part, per_evaluation, recipes_of)

LP = ("linf", "l2")
TRANSFORMS = [("translation", "Translation"), ("rotation", "Rotation"), ("affine", "Affine"), ("scale", "Scale")]


def _certify(bases):
    return lambda b: b.kind == "certify" and b.base in bases


def _main_evaluation(rows: Rows, run: dict, ds: str, bases) -> str | None:
    """A dataset's certification evaluation of the given vicinities for Tables 1/2: the suite's first with
    the paper's kappa = alpha = 0.01 (or without test parameters), else the suite's first."""
    names = evaluations_of(rows, run, ds, _certify(bases))
    for ev in names:
        kappa, alpha = part(rows, ev, "kappa", ds), part(rows, ev, "alpha", ds)
        if kappa in (None, DEFAULT_KAPPA) and alpha in (None, DEFAULT_ALPHA):
            return ev
    return names[0] if names else None


@layout("table1")
def table1(rows: Rows, run: dict) -> Table | None:
    """Paper 002 Table 1: standard accuracy | certified robustness rate | certified robust accuracy per dataset."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    chosen = {ds: _main_evaluation(rows, run, ds, LP) for ds in datasets}
    datasets = [ds for ds in datasets if chosen[ds]]
    columns = []
    for title, ev_of, metric in [("Standard Accuracy", lambda ds: "clean", "accuracy"),
                                 ("Certified Robustness Rate", chosen.get, "certified_rate"),
                                 ("Certified Robust Accuracy", chosen.get, "certified_accuracy")]:
        for ds in datasets:
            columns.append(((title, ds), metric_column(rows, ds, recipes, ev_of(ds), metric)))
    used = "; ".join(f"{ds}: {chosen[ds]}" + _test_text(rows, chosen[ds]) for ds in datasets)
    title = paper_title("Certified probabilistic robustness in an Lp vicinity", CERTIFIED_PR, "Table 1")
    return by_columns("table1", title, "Approach", recipes,
                      columns, f"Percent; best per column in bold. Certification: {used}.")


def _test_text(rows: Rows, ev: str) -> str:
    kappa, alpha = part(rows, ev, "kappa"), part(rows, ev, "alpha")
    return "" if kappa is None else f" (κ = {kappa:g}, 1 − α = {1 - alpha:g})"


@layout("table2")
def table2(rows: Rows, run: dict) -> Table | None:
    """Paper 002 Table 2: certified robust accuracy under translation, rotation, affine and scale."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    for ds in datasets:
        for base, label in TRANSFORMS:
            ev = _main_evaluation(rows, run, ds, (base,))
            if ev:
                columns.append(((group(ds, datasets), label), metric_column(rows, ds, recipes, ev, "certified_accuracy")))
    title = paper_title("Certified robust accuracy under transformations", CERTIFIED_PR, "Table 2")
    return by_columns("table2", title, "Approach", recipes,
                      columns, "Certified robust accuracy (%); best per column in bold.")


OTHER = {"kappa": ("alpha", DEFAULT_ALPHA), "alpha": ("kappa", DEFAULT_KAPPA)}


def _point(rows: Rows, ds: str, evs: list[str], col: str) -> str:
    """Of the evaluations at one value of ``col``, the one whose other test parameter is at the paper's
    default (Table 11 sweeps kappa at alpha 0.01, Table 12 alpha at kappa 0.01)."""
    other = OTHER.get(col)
    if other:
        for ev in evs:
            if part(rows, ev, other[0], ds) == other[1]:
                return ev
    return evs[0]


def _sweep(rows: Rows, run: dict, name: str, title: str, col: str, label) -> Table | None:
    """Certified robust accuracy of one Lp certification family at each value of ``col`` (kappa, alpha, eps)."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    for ds in datasets:
        certs = evaluations_of(rows, run, ds, lambda b: b.kind == "certify")
        bases = ordered([part(rows, e, "base", ds) for e in certs], list(LP))
        for base in bases:
            values = {ev: part(rows, ev, col, ds) for ev in evaluations_of(rows, run, ds, _certify((base,)))}
            distinct = sorted({v for v in values.values() if v is not None})
            if len(distinct) < 2:
                continue
            if col == "kappa" and "ibp" in evaluations_of(rows, run, ds):
                columns.append(((group(ds, datasets), "κ = 0 (deterministic, IBP)"),
                                metric_column(rows, ds, recipes, "ibp", "accuracy")))
            for v in distinct:
                ev = _point(rows, ds, [e for e, x in values.items() if x == v], col)
                head = label(v) if len(bases) == 1 else f"certify:{base} {label(v)}"
                columns.append(((group(ds, datasets), head), metric_column(rows, ds, recipes, ev, "certified_accuracy")))
    return by_columns(name, title, "Approach", recipes, columns, "Certified robust accuracy (%); best per column in bold.")


def _register_sweep(name: str, doc: str, title: str, col: str, label) -> None:
    def table(rows: Rows, run: dict) -> Table | None:
        return _sweep(rows, run, name, title, col, label)

    table.__doc__ = doc
    layout(name)(table)


_register_sweep("table10", "Paper 002 Table 10: certified robust accuracy at several vicinity sizes eps.",
                paper_title("Certified robust accuracy against vicinity size ε", CERTIFIED_PR, "Table 10"), "eps",
                lambda v: f"ε = {v:g}")
_register_sweep("table11", "Paper 002 Table 11: certified robust accuracy against kappa (kappa = 0: IBP's "
                "deterministic verification).", paper_title("Certified robust accuracy against κ", CERTIFIED_PR,
                                                            "Table 11"), "kappa",
                lambda v: f"κ = {v:g}")
_register_sweep("table12", "Paper 002 Table 12: certified robust accuracy against the significance level alpha.",
                paper_title("Certified robust accuracy against α", CERTIFIED_PR, "Table 12"), "alpha",
                lambda v: f"1 − α = {1 - v:g}")


@layout("smoothing")
def smoothing(rows: Rows, run: dict) -> Table | None:
    """Randomized smoothing (Cohen et al. 2019): certified accuracy at L2 radii r = mean(correct and radius >= r)."""
    columns, recipes = per_evaluation(rows, run, "smooth", [(f"r = {r:g}", f"certified_accuracy@{r:g}")
                                                            for r in SMOOTH_RADII])
    return by_columns("smoothing", "Randomized smoothing: certified accuracy at L2 radius r", "Approach", recipes,
                      columns, "Certified accuracy (%): correct and certified radius ≥ r; abstentions count as wrong.")

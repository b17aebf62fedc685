"""Table layouts, chosen by name. Each is a pure function (rows, run) -> Table, or None when the rows it
needs are absent. Every module in this package registers its layouts (bench.discover).

Shared here: ``outcomes`` (one evaluation's per-sample values, indexed by (seed, index)) and
``compare`` (cells for several methods on one column: mean, 95% interval, best in bold, and a dagger on
those that McNemar's test cannot tell apart from the best).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from bench.discover import import_all
from bench.registry import Registry
from bench.report import Cell, Table, family, ordered, pct
from bench.report.metrics import per_sample
from bench.report.stats import mcnemar, mean_interval, wilson

LAYOUTS: Registry[Callable[[pd.DataFrame, dict], Table | None]] = Registry("table layout")

ALPHA = 0.05  # the level of the paired test
TIED_NOTE = "† not significantly different from the best of its comparison (exact McNemar test, p ≥ 0.05)."


def outcomes(rows: pd.DataFrame, value="correct") -> pd.Series:
    """Per-sample values of one (dataset, recipe, evaluation) block, indexed by (seed, index).

    ``value`` is a column name or a function of the block returning a Series."""
    s = value(rows) if callable(value) else rows[value]
    return pd.Series(np.asarray(s), index=pd.MultiIndex.from_arrays([rows["seed"], rows["index"]]))


def blocks(rows: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """Rows split by (dataset, recipe, evaluation)."""
    return {k: g for k, g in rows.groupby(["dataset", "recipe", "evaluation"], sort=False)}


def compare(samples: dict[str, pd.Series | None], kind: str = "rate", higher: bool = True,
            fmt: Callable[[float], str] = pct, test: bool = True) -> dict[str, Cell]:
    """Cells for methods compared on one column.

    kind "rate": boolean per-sample outcomes; value = mean over seeds of per-seed accuracy (± std over seeds
    when there are several), Wilson interval on the pooled samples, McNemar against the best.
    kind "mean": real per-sample values (e.g. PR); a normal interval of the mean.
    kind "value": one number per seed (e.g. seconds); no interval.
    """
    cells: dict[str, Cell] = {}
    for key, s in samples.items():
        if s is None or len(s) == 0:
            cells[key] = Cell(None, "")
            continue
        s = s.dropna() if kind != "rate" else s
        per_seed = s.groupby(level=0).mean() if kind != "value" else s
        value = float(per_seed.mean())
        text = fmt(value)
        if kind != "value" and len(per_seed) > 1:
            text += f" ± {fmt(float(per_seed.std())).strip()}"
        cell = Cell(value, text)
        if kind == "rate":
            k, n = int(s.astype(bool).sum()), len(s)
            cell.ci = wilson(k, n)
            cell.note = f"95% CI {pct(cell.ci[0])}–{pct(cell.ci[1])} (Wilson, {k}/{n})"
        elif kind == "mean":
            cell.ci = mean_interval(s.to_numpy())
            cell.note = f"95% CI {fmt(cell.ci[0])}–{fmt(cell.ci[1])} (normal, n={len(s)})"
        cells[key] = cell
    mark_best(list(cells.values()), higher)
    if kind == "rate" and test:
        best = [k for k, c in cells.items() if c.best]
        if best:
            ref = samples[best[0]].astype(bool)
            for key, cell in cells.items():
                if cell.value is None or cell.best:
                    continue
                p, _, _ = mcnemar(ref, samples[key])
                cell.note += f"; McNemar vs {best[0]}: p = {p:.3g}"
                cell.tied = p >= ALPHA
    return cells


def metric_column(bl: dict, ds: str, recipes: list[str], evaluation: str | None, metric: str = "accuracy",
                  **kw) -> dict[str, Cell]:
    """One column: ``metric`` of ``evaluation`` on dataset ``ds`` for each recipe (see bench.report.metrics)."""
    samples = {}
    for r in recipes:
        g = bl.get((ds, r, evaluation)) if evaluation else None
        samples[r] = None if g is None else outcomes(g, lambda g: per_sample(evaluation, g)[metric])
    return compare(samples, "mean" if metric == "pr_mean" else "rate", **kw)


def mark_best(cells: list[Cell], higher: bool = True) -> None:
    """Bold the best value among cells (all ties)."""
    values = [c.value for c in cells if c.value is not None]
    if not values:
        return
    best = max(values) if higher else min(values)
    for c in cells:
        if c.value is not None and abs(c.value - best) < 1e-12:
            c.best = True


def by_columns(name: str, title: str, index: str, labels: list[str], columns: list[tuple[tuple[str, str], dict]],
               caption: str = "", notes: list[str] | None = None) -> Table:
    """A table whose rows are ``labels`` and whose columns are (header, {label: Cell})."""
    header = [h for h, _ in columns]
    body = [(label, [col.get(label, Cell(None, "")) for _, col in columns]) for label in labels]
    notes = list(notes or [])
    if any(c.tied for _, cells in body for c in cells):
        notes.append(TIED_NOTE)
    return Table(name, title, index, header, body, caption, notes)


def by_rows(name: str, title: str, index: str, header: list[tuple[str, str]], rows: list[tuple[str, dict]],
            caption: str = "", notes: list[str] | None = None) -> Table:
    """A table whose rows are (label, {header: Cell}) - comparisons run along each row."""
    body = [(label, [cells.get(h, Cell(None, "")) for h in header]) for label, cells in rows]
    notes = list(notes or [])
    if any(c.tied for _, cells in body for c in cells):
        notes.append(TIED_NOTE)
    return Table(name, title, index, header, body, caption, notes)


def datasets_of(rows: pd.DataFrame, run: dict) -> list[str]:
    return ordered(rows["dataset"], run.get("order", {}).get("datasets"))


def recipes_of(rows: pd.DataFrame, run: dict) -> list[str]:
    return ordered(rows["recipe"], run.get("order", {}).get("recipes"))


def evaluations_of(rows: pd.DataFrame, run: dict, where=None) -> list[str]:
    """Evaluation names in the suite's order (clean first); ``where(name)`` filters."""
    names = ordered(rows["evaluation"], ["clean", *run.get("order", {}).get("evaluations", [])])
    return [n for n in names if where is None or where(n)]


def first_present(present: list[str], candidates: list[str]) -> str | None:
    """The first of ``candidates`` among ``present``: exact names, then by family (e.g. 'attack:PGD[vote]'),
    never a sweep point ('@')."""
    for c in candidates:
        if c in present:
            return c
    for c in candidates:
        for p in present:
            if "@" not in p and family(p) == c:
                return p
    return None


def group(ds: str, datasets: list[str]) -> str:
    """The header group of a dataset's columns: empty when the table has one dataset."""
    return ds if len(datasets) > 1 else ""


import_all(__name__, __path__)

"""Table layouts, chosen by name. Each is a pure function (rows, run) -> Table, or None when the rows it
needs are absent; ``rows`` is a bench.report.data.Rows (a DataFrame of rows is converted). Every module in
this package registers its layouts with ``@layout`` (bench.registry).

Layouts select on the block catalogue (``evaluations_of``, ``part``: the name parts of bench.results.names) and
read aggregates: ``metric_column`` (one declared metric of one evaluation per recipe: mean, 95% interval,
best in bold, and a dagger on those McNemar's test cannot tell apart from the best, every column's counts
from one pass) and ``compare`` (the same for per-sample Series a layout combines itself).
"""
from __future__ import annotations

import functools
from collections import namedtuple
from typing import Callable

import numpy as np
import pandas as pd

from bench.results.metrics import find_metric
from bench.registry import import_all
from bench.results.names import family
from bench.registry import Registry
from bench.report import Cell, Table, ordered, pct
from bench.report.data import Rows, as_rows
from bench.report.stats import mcnemar_p, mean_interval, sums_interval, wilson

Aggregate = namedtuple("Aggregate", "value sd seeds k n ss aggregate")  # one cell's numbers (Rows.values)
LAYOUTS: Registry[Callable[[pd.DataFrame, dict], Table | None]] = Registry("table layout")

ALPHA = 0.05  # the level of the paired test
TIED_NOTE = "† not significantly different from the best of its comparison (exact McNemar test, p ≥ 0.05)."
OVER_INPUTS = "over inputs"  # in the note of a cell of several seeds
SEEDS_NOTE = ("With several seeds, intervals and ties are computed over inputs, not seed × input rows: a normal "
              "interval of the mean of the per-input means over seeds, and the exact sign test over inputs on "
              "those means (McNemar's test with one seed); ± is the std over seeds.")


CERTIFIED_PR = "certified-PR paper"  # "Towards Certified Probabilistic Robustness with High Accuracy" (seeds/002)


def paper_title(what: str, paper: str, table: str) -> str:
    """A paper layout's title: what the table holds, then the paper's own table number, which means nothing
    outside that paper ("Robust accuracy under each attack (certified-PR paper, Table 9)")."""
    return f"{what} ({paper}, {table})"


def layout(name: str):
    """Register a layout under ``name``; it receives the rows as a Rows."""
    def register(fn):
        @functools.wraps(fn)
        def run(rows, run_info: dict) -> Table | None:
            return fn(as_rows(rows), run_info)

        LAYOUTS.register(name)(run)
        return run

    return register


def outcomes(rows: pd.DataFrame, value="correct") -> pd.Series:
    """Per-sample values of one (dataset, recipe, evaluation) block of a DataFrame, indexed by (seed, index)."""
    s = value(rows) if callable(value) else rows[value]
    return pd.Series(np.asarray(s), index=pd.MultiIndex.from_arrays([rows["seed"], rows["index"]]))


def _cell(kind: str, value: float, per_seed_sd: float, seeds: int, fmt, k=None, n=None, ci=None,
          inputs: int | None = None) -> Cell:
    """A cell from its aggregates: value ± sd over seeds; a Wilson interval (rate) or ``ci`` (mean). With
    several seeds ``ci`` is the interval over ``inputs`` inputs (bench.report.stats), the std over seeds beside it."""
    text = fmt(value)
    if kind != "value" and seeds > 1:
        text += f" ± {fmt(per_seed_sd).strip()}"
    cell = Cell(value, text)
    if kind != "value" and seeds > 1:
        cell.ci = (max(ci[0], 0.0), min(ci[1], 1.0)) if kind == "rate" else ci
        cell.note = (f"95% CI {fmt(cell.ci[0])}–{fmt(cell.ci[1])} ({OVER_INPUTS}: {inputs} inputs, per-input mean "
                     f"over seeds, normal); std over {seeds} seeds {fmt(per_seed_sd).strip()}")
    elif kind == "rate":
        cell.ci = wilson(k, n)
        cell.note = f"95% CI {pct(cell.ci[0])}–{pct(cell.ci[1])} (Wilson, {k}/{n})"
    elif kind == "mean":
        cell.ci = ci
        cell.note = f"95% CI {fmt(ci[0])}–{fmt(ci[1])} (normal, n={n})"
    return cell


def _tie(cell: Cell, best: str, counts: tuple[int, int] | None) -> None:
    """The paired test against the column's best from (b, c); None: the two share no input."""
    if counts is None:
        cell.note += f"; vs {best}: not paired (no shared inputs)"
        return
    p = mcnemar_p(*counts)
    cell.note += f"; {'sign test' if OVER_INPUTS in cell.note else 'McNemar'} vs {best}: p = {p:.3g}"
    cell.tied = p >= ALPHA


def compare(samples: dict[str, pd.Series | None], kind: str = "rate", higher: bool = True,
            fmt: Callable[[float], str] = pct, test: bool = True) -> dict[str, Cell]:
    """Cells for methods compared on one column, from per-sample Series indexed by (seed, index).

    kind "rate": boolean per-sample outcomes; value = mean over seeds of per-seed accuracy (± std over seeds
    when there are several), Wilson interval on the samples and McNemar against the best with one seed,
    over inputs with several (bench.report.stats).
    kind "mean": real per-sample values (e.g. PR); a normal interval of the mean (over inputs with several seeds).
    kind "value": one number per seed (e.g. seconds); no interval.
    """
    cells: dict[str, Cell] = {}
    per_input = {}
    for key, s in samples.items():
        if s is None or len(s) == 0:
            cells[key] = Cell(None, "")
            continue
        s = s.dropna() if kind != "rate" else s
        per_seed = s.groupby(level=0).mean() if kind != "value" else s
        per_input[key] = s.astype(float).groupby(level=-1).mean()
        several = kind != "value" and len(per_seed) > 1
        k = int(s.astype(bool).sum()) if kind == "rate" else None
        ci = mean_interval((per_input[key] if several else s).to_numpy()) if several or kind == "mean" else None
        cells[key] = _cell(kind, float(per_seed.mean()), float(per_seed.std()), len(per_seed), fmt, k, len(s), ci,
                           len(per_input[key]))
    mark_best(list(cells.values()), higher)
    if kind == "rate" and test:
        best = [k for k, c in cells.items() if c.best]
        if best:
            for key, cell in cells.items():
                if cell.value is not None and not cell.best:
                    top, mine = per_input[best[0]].align(per_input[key], join="inner")
                    _tie(cell, best[0], (int((top > mine).sum()), int((top < mine).sum())) if len(top) else None)
    return cells


def metric_column(rows: Rows, ds: str, recipes: list[str], evaluation: str | None, metric: str = "accuracy",
                  fmt: Callable[[float], str] = pct) -> dict[str, Cell]:
    """One column: the declared ``metric`` (bench.results.metrics) of ``evaluation`` on dataset ``ds`` per recipe."""
    v = _values(rows).get((ds, evaluation, metric), {})
    cells = {}
    for r in recipes:
        a = v.get(r)
        if a is None or a.n == 0:
            cells[r] = Cell(None, "")
            continue
        ci, inputs = (sums_interval(a.n, a.k, a.ss) if a.aggregate == "mean" else None), None
        if a.seeds > 1:
            inputs, total, squares = rows.inputs[(ds, evaluation, metric, r)]
            ci = sums_interval(inputs, total, squares)
        cells[r] = _cell(a.aggregate, float(a.value), float(a.sd), int(a.seeds), fmt, int(round(a.k)), int(a.n), ci,
                         inputs)
    mark_best(list(cells.values()), higher=_higher(rows, evaluation, metric))
    best = next((r for r, c in cells.items() if c.best), None)
    if best is not None and evaluation is not None and _aggregate(rows, evaluation, metric) == "rate":
        counts = _discordant(rows, tuple(recipes), metric)
        for r, cell in cells.items():
            if cell.value is not None and not cell.best:
                b, c, shared = counts.get((ds, evaluation, r), (0, 0, 0))
                _tie(cell, best, (b, c) if shared else None)
    return cells


def _kind_of(rows: Rows, evaluation: str) -> str | None:
    kinds = rows.blocks.loc[rows.blocks["evaluation"] == evaluation, "kind"]
    return kinds.iloc[0] if len(kinds) else None


def _aggregate(rows: Rows, evaluation: str, metric: str) -> str:
    return find_metric(_kind_of(rows, evaluation), metric).aggregate


def _higher(rows: Rows, evaluation: str | None, metric: str) -> bool:
    kind = _kind_of(rows, evaluation) if evaluation else None
    return find_metric(kind, metric).higher if kind else True


@functools.lru_cache(maxsize=8)
def _values(rows: Rows) -> dict:
    """{(dataset, evaluation, metric): {recipe: aggregates}} from Rows.values, with each metric's aggregate."""
    out: dict = {}
    kinds = dict(zip(rows.blocks["evaluation"].tolist(), rows.blocks["kind"].tolist()))
    v = rows.values  # columns as lists: iterating pandas' Arrow-backed strings boxes one value at a time
    for ds, ev, metric, recipe, *numbers in zip(*(v[c].tolist() for c in (
            "dataset", "evaluation", "metric", "recipe", "value", "sd", "seeds", "k", "n", "ss"))):
        agg = find_metric(kinds[ev], metric).aggregate
        out.setdefault((ds, ev, metric), {})[recipe] = Aggregate(*numbers, agg)
    return out


@functools.lru_cache(maxsize=32)
def _discordant(rows: Rows, recipes: tuple[str, ...], metric: str) -> dict:
    """Paired counts (b, c, shared inputs) of every recipe against its column's best, for every column of one
    rate metric, in one pass (Rows.discordant)."""
    best = []
    for (ds, ev, m), by_recipe in _values(rows).items():
        present = [(r, by_recipe[r].value) for r in recipes if r in by_recipe and by_recipe[r].n > 0]
        if m != metric or not present:
            continue
        values = [v for _, v in present]
        top = max(values) if _higher(rows, ev, metric) else min(values)
        best.append((ds, ev, next(r for r, v in present if abs(v - top) < 1e-12)))
    if not best:
        return {}
    counts = rows.discordant(metric, pd.DataFrame(best, columns=["dataset", "evaluation", "best"]))
    return {(d.dataset, d.evaluation, d.recipe): (int(d.b), int(d.c), int(d.shared))
            for d in counts.itertuples(index=False)}


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
               caption: str = "", notes: list[str] | None = None) -> Table | None:
    """A table whose rows are ``labels`` and whose columns are (header, {label: Cell}); None without columns."""
    if not columns:
        return None
    return by_rows(name, title, index, [h for h, _ in columns],
                   [(label, {h: col.get(label, Cell(None, "")) for h, col in columns}) for label in labels],
                   caption, notes)


def by_rows(name: str, title: str, index: str, header: list[tuple[str, str]], rows: list[tuple[str, dict]],
            caption: str = "", notes: list[str] | None = None) -> Table:
    """A table whose rows are (label, {header: Cell}) - comparisons run along each row."""
    body = [(label, [cells.get(h, Cell(None, "")) for h in header]) for label, cells in rows]
    notes = list(notes or [])
    if any(c.tied for _, cells in body for c in cells):
        notes.append(TIED_NOTE)
    if any(OVER_INPUTS in c.note for _, cells in body for c in cells):
        notes.append(SEEDS_NOTE)
    return Table(name, title, index, header, body, caption, notes)


def datasets_of(rows: Rows, run: dict) -> list[str]:
    return ordered(rows.blocks["dataset"], run.get("order", {}).get("datasets"))


def recipes_of(rows: Rows, run: dict) -> list[str]:
    return ordered(rows.blocks["recipe"], run.get("order", {}).get("recipes"))


def _firsts(rows: Rows, ds: str | None) -> pd.DataFrame:
    b = rows.blocks if ds is None else rows.blocks[rows.blocks["dataset"] == ds]
    return b.drop_duplicates("evaluation")


def evaluations_of(rows: Rows, run: dict, ds: str | None = None, where=None) -> list[str]:
    """Evaluation names (of dataset ``ds``) in the suite's order, clean first; ``where(block)`` filters on
    the name parts and parameters of an evaluation's first block (a row of Rows.blocks)."""
    firsts = _firsts(rows, ds)
    info = {b.evaluation: b for b in firsts.itertuples(index=False)}
    names = ordered(firsts["evaluation"], ["clean", *run.get("order", {}).get("evaluations", [])])
    return [n for n in names if where is None or where(info[n])]


def part(rows: Rows, evaluation: str, column: str, ds: str | None = None):
    """A name part or parameter (eps, kappa, alpha, sigma, ...) of an evaluation: its first non-null value."""
    b = rows.blocks if ds is None else rows.blocks[rows.blocks["dataset"] == ds]
    v = b.loc[b["evaluation"] == evaluation, column].dropna()
    return v.iloc[0] if len(v) else None


def linf_bounded(b) -> bool:
    """Whether an evaluation's first block may fill a Linf column: an attack whose eps bounds the Linf norm
    (rows written before the ``norm`` column count when their eps is set); never an unbounded attack (CW,
    eps null) or one of another norm."""
    return b.kind == "attack" and not pd.isna(b.eps) and (pd.isna(b.norm) or b.norm == "linf")


def first_present(rows: Rows, run: dict, ds: str, candidates: list[str], where=None) -> str | None:
    """The first of ``candidates`` (evaluation names) on dataset ``ds`` that passes ``where(block)``: exact
    names, then by family (e.g. 'attack:PGD[vote]' for 'attack:PGD'), never a sweep point."""
    present = evaluations_of(rows, run, ds, where)
    for c in candidates:
        if c in present:
            return c
    whole = evaluations_of(rows, run, ds, lambda b: not b.sweep and (where is None or where(b)))
    info = {b.evaluation: b for b in _firsts(rows, ds).itertuples(index=False)}
    for c in candidates:
        for p in whole:
            b = info[p]
            if family(p, b.kind, b.base, b.component) == c:
                return p
    return None


def per_evaluation(rows: Rows, run: dict, kind: str, metrics: list[tuple[str, str]]) -> tuple[list, list[str]]:
    """(columns, recipes): for every evaluation of ``kind`` on every dataset, one column per (label, metric),
    grouped under the evaluation's name."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    for ds in datasets:
        for ev in evaluations_of(rows, run, ds, lambda b: b.kind == kind):
            head = f"{ds} {ev}" if len(datasets) > 1 else ev
            columns += [((head, label), metric_column(rows, ds, recipes, ev, metric)) for label, metric in metrics]
    return columns, recipes


def group(ds: str, datasets: list[str]) -> str:
    """The header group of a dataset's columns: empty when the table has one dataset."""
    return ds if len(datasets) > 1 else ""


import_all(__name__, __path__)

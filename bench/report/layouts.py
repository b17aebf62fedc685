"""Table layouts, chosen by name. Each is a pure function (rows, run) -> Table."""
from __future__ import annotations

from typing import Callable

import pandas as pd

from bench.registry import Registry
from bench.report import Cell, Table, ordered, pct

LAYOUTS: Registry[Callable[[pd.DataFrame, dict], Table | None]] = Registry("table layout")


def mark_best(rows: list[tuple[str, list[Cell]]], higher: bool = True) -> None:
    """Bold the best value of each column (all ties)."""
    if not rows:
        return
    for j in range(len(rows[0][1])):
        values = [r[1][j].value for r in rows if r[1][j].value is not None]
        if not values:
            continue
        best = max(values) if higher else min(values)
        for _, cells in rows:
            if cells[j].value is not None and abs(cells[j].value - best) < 1e-12:
                cells[j].best = True


def accuracy_cell(series: pd.Series) -> Cell:
    """Mean of per-sample successes; over several seeds, mean of per-seed accuracies with +- std."""
    return Cell(float(series.mean()), pct(series.mean()))


@LAYOUTS.register("leaderboard")
def leaderboard(rows: pd.DataFrame, run: dict) -> Table:
    """Rows = recipe; columns = accuracy under each evaluation, per dataset (percent); best in bold."""
    order = run.get("order", {})
    datasets = ordered(rows["dataset"], order.get("datasets"))
    recipes = ordered(rows["recipe"], order.get("recipes"))
    header, keys = [], []
    for ds in datasets:
        evals = ordered(rows.loc[rows["dataset"] == ds, "evaluation"], ["clean", *order.get("evaluations", [])])
        for ev in evals:
            header.append((ds if len(datasets) > 1 else "", ev))
            keys.append((ds, ev))
    acc = rows.groupby(["dataset", "recipe", "evaluation", "seed"])["correct"].mean()
    body = []
    for r in recipes:
        cells = []
        for ds, ev in keys:
            try:
                per_seed = acc.loc[(ds, r, ev)]
            except KeyError:
                cells.append(Cell(None, ""))
                continue
            mean = float(per_seed.mean())
            text = pct(mean)
            if len(per_seed) > 1:
                text += f" ± {100 * float(per_seed.std()):.1f}"
            cells.append(Cell(mean, text))
        body.append((r, cells))
    mark_best(body)
    n = rows.groupby(["dataset"])["index"].nunique()
    caption = "Accuracy (%) on " + ", ".join(f"{ds} (n={n[ds]})" for ds in datasets) + "; best per column in bold."
    return Table("leaderboard", "Leaderboard", "recipe", header, body, caption)

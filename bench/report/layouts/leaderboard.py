"""The leaderboard: every evaluation's headline metric (its kind's declaration, bench.results.metrics) per recipe
and dataset."""
from __future__ import annotations

from bench.results.metrics import headline_metric
from bench.report import Table
from bench.report.data import Rows
from bench.report.layouts import by_columns, datasets_of, evaluations_of, group, layout, metric_column, recipes_of


@layout("leaderboard")
def leaderboard(rows: Rows, run: dict) -> Table:
    """Rows = recipe; columns = each evaluation's headline metric per dataset (%); best in bold."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    kinds = dict(zip(rows.blocks["evaluation"], rows.blocks["kind"]))
    for ds in datasets:
        for ev in evaluations_of(rows, run, ds):
            metric = headline_metric(kinds[ev])
            suffix = metric.display or ("" if metric.name == "accuracy" else metric.name)
            columns.append(((group(ds, datasets), ev + (f" ({suffix})" if suffix else "")),
                            metric_column(rows, ds, recipes, ev, metric.name)))
    n = rows.indices
    caption = ("Accuracy (%) on " + ", ".join(f"{ds} (n={n[ds]})" for ds in datasets)
               + "; best per column in bold.")
    return by_columns("leaderboard", "Leaderboard: each evaluation's headline metric", "recipe", recipes, columns,
                      caption)

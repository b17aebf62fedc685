"""The leaderboard: every evaluation's headline metric per recipe and dataset."""
from __future__ import annotations

import pandas as pd

from bench.report import Table
from bench.report.layouts import (LAYOUTS, blocks, by_columns, datasets_of, evaluations_of, group, metric_column,
                                  recipes_of)
from bench.report.metrics import headline

SHORT = {"accuracy": "", "certified_accuracy": " (cert. acc.)", "pr_mean": " (mean PR)",
         "certified_accuracy@0.5": " (cert. acc. r=0.5)"}


@LAYOUTS.register("leaderboard")
def leaderboard(rows: pd.DataFrame, run: dict) -> Table:
    """Rows = recipe; columns = each evaluation's headline metric per dataset (%); best in bold."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    columns = []
    for ds in datasets:
        for ev in evaluations_of(rows[rows["dataset"] == ds], run):
            metric = headline(ev)
            columns.append(((group(ds, datasets), ev + SHORT.get(metric, f" ({metric})")),
                            metric_column(bl, ds, recipes, ev, metric)))
    n = rows.groupby("dataset")["index"].nunique()
    caption = ("Accuracy (%) on " + ", ".join(f"{ds} (n={n[ds]})" for ds in datasets)
               + "; best per column in bold.")
    return by_columns("leaderboard", "Leaderboard", "recipe", recipes, columns, caption)

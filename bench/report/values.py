"""Every scalar metric the rows hold, in long format: one row per (dataset, recipe, evaluation, metric).

This is what `bench check` compares with a reference file and what `--compare-paper` puts beside the
published numbers. The metrics are those each kind of rows declares (bench.results.metrics: accuracy, certified
rate and accuracy, mean PR, ProbAcc(q), smoothing's certified accuracy at radii, and any kind registered
later). Values are fractions, the mean over seeds of the per-seed value; ``n`` is the number of
per-sample values behind it. All of them come from one columnar pass (bench.report.data.Rows.values).
"""
from __future__ import annotations

import pandas as pd

from bench.report.data import as_rows

METRIC_COLUMNS = ["dataset", "recipe", "evaluation", "metric", "value", "n"]


def metric_values(rows) -> pd.DataFrame:
    """All metrics of all (dataset, recipe, evaluation) blocks, in the rows' order (``rows``: a
    bench.report.data.Rows or a DataFrame of rows)."""
    out = as_rows(rows).values[METRIC_COLUMNS].copy()
    out["value"] = out["value"].astype(float)
    out["n"] = out["n"].astype(int)
    return out.reset_index(drop=True)

"""Paper 002 Table 4 ("Towards Certified Probabilistic Robustness with High Accuracy"): training and
inference seconds per method. Training seconds come from RESULTS/models/<train cell>.json, evaluation
seconds from each parquet file's metadata (both gathered by bench.report.load_run into run["timings"]).
"""
from __future__ import annotations

import pandas as pd

from bench.report import Table
from bench.report.data import Rows
from bench.report.layouts import by_columns, compare, datasets_of, evaluations_of, group, layout, recipes_of


def seconds(v: float) -> str:
    """Seconds, the way the paper prints large ones: 0.026, 27, 183, 9.6×10^3, 2.7×10^5."""
    if v < 1000:
        return f"{v:.3g}"
    mantissa, exp = f"{v:.1e}".split("e")
    return f"{mantissa}×10^{int(exp)}"


def _per_seed(blocks: pd.DataFrame, cell_col: str, timing: dict) -> pd.Series | None:
    """Seconds per seed of a recipe's blocks, each cell counted once (its first block)."""
    values, seen = {}, set()
    for s, c in zip(blocks["seed"].tolist(), blocks[cell_col].tolist()):
        if c not in seen:
            seen.add(c)
            if c in timing:
                values[int(s)] = timing[c]
    return pd.Series(values, dtype=float) if values else None


@layout("table4")
def table4(rows: Rows, run: dict) -> Table | None:
    """Paper 002 Table 4: training seconds and inference seconds (clean; certification) per method."""
    timings = run.get("timings") or {}
    train, evals = timings.get("train", {}), timings.get("eval", {})
    if not train and not evals:
        return None
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    for ds in datasets:
        sub = rows.blocks[rows.blocks["dataset"] == ds]
        certs = evaluations_of(rows, run, ds, lambda b: b.kind in ("certify", "smooth", "ibp"))
        wanted = [("Training time (s)", None, "train_cell", train), ("Inference time (s)", "clean", "cell", evals)]
        if certs:
            wanted.append((f"Certification time (s), {certs[0]}", certs[0], "cell", evals))
        for title, ev, col, timing in wanted:
            by_recipe = dict(tuple((sub[sub["evaluation"] == ev] if ev else sub).groupby("recipe", sort=False)))
            samples = {r: _per_seed(by_recipe[r], col, timing) if r in by_recipe else None for r in recipes}
            if any(s is not None for s in samples.values()):
                columns.append(((group(ds, datasets), title), compare(samples, "value", higher=False, fmt=seconds)))
    device = run.get("device", "")
    return by_columns("table4", "Table 4: training and inference cost", "Approach", recipes, columns,
                      f"Wall-clock seconds{' on ' + device if device else ''}, mean over seeds; "
                      "inference over the evaluated test samples; lowest in bold.")

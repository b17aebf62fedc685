"""Paper 002 Table 4 ("Towards Certified Probabilistic Robustness with High Accuracy"): training and
inference seconds per method. Training seconds come from RESULTS/models/<train cell>.json, evaluation
seconds from each parquet file's metadata (both gathered by bench.report.load_run into run["timings"]).

Timings are single wall-clock measurements on a machine that may be shared: no samples, no interval. So a
column's lowest time is bold only when it is clearly lower, ``MARGIN`` (20%) below the runner-up (0.135 s
against 0.354 s is; 0.30 s against 0.33 s is not). A model trained elsewhere (a suite's ``models:`` entry,
``bench.evaluate``) was not trained here: its training cell reads "not trained", never a best 0.
"""
from __future__ import annotations

import pandas as pd

from bench.report import Cell, Table
from bench.report.data import Rows
from bench.report.layouts import (CERTIFIED_PR, by_columns, compare, datasets_of, evaluations_of, group, layout,
                                  paper_title, recipes_of)


def seconds(v: float) -> str:
    """Seconds, the way the paper prints large ones: 0.026, 27, 183, 9.6×10^3, 2.7×10^5."""
    if v < 1000:
        return f"{v:.3g}"
    mantissa, exp = f"{v:.1e}".split("e")
    return f"{mantissa}×10^{int(exp)}"


MARGIN = 0.2  # the lowest time is bold when at least 20% below the runner-up
NOT_TRAINED = "not trained"
RULE = (f"bold: lowest, and at least {MARGIN:.0%} below the next (timings are single measurements, so a smaller "
        "difference may be noise)")


def mark_clear_best(cells: dict[str, Cell], margin: float = MARGIN) -> None:
    """Bold the lowest value only when it is at least ``margin`` below the runner-up (see the module docstring)."""
    for c in cells.values():
        c.best = False
    ranked = sorted((c.value, k) for k, c in cells.items() if c.value is not None)
    if len(ranked) >= 2 and ranked[0][0] <= (1 - margin) * ranked[1][0]:
        cells[ranked[0][1]].best = True


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
    external = set(run.get("models") or {})  # trained elsewhere: no training time
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
            if ev is None:
                samples = {r: None if r in external else s for r, s in samples.items()}
            if any(s is not None for s in samples.values()):
                cells = compare(samples, "value", higher=False, fmt=seconds)
                mark_clear_best(cells)
                if ev is None:
                    cells.update({r: Cell(None, NOT_TRAINED) for r in recipes if r in external and r in by_recipe})
                columns.append(((group(ds, datasets), title), cells))
    device = run.get("device", "")
    return by_columns("table4", paper_title("Training and inference cost", CERTIFIED_PR, "Table 4"), "Approach",
                      recipes, columns, f"Wall-clock seconds{' on ' + device if device else ''}, mean over seeds; "
                      f"inference over the evaluated test samples; {RULE}. Models trained elsewhere: {NOT_TRAINED}.")

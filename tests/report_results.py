"""A results folder written through bench.results.store from synthetic rows: what `bench report` and `bench check`
read, without training anything."""
from __future__ import annotations

from pathlib import Path

from bench.results import atomic, store
from report_rows import run_info, synthetic


def write_results(out: Path, rows=None, **kw) -> Path:
    """One cell per (recipe, seed, evaluation) of ``rows`` (default: synthetic(**kw))."""
    rows = synthetic(**kw) if rows is None else rows
    cells = []
    for i, ((recipe, seed, ev), g) in enumerate(rows.groupby(["recipe", "seed", "evaluation"], sort=False)):
        cols = {c: g[c].to_numpy() for c in g.columns if g[c].notna().any()}
        cell = f"{i:016x}"  # a cell id: 16 hex digits
        cols["cell"] = [cell] * len(g)
        store.write_rows(out, cell, cols, {"cell": cell, "evaluation": ev, "seconds": 0.5 + i / 100})
        cells.append({"id": cell, "evaluation": ev})
    info = run_info()
    for tid, sec in info["timings"]["train"].items():
        atomic.write_json(out / "models" / f"{tid}.json", {"id": tid, "train_seconds": sec})
    atomic.write_json(out / "run.json", {**{k: v for k, v in info.items() if k != "timings"}, "eval_cells": cells})
    return out

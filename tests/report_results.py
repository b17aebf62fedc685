"""A results folder written through bench.results.store from synthetic rows: what `bench report` and `bench check`
read, without training anything."""
from __future__ import annotations

from pathlib import Path

from bench.ids import cell_id
from bench.results import atomic, integrity, store
from report_rows import run_info, synthetic


def train_id(name: str) -> str:
    """The 16-hex-digit train cell id standing for a synthetic model name (erm-0)."""
    return cell_id(name)


def write_results(out: Path, rows=None, **kw) -> Path:
    """One cell per (recipe, seed, evaluation) of ``rows`` (default: synthetic(**kw))."""
    rows = synthetic(**kw) if rows is None else rows
    cells = []
    for i, ((recipe, seed, ev), g) in enumerate(rows.groupby(["recipe", "seed", "evaluation"], sort=False)):
        cols = {c: g[c].to_numpy() for c in g.columns if g[c].notna().any()}
        cell = f"{i:016x}"  # a cell id: 16 hex digits
        cols["cell"] = [cell] * len(g)
        if "train_cell" in cols:
            cols["train_cell"] = [train_id(t) for t in cols["train_cell"]]
        store.write_rows(out, cell, cols, {"cell": cell, "evaluation": ev, "seconds": 0.5 + i / 100})
        cells.append({"id": cell, "evaluation": ev})
    info = run_info()
    trains = []
    for name, sec in info["timings"]["train"].items():  # each model cell's record, sealed as bench.results.store's
        tid = train_id(name)
        atomic.write_bytes(out / "models" / f"{tid}.json", integrity.seal_record({"id": tid, "train_seconds": sec}, ""))
        trains.append({"id": tid})
    atomic.write_json(out / "run.json", {**{k: v for k, v in info.items() if k != "timings"}, "eval_cells": cells,
                                         "train_cells": trains})
    return out

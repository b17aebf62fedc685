"""Reports: pure functions from per-sample rows to tables, and renderers. Imports neither torch nor
torchattacks (a test checks): `bench report` starts in the time pandas, DuckDB and jinja2 take.

``load_rows(results)`` reads the done cells into DuckDB (bench.report.data.Rows); layouts in
bench.report.layouts turn rows into a ``Table``; bench.report.render turns tables into Markdown, HTML or LaTeX.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Cell:
    value: float | None  # the number (a fraction for rates), None for an empty cell
    text: str  # how it prints
    best: bool = False  # printed bold
    note: str = ""  # e.g. a confidence interval and a test, shown as a tooltip
    ci: tuple[float, float] | None = None  # 95% interval of value
    tied: bool = False  # not significantly different from the best of its comparison (printed with a dagger)


@dataclass
class Table:
    name: str
    title: str
    index: str  # the header of the row-label column
    header: list[tuple[str, str]]  # (group, column); group "" for a one-level header
    rows: list[tuple[str, list[Cell]]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def grouped(self) -> bool:
        return any(g for g, _ in self.header)


def load_rows(results: str | Path):
    """The per-sample rows of a results folder's done cells, as a bench.report.data.Rows."""
    from bench.report.data import load

    return load(results)


def load_run(results: str | Path) -> dict:
    """run.json, plus ``timings``: training seconds per train cell (models/*.json) and evaluation seconds
    per eval cell (each parquet file's metadata), for the cost table."""
    from bench.results import cell_files, cell_meta

    root = Path(results)
    path = root / "run.json"
    run = json.loads(path.read_text()) if path.exists() else {}
    train = {}
    for f in sorted((root / "models").glob("*.json")) if (root / "models").is_dir() else []:
        meta = json.loads(f.read_text())
        if meta.get("train_seconds") is not None:
            train[meta.get("id", f.stem)] = float(meta["train_seconds"])
    evals = {}
    for f in cell_files(root, check=True):
        meta = cell_meta(f)  # bench.store.write_rows
        if meta.get("seconds") is not None:
            evals[meta.get("cell", f.stem)] = float(meta["seconds"])
    run["timings"] = {"train": train, "eval": evals}
    return run


def ordered(values, preferred: list | None) -> list:
    """Distinct values in the preferred order first, the rest in first-seen order."""
    seen = list(dict.fromkeys(values))
    pref = [v for v in dict.fromkeys(preferred or []) if v in seen]
    return pref + [v for v in seen if v not in pref]


def pct(x: float | None, digits: int = 1) -> str:
    return "" if x is None or pd.isna(x) else f"{100 * x:.{digits}f}"

"""Which tables a report holds, and rendering by format name."""
from __future__ import annotations

import pandas as pd

from bench.report import Table
from bench.report.layouts import LAYOUTS
from bench.report.render import html, latex, markdown

DEFAULT_TABLES = ["leaderboard"]


def tables_for(rows: pd.DataFrame, run: dict, names: list[str] | None) -> list[Table]:
    """The named layouts (each checked against the registry), or every default layout the rows allow."""
    out = []
    for name in names or DEFAULT_TABLES:
        table = LAYOUTS.get(name, field="--table")(rows, run)
        if table is not None:
            out.append(table)
    return out


def render(fmt: str, tables: list[Table], title: str, rows: pd.DataFrame, run: dict) -> str:
    if fmt == "md":
        return markdown(tables, title)
    if fmt == "latex":
        return latex(tables, title)
    meta = {k: run[k] for k in ("suite", "device", "git_commit") if run.get(k)}
    return html(tables, title, meta)

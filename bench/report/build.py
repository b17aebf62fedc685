"""Which tables a report holds, and rendering by format name."""
from __future__ import annotations

import pandas as pd

from bench.errors import UserError
from bench.report import Table
from bench.report.data import as_rows
from bench.report.layouts import LAYOUTS
from bench.report.plots import figures
from bench.report.render import html, latex, markdown

# The default report: every layout the rows allow, in this order (then any other registered layout).
DEFAULT_TABLES = ["leaderboard", "table1", "table2", "table3", "table9", "atpr", "adt", "mail", "pr", "eps",
                  "table10", "table11", "table12", "smoothing", "table4"]
FORMATS = ("md", "html", "latex")


def default_tables() -> list[str]:
    return [n for n in DEFAULT_TABLES if n in LAYOUTS] + [n for n in LAYOUTS if n not in DEFAULT_TABLES]


def tables_for(rows: pd.DataFrame, run: dict, names: list[str] | None) -> list[Table]:
    """The named layouts (each checked against the registry; one the rows do not allow is an error), or every
    default layout the rows allow."""
    rows = as_rows(rows)
    if not names:
        return [t for t in (LAYOUTS.get(n)(rows, run) for n in default_tables()) if t is not None]
    tables = []
    for name in names:
        table = LAYOUTS.get(name, field="--table")(rows, run)
        if table is None:
            raise UserError(f"--table {name}: these results hold none of the rows it needs "
                            f"({LAYOUTS.get(name).__doc__.splitlines()[0]})")
        tables.append(table)
    return tables


def render(fmt: str, tables: list[Table], title: str, rows: pd.DataFrame, run: dict, ci: bool = False) -> str:
    if fmt == "md":
        return markdown(tables, title, ci)
    if fmt == "latex":
        return latex(tables, title, ci)
    meta = {k: run[k] for k in ("suite", "device", "git_commit") if run.get(k)}
    return html(tables, title, meta, figures(as_rows(rows), run))

"""A static leaderboard site over one or more results folders (`bench report DIR ... --site SITE`).

In the spirit of robustbench.github.io: ``index.html`` lists one board per (dataset, threat model) with its
top entries and sizes; a board (bench.report.board) ranks the entries evaluated with its reference evaluation
(AutoAttack, standard version, for Linf and L2) by that evaluation's robust accuracy, and lists the others
apart with what they ran, never ranked among them. Every line shows clean accuracy, the best known robust
accuracy (the per-input AND over every attack of the threat model), 95% Wilson intervals, AutoAttack's
checks, and what bench.report.about knows of the model: architecture, parameters, paper (venue, year, link),
extra data, date. Tables sort by any column and a search box filters by model; both live in the page's
address (``#sort=2:desc&q=mart``; the table of entries listed apart: ``sort-apart``), so a view can be
linked. Each entry has a page (bench.report.site_entry) and its plots, in the colour its model has in the
report.

Paths are never absolute: a results folder and its files are shown relative to the site folder, or under
the label ``--source-label`` gives it. Everything is in the pages (CSS, script, SVG plots): no page requests
anything from elsewhere; the only addresses outside are links to papers.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bench.errors import UserError
from bench.report.about import annotate, count
from bench.report.board import boards, entries
from bench.report.data import Rows, _sql
from bench.report.plots import figures, palette
from bench.report.site_entry import entry_view
from bench.results import atomic

TOP = 3  # entries per board on the index page


class Paths:
    """How the site shows a path: under its results folder's label (``--source-label``), else relative to
    the site folder; never absolute."""

    def __init__(self, site: Path, folders: list[str], labels: list[str] | None = None):
        if labels and len(labels) != len(folders):
            raise UserError(f"--source-label: give one label per results folder ({len(folders)} folders, "
                            f"{len(labels)} labels)")
        self.site = Path(os.path.abspath(site))
        self.labels = {os.path.abspath(f): label for f, label in zip(folders, labels or [])}

    def show(self, path: str) -> str:
        if not path:
            return ""
        full = os.path.abspath(path)
        for folder, label in self.labels.items():
            if full == folder or full.startswith(folder + os.sep):
                rel = os.path.relpath(full, folder)
                return label if rel == "." else f"{label}/{rel}"
        return os.path.relpath(full, self.site) if os.path.isabs(path) else path


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda x: "" if x is None or pd.isna(x) else f"{100 * x:.1f}"
    env.filters["count"] = count
    return env


def write_site(site: Path, rows: Rows, run: dict, labels: list[str] | None = None) -> int:
    """Write index.html, a page per board and a page per entry into ``site``; returns the page count. The
    boards are aggregated in DuckDB; each entry's rows are read for its own page only. ``labels``: one per
    results folder (run["folders"]), shown instead of its path."""
    env = _env()
    paths = Paths(site, run.get("folders") or [], labels)
    found = entries(rows, run)
    annotate(found, rows, run)
    for e in found.values():
        e.folders = [paths.show(f) for f in e.folders]
    seeds = pd.Series([k[:2] for k in found]).value_counts()
    names = {k: (k[1] if seeds[k[:2]] == 1 else f"{k[1]} (seed {k[2]})") for k in found}
    colour = palette(rows, run)
    all_boards = boards(rows, run, found)
    site.mkdir(parents=True, exist_ok=True)
    title = f"bench leaderboard: {run.get('suite', '')}"
    common = {"names": names, "colour": colour, "run": run}
    pages = {"index.html": env.get_template("site_index.html").render(
        title=title, boards=all_boards, entries=found.values(), top=TOP, home=True,
        folders=[paths.show(f) for f in run.get("folders") or []], **common)}
    for b in all_boards:
        pages[b["page"]] = env.get_template("site_board.html").render(title=b["title"], board=b, **common)
    for key, e in found.items():
        on = []
        for b in all_boards:
            line = next((line for line in b["ranked"] + b["unranked"] if line["entry"] is e), None)
            if line is not None:
                on.append((b, line.get("rank"), len(b["ranked"])))
        mine = rows.query(f"SELECT * EXCLUDE (src, pos) FROM rows WHERE dataset = {_sql(key[0])} AND recipe = "
                          f"{_sql(key[1])} AND seed = {key[2]} ORDER BY src, pos")
        view = entry_view(mine, run, paths, figures(mine, run, colour))
        pages[e.page] = env.get_template("site_entry.html").render(title=names[key], e=e, view=view, boards=on,
                                                                   **common)
    for name, text in pages.items():
        atomic.write_text(site / name, text)  # whole pages, never through a link
    return len(pages)

"""A static leaderboard site over one or more results folders (`bench report DIR ... --site SITE`).

In the spirit of robustbench.github.io: ``index.html`` lists one board per (dataset, threat model); a board
ranks every entry (a label and seed) by its robust accuracy, the per-sample worst case over every attack
of that threat model (a sample counts when no attack of the board flipped it), with clean accuracy, 95%
Wilson intervals, whether AutoAttack ran and whether its checks flagged anything, and where the entry came
from. Tables sort by any column and a search box filters by model; both live in the page's address
(``#sort=2:desc&q=mart``), so a view can be linked. Each entry has a page with every evaluation, its
interval, the cells' notes (AutoAttack's checks in full), settings, the files it came from, and its plots.

Everything is in the pages (CSS, script, SVG plots): no page requests anything from elsewhere.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bench.report import ordered
from bench.report.data import Rows, _sql
from bench.report.plots import figures
from bench.report.stats import wilson
from bench.results import atomic


NORMS = {"linf": "Linf", "l2": "L2"}  # how a board names a norm


def _norm(norm: str | None, params: str) -> str | None:
    """An attack block's board norm ('Linf', 'L2'): its rows' ``norm`` column, else (rows written before that
    column) the norm its resolved parameters name or its attack bounds; None when unbounded."""
    if norm is not None and not pd.isna(norm):
        return NORMS.get(str(norm).lower(), str(norm))
    p = json.loads(params or "{}")
    if p.get("norm"):
        return NORMS.get(str(p["norm"]).lower(), str(p["norm"]))
    if p.get("attack"):
        from bench.attacks import ATTACKS

        name = p["attack"]
        norm = ATTACKS.get(name).norm if name in ATTACKS else None
        return NORMS.get(norm) if norm else None
    return None


def slug(*parts) -> str:
    """A file name for any label (labels may hold any character)."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:12]


@dataclass
class Entry:
    dataset: str
    label: str
    seed: int
    page: str
    source: str
    folders: list[str]


def _acc(correct: pd.Series) -> dict:
    return _wilson(int(correct.sum()), int(len(correct)))


def _wilson(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"value": k / n if n else float("nan"), "lo": lo, "hi": hi, "n": n}


def _source(label: str, run: dict) -> str:
    """Where an entry's model came from: the recipe's method and card, or the external model's source."""
    if label in (run.get("models") or {}):
        m = run["models"][label]
        src = m.get("source", "python")
        return f"{src}: {m.get(src, m.get('class', ''))}" if src in m or "class" in m else src
    r = (run.get("recipes") or {}).get(label)
    return f"recipe {r.get('method')} (card {r.get('card')})" if r else ""


# the rows of one threat model's boards, selected on the name parts' columns: bounded attacks (eps known: not null,
# not NaN), not AutoAttack's components
ATTACK_ROWS = "kind = 'attack' AND eps IS NOT NULL AND NOT isnan(eps) AND component IS NULL"
CLEAN_ROWS = "kind = 'clean' AND base = 'clean' AND predictor IS NULL"  # the `clean` evaluation
FIRST = "min(src || ':' || lpad(CAST(pos AS VARCHAR), 12, '0'))"  # the rows' order: the first row of a group


def _aa_flag(ran: bool, cells, run: dict) -> dict:
    """AutoAttack on this board: ran or not (an attack of the board whose base is AutoAttack's), and the
    checks' messages."""
    checks = []
    for cell in cells:
        note = ((run.get("cells") or {}).get(cell, {}).get("meta", {}).get("notes") or {}).get("autoattack")
        if note:
            checks += note.get("checks") or []
    return {"ran": ran, "checks": checks}


def _score(line: dict) -> tuple:
    return (-line["robust"]["value"], -(line["clean"] or {"value": 0})["value"])


def boards(rows: Rows, run: dict, entries: dict) -> list[dict]:
    """One board per (dataset, norm, eps), its entries ranked by robust accuracy: per entry, the share of
    inputs that no attack of the board flipped (one DuckDB pass over the rows, selected on their name parts'
    columns; the norm from the rows' ``norm`` column, or the attacks' parameters for rows without it)."""
    pairs = [tuple(None if pd.isna(v) else v for v in pair) for pair in rows.con.execute(
        f"SELECT DISTINCT norm, params FROM rows WHERE {ATTACK_ROWS}").fetchall()]
    norms = pd.DataFrame([(n, p, _norm(n, p)) for n, p in pairs], columns=["norm", "params", "board_norm"],
                         dtype=object).dropna(subset=["board_norm"])
    if not len(norms):
        return []
    lines = rows.query(f"""
        WITH a AS (SELECT r.* EXCLUDE (norm), n.board_norm AS norm FROM rows r JOIN board_norms n
                   ON r.params IS NOT DISTINCT FROM n.params AND r.norm IS NOT DISTINCT FROM n.norm
                   WHERE {ATTACK_ROWS}),
        per AS (SELECT dataset, norm, eps, recipe, seed, index, bool_and(correct) AS ok FROM a GROUP BY ALL),
        acc AS (SELECT dataset, norm, eps, recipe, seed, count(*) AS n,
                       sum(CASE WHEN ok THEN 1 ELSE 0 END) AS k FROM per GROUP BY ALL),
        cells AS (SELECT dataset, norm, eps, recipe, seed, cell, {FIRST} AS cell_first FROM a GROUP BY ALL),
        meta AS (SELECT dataset, norm, eps, recipe, seed, list(cell ORDER BY cell_first) AS cells,
                        min(cell_first) AS first FROM cells GROUP BY ALL),
        evs AS (SELECT dataset, norm, eps, recipe, seed, list(DISTINCT evaluation) AS evaluations,
                       bool_or(starts_with(base, 'AutoAttack')) AS aa FROM a GROUP BY ALL)
        SELECT * FROM acc JOIN meta USING (dataset, norm, eps, recipe, seed) JOIN evs USING (dataset, norm, eps, recipe, seed)
        ORDER BY first""",
                       board_norms=norms)
    clean = {(r.dataset, r.recipe, int(r.seed)): _wilson(int(r.k), int(r.n)) for r in rows.query(
        "SELECT dataset, recipe, seed, count(*) AS n, sum(CAST(correct AS INT)) AS k FROM rows "
        f"WHERE {CLEAN_ROWS} GROUP BY ALL").itertuples(index=False)}
    out = []
    for ds in ordered([k[0] for k in entries], run.get("order", {}).get("datasets")):
        sub = lines[lines["dataset"] == ds]
        for (norm, eps), threat in sub.groupby(["norm", "eps"], sort=True):
            board = []
            for r in threat.itertuples(index=False):
                key = (ds, r.recipe, int(r.seed))
                board.append({"entry": entries[key], "robust": _wilson(int(r.k), int(r.n)), "clean": clean.get(key),
                              "attacks": sorted(r.evaluations), "aa": _aa_flag(bool(r.aa), r.cells, run)})
            board.sort(key=_score)
            for i, line in enumerate(board):  # ties share a rank (1, 1, 3)
                same = i and _score(board[i - 1]) == _score(line)
                line["rank"] = board[i - 1]["rank"] if same else i + 1
            out.append({"dataset": ds, "norm": norm, "eps": float(eps), "lines": board,
                        "page": f"board-{slug(ds, norm, eps)}.html", "title": f"{ds}, {norm}, ε = {eps:g}"})
    return out


def _entry_view(e: Entry, rows: pd.DataFrame, run: dict) -> dict:
    evals = []
    for ev in ordered(rows["evaluation"].unique(), ["clean", *run.get("order", {}).get("evaluations", [])]):
        g = rows[rows["evaluation"] == ev]
        cell = g["cell"].iloc[0]
        info = (run.get("cells") or {}).get(cell, {})
        meta = info.get("meta", {})
        evals.append({"name": ev, "acc": _acc(g["correct"].fillna(False).astype(bool)), "cell": cell,
                      "eps": None if g["eps"].isna().all() else float(g["eps"].iloc[0]),
                      "params": meta.get("params", json.loads(g["params"].iloc[0] or "{}")),
                      "n_test": meta.get("n_test"), "sample_seed": meta.get("sample_seed"),
                      "notes": json.dumps(meta.get("notes"), indent=2, sort_keys=True) if meta.get("notes") else "",
                      "file": info.get("file", "")})
    train_cells = rows["train_cell"].unique()
    models = [m for c in rows["cell"].unique() if (m := (run.get("cells") or {}).get(c, {}).get("model"))]
    model = models[0] if models else {}
    settings = model.get("external") or model.get("config") or {}
    paths, digests = model.get("files") or {}, model.get("sha256") or {}
    files = [(k, paths.get(k, "(in memory)"), digests.get(k, "")) for k in dict.fromkeys([*paths, *digests])]
    return {"evaluations": evals, "train_cells": list(train_cells), "settings": json.dumps(settings, indent=2, sort_keys=True),
            "files": files, "method": model.get("method", ""), "plots": figures(rows, run)}


def write_site(site: Path, rows: Rows, run: dict) -> int:
    """Write index.html, a page per board and a page per entry into ``site``; returns the page count. The
    boards are aggregated in DuckDB; each entry's rows are read for its own page only."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda x: "" if x is None or pd.isna(x) else f"{100 * x:.1f}"
    entries = {}
    for r in rows.query(f"SELECT dataset, recipe, seed, {FIRST} AS first FROM rows GROUP BY ALL "
                        "ORDER BY first").itertuples(index=False):
        ds, label, seed = r.dataset, r.recipe, int(r.seed)
        entries[(ds, label, seed)] = Entry(ds, label, seed, f"entry-{slug(ds, label, seed)}.html",
                                           _source(label, run), (run.get("sources") or {}).get(label, []))
    seeds = pd.Series([k[:2] for k in entries]).value_counts()
    names = {k: (k[1] if seeds[k[:2]] == 1 else f"{k[1]} (seed {k[2]})") for k in entries}
    all_boards = boards(rows, run, entries)
    site.mkdir(parents=True, exist_ok=True)
    title = f"bench leaderboard: {run.get('suite', '')}"
    pages = {"index.html": env.get_template("site_index.html").render(
        title=title, boards=all_boards, entries=entries.values(), names=names, run=run)}
    for b in all_boards:
        pages[b["page"]] = env.get_template("site_board.html").render(title=b["title"], board=b, names=names, run=run)
    for key, e in entries.items():
        on = [b for b in all_boards if any(line["entry"] is e for line in b["lines"])]
        mine = rows.query(f"SELECT * EXCLUDE (src, pos) FROM rows WHERE dataset = {_sql(key[0])} AND recipe = "
                          f"{_sql(key[1])} AND seed = {key[2]} ORDER BY src, pos")
        pages[e.page] = env.get_template("site_entry.html").render(
            title=names[key], e=e, view=_entry_view(e, mine, run), boards=on)
    for name, text in pages.items():
        atomic.write_text(site / name, text)  # whole pages, never through a link
    return len(pages)

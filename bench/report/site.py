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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bench.report import ordered
from bench.report.plots import figures
from bench.report.stats import wilson


def _norm(params: str) -> str | None:
    """An attack evaluation's norm ('Linf', 'L2') from its resolved parameters; None when unbounded."""
    p = json.loads(params or "{}")
    if p.get("norm"):
        return {"linf": "Linf", "l2": "L2"}.get(str(p["norm"]).lower(), str(p["norm"]))
    if p.get("attack"):
        from bench.attacks import ATTACKS

        name = p["attack"]
        norm = ATTACKS.get(name).norm if name in ATTACKS else None
        return {"linf": "Linf", "l2": "L2"}.get(norm) if norm else None
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
    rows: pd.DataFrame = field(repr=False)


def _acc(correct: pd.Series) -> dict:
    k, n = int(correct.sum()), int(len(correct))
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


def _attack_rows(rows: pd.DataFrame) -> pd.DataFrame:
    attacks = rows[rows["evaluation"].str.startswith("attack:") & rows["eps"].notna()
                   & ~rows["evaluation"].str.contains("/", regex=False)].copy()  # not AutoAttack's components
    norms = {p: _norm(p) for p in attacks["params"].unique()}
    attacks["norm"] = attacks["params"].map(norms)
    return attacks[attacks["norm"].notna()]


def _aa_flag(evaluations, cells: pd.Series, run: dict) -> dict:
    """AutoAttack on this board: ran or not, and the checks' messages."""
    ran = any(e.startswith("attack:AutoAttack") for e in evaluations)
    checks = []
    for cell in cells.unique():
        note = ((run.get("cells") or {}).get(cell, {}).get("meta", {}).get("notes") or {}).get("autoattack")
        if note:
            checks += note.get("checks") or []
    return {"ran": ran, "checks": checks}


def _score(line: dict) -> tuple:
    return (-line["robust"]["value"], -(line["clean"] or {"value": 0})["value"])


def boards(rows: pd.DataFrame, run: dict, entries: dict) -> list[dict]:
    """One board per (dataset, norm, eps), its entries ranked by robust accuracy."""
    out = []
    attacks = _attack_rows(rows)
    for ds in ordered(rows["dataset"], run.get("order", {}).get("datasets")):
        sub = attacks[attacks["dataset"] == ds]
        for (norm, eps), threat in sub.groupby(["norm", "eps"], sort=True):
            lines = []
            for (label, seed), g in threat.groupby(["recipe", "seed"], sort=False):
                robust = g.groupby("index")["correct"].all()  # worst case over the board's attacks
                e = entries[(ds, label, seed)]
                clean = e.rows[e.rows["evaluation"] == "clean"]["correct"]
                lines.append({"entry": e, "robust": _acc(robust), "clean": _acc(clean) if len(clean) else None,
                              "attacks": sorted(g["evaluation"].unique()),
                              "aa": _aa_flag(g["evaluation"].unique(), g["cell"], run)})
            lines.sort(key=_score)
            for i, line in enumerate(lines):  # ties share a rank (1, 1, 3)
                same = i and _score(lines[i - 1]) == _score(line)
                line["rank"] = lines[i - 1]["rank"] if same else i + 1
            out.append({"dataset": ds, "norm": norm, "eps": float(eps), "lines": lines,
                        "page": f"board-{slug(ds, norm, eps)}.html", "title": f"{ds}, {norm}, ε = {eps:g}"})
    return out


def _entry_view(e: Entry, run: dict) -> dict:
    evals = []
    for ev in ordered(e.rows["evaluation"], ["clean", *run.get("order", {}).get("evaluations", [])]):
        g = e.rows[e.rows["evaluation"] == ev]
        cell = g["cell"].iloc[0]
        info = (run.get("cells") or {}).get(cell, {})
        meta = info.get("meta", {})
        evals.append({"name": ev, "acc": _acc(g["correct"].fillna(False).astype(bool)), "cell": cell,
                      "eps": None if g["eps"].isna().all() else float(g["eps"].iloc[0]),
                      "params": meta.get("params", json.loads(g["params"].iloc[0] or "{}")),
                      "n_test": meta.get("n_test"), "sample_seed": meta.get("sample_seed"),
                      "notes": json.dumps(meta.get("notes"), indent=2, sort_keys=True) if meta.get("notes") else "",
                      "file": info.get("file", "")})
    train_cells = e.rows["train_cell"].unique()
    models = [m for c in e.rows["cell"].unique() if (m := (run.get("cells") or {}).get(c, {}).get("model"))]
    model = models[0] if models else {}
    settings = model.get("external") or model.get("config") or {}
    paths, digests = model.get("files") or {}, model.get("sha256") or {}
    files = [(k, paths.get(k, "(in memory)"), digests.get(k, "")) for k in dict.fromkeys([*paths, *digests])]
    return {"evaluations": evals, "train_cells": list(train_cells), "settings": json.dumps(settings, indent=2, sort_keys=True),
            "files": files, "method": model.get("method", ""), "plots": figures(e.rows, run)}


def write_site(site: Path, rows: pd.DataFrame, run: dict) -> int:
    """Write index.html, a page per board and a page per entry into ``site``; returns the page count."""
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda x: "" if x is None or pd.isna(x) else f"{100 * x:.1f}"
    entries = {}
    for (ds, label, seed), g in rows.groupby(["dataset", "recipe", "seed"], sort=False):
        entries[(ds, label, seed)] = Entry(ds, label, int(seed), f"entry-{slug(ds, label, seed)}.html",
                                           _source(label, run), (run.get("sources") or {}).get(label, []), g)
    seeds = rows.groupby(["dataset", "recipe"])["seed"].nunique()
    names = {k: (k[1] if seeds[(k[0], k[1])] == 1 else f"{k[1]} (seed {k[2]})") for k in entries}
    all_boards = boards(rows, run, entries)
    site.mkdir(parents=True, exist_ok=True)
    title = f"bench leaderboard: {run.get('suite', '')}"
    pages = {"index.html": env.get_template("site_index.html").render(
        title=title, boards=all_boards, entries=entries.values(), names=names, run=run)}
    for b in all_boards:
        pages[b["page"]] = env.get_template("site_board.html").render(title=b["title"], board=b, names=names, run=run)
    for key, e in entries.items():
        on = [b for b in all_boards if any(line["entry"] is e for line in b["lines"])]
        pages[e.page] = env.get_template("site_entry.html").render(
            title=names[key], e=e, view=_entry_view(e, run), boards=on)
    for name, text in pages.items():
        (site / name).write_text(text)
    return len(pages)

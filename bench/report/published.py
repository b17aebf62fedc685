"""Published numbers as data, and the table that puts each reproduced number beside its published one.

results/reference/papers/*.csv: one published number a row, with
    paper, table, dataset, method, recipe, evaluation, metric, eps, kappa, alpha, value, std, source
``value`` and ``std`` as the paper prints them (percent for accuracies and rates, seconds for costs);
``recipe`` is bench's recipe name for the paper's method (empty when bench has none); ``evaluation`` is
bench's evaluation family (clean, attack:<name as a suite names it>, certify:<vicinity>, ibp) and ``metric``
one declared in bench.results.metrics; eps/kappa/alpha, when given, must match the reproduced evaluation's.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import UserError
from bench.results.names import family
from bench.report import Cell, Table, pct
from bench.report.data import Rows, as_rows
from bench.report.values import metric_values
from bench.report.stats import wilson

PAPERS_DIR = Path(__file__).resolve().parents[2] / "results" / "reference" / "papers"
PAPER_COLUMNS = ["paper", "table", "dataset", "method", "recipe", "evaluation", "metric", "eps", "kappa", "alpha",
                 "value", "std", "source"]
PERCENT = {"accuracy", "certified_rate", "certified_accuracy", "mean_pr"}


def load_papers(folder: str | Path | None = None) -> pd.DataFrame:
    folder = Path(folder) if folder else PAPERS_DIR
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise UserError(f"no published numbers in {folder} (results/reference/papers/*.csv)")
    frames = []
    for f in files:
        df = pd.read_csv(f, dtype={"recipe": str, "evaluation": str}, keep_default_na=False, na_values={
            c: [""] for c in ("eps", "kappa", "alpha", "value", "std")})
        missing = set(PAPER_COLUMNS) - set(df.columns)
        if missing:
            raise UserError(f"{f}: missing columns {sorted(missing)}")
        frames.append(df[PAPER_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def _params(rows: Rows) -> dict[tuple[str, str], dict]:
    """eps, kappa, alpha and family (bench.results.names.family) of each (dataset, evaluation), from its blocks."""
    out = {}
    for (ds, ev), g in rows.blocks.groupby(["dataset", "evaluation"], sort=False):
        out[(ds, ev)] = {c: (float(g[c].dropna().iloc[0]) if g[c].notna().any() else None)
                         for c in ("eps", "kappa", "alpha")}
        b = g.iloc[0]
        out[(ds, ev)]["family"] = family(ev, b["kind"], b["base"], b["component"])
    return out


def _close(a, b) -> bool:
    return a is None or b is None or pd.isna(a) or pd.isna(b) or abs(float(a) - float(b)) <= 1e-4 * max(1, abs(float(b)))


def _names(recipe: str, run: dict) -> set[str]:
    info = run.get("recipes", {}).get(recipe, {})
    return {n.lower() for n in (recipe, info.get("card"), info.get("method")) if n}


def matches(rows, run: dict, papers: pd.DataFrame) -> pd.DataFrame:
    """Reproduced metrics joined with the published numbers they reproduce."""
    rows = as_rows(rows)
    mine = metric_values(rows)
    params = _params(rows)
    out = []
    for m in mine.itertuples(index=False):
        names = _names(m.recipe, run)
        p = params.get((m.dataset, m.evaluation), {})
        cand = papers[(papers["dataset"] == m.dataset) & (papers["metric"] == m.metric)
                      & papers["recipe"].str.lower().isin(names)
                      & ((papers["evaluation"] == m.evaluation) | (papers["evaluation"] == p.get("family")))]
        for q in cand.itertuples(index=False):
            if all(_close(p.get(c), getattr(q, c)) for c in ("eps", "kappa", "alpha")):
                out.append({**m._asdict(), "paper": q.paper, "table": q.table, "method": q.method,
                            "published": q.value, "std": q.std, "source": q.source})
    return pd.DataFrame(out)


def compare_table(rows, run: dict, papers: pd.DataFrame) -> Table:
    """Each reproduced number beside the published one: difference, and whether the published number lies
    inside the reproduced number's 95% Wilson interval."""
    found = matches(rows, run, papers)
    header = [("", "paper"), ("", "published"), ("", "reproduced"), ("", "95% CI"), ("", "difference"), ("", "in CI")]
    body = []
    for r in found.itertuples(index=False):
        scale = 100 if r.metric in PERCENT else 1
        mine = r.value * scale
        lo, hi = wilson(round(r.value * r.n), r.n) if r.metric in PERCENT else (float("nan"),) * 2
        inside = "" if pd.isna(lo) else ("yes" if lo * 100 <= r.published <= hi * 100 else "no")
        published = f"{r.published:g}" + ("" if pd.isna(r.std) else f" ± {r.std:g}")
        body.append((f"{r.dataset} · {r.recipe} · {r.evaluation} · {r.metric}", [
            Cell(None, f"{r.paper} {r.table} ({r.method})", note=r.source), Cell(r.published, published),
            Cell(mine, f"{mine:.2f}"), Cell(None, "" if pd.isna(lo) else f"{pct(lo)}–{pct(hi)}"),
            Cell(mine - r.published, f"{mine - r.published:+.2f}"), Cell(None, inside)]))
    notes = [] if body else [
        "No reproduced number matches a published one: the papers report " +
        ", ".join(sorted(papers["dataset"].unique())) + " with bench recipes " +
        ", ".join(sorted(r for r in papers["recipe"].unique() if r)) + " (see results/reference/papers/)."]
    return Table("compare-paper", "Reproduced against published", "number", header, body,
                 "Published values as printed (percent); reproduced in the same unit with its Wilson interval.", notes)

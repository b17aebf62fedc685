"""What the leaderboard says about an entry's model (torch-free): architecture and parameter count, paper with
venue, year and link, extra training data, and the date.

Sources, first found wins:
- an external model's `meta:` (run.json ``models.<label>.meta``: paper, venue, url, extra_data, date,
  architecture);
- a recipe's model card (run.json ``recipes.<label>``: paper, venue, url); a model bench trained used the
  dataset's training split only, so no extra data;
- the model cell's record (models/<id>.json): ``parameters`` (counted when it was trained or registered),
  the architecture (a trained model's ``config.arch`` and its arguments; an external model's source) and the
  ``date`` it was trained or registered;
- the rows' ``arch`` column.
"""
from __future__ import annotations

import re

from bench.report.data import Rows

YEAR = re.compile(r"\b(19|20)\d\d\b")
URL = re.compile(r"https?://[^\s<>\"']+")  # bench.suite.cards.URL: what a card or `meta:` may link


def _arch(record: dict) -> str:
    """The architecture a model record names: a trained model's config, an external model's source."""
    config = record.get("config") or {}
    if config.get("arch"):
        args = ", ".join(f"{k}={v}" for k, v in sorted((config.get("arch_args") or {}).items()))
        return config["arch"] + (f" ({args})" if args else "")
    ext = record.get("external") or {}
    src = ext.get("source")
    if src == "arch" and ext.get("arch"):
        args = ", ".join(f"{k}={v}" for k, v in sorted((ext.get("arch_args") or {}).items()))
        return ext["arch"] + (f" ({args})" if args else "")
    if src == "robustbench":
        return f"RobustBench {ext.get('robustbench', '')}".strip()
    if src == "module":
        return f"module {ext.get('module', '')}".strip()
    if src == "torchscript":
        return "TorchScript"
    if src == "python":
        return str(ext.get("class", "")).rsplit(".", 1)[-1]
    return ""


def describe(label: str, run: dict, record: dict | None, arch: str | None = None) -> dict:
    """The entry's description (see the module docstring): architecture, parameters (int or None), paper,
    venue, year, url (http(s) or empty), extra_data (True, False, or None when unknown), date, trained (False
    for a model trained elsewhere)."""
    record = record or {}
    model = (run.get("models") or {}).get(label)
    recipe = (run.get("recipes") or {}).get(label) or {}
    meta = (model or {}).get("meta") or {}

    def pick(key: str) -> str:
        value = meta.get(key) or (recipe.get(key) if model is None else "") or ""
        return value if isinstance(value, str) else ""

    venue, url = pick("venue"), pick("url")
    year = YEAR.search(venue)
    params = record.get("parameters")
    extra = meta.get("extra_data") if model is not None else (False if recipe else None)
    date = meta.get("date") or record.get("date") or ""
    return {"architecture": str(meta.get("architecture") or _arch(record) or arch or ""),
            "parameters": int(params) if isinstance(params, (int, float)) and params == params else None,
            "paper": pick("paper"), "venue": venue, "year": int(year.group()) if year else None,
            "url": url if URL.fullmatch(url) else "", "extra_data": extra if isinstance(extra, bool) else None,
            "date": str(date), "trained": model is None and bool(recipe)}


def annotate(entries: dict, rows: Rows, run: dict) -> None:
    """Fill each Entry's ``about`` from run.json, its model cell's record (run["cells"][cell]["model"], kept by
    bench.report.merge) and the rows' arch column."""
    cells = run.get("cells") or {}
    for r in rows.query("SELECT dataset, recipe, seed, any_value(arch) AS arch, list(DISTINCT cell) AS cells "
                        "FROM rows GROUP BY ALL").itertuples(index=False):
        e = entries.get((r.dataset, r.recipe, int(r.seed)))
        if e is None:
            continue
        record = next((m for c in r.cells if (m := (cells.get(c) or {}).get("model"))), None)
        e.about = describe(r.recipe, run, record, r.arch if isinstance(r.arch, str) else None)


def count(n: int | None) -> str:
    """A parameter count as people write it: 11.2M, 45.3k, 812."""
    if n is None:
        return ""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)

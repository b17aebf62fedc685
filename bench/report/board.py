"""The leaderboard's boards, computed from the rows (torch-free): what the site shows and ``bench.summary`` returns.

One board per (dataset, threat model: norm and ε). An entry is a label and seed on a dataset. A board **ranks**
only the entries whose rows hold its reference evaluation, as RobustBench ranks by AutoAttack alone:

- the reference evaluation of an Linf or L2 board is the official AutoAttack (``autoattack: standard``), the
  whole cascade (not one of its components: ``component`` null), on the model itself (no ``predictor``, not
  adaptive), at the board's norm and ε. Its rows are attacks whose resolved parameters name ``version``
  standard and no torchattacks ``attack`` (an ``as:`` label renames it and it still counts; torchattacks'
  own AutoAttack, ``attack: torchattacks.AutoAttack``, does not);
- a ranked entry's robust accuracy is the reference evaluation's (the per-input AND when it ran twice), with a
  95% Wilson interval; ranks by it, then by clean accuracy; ties share a rank;
- every other entry of the board is listed apart (``unranked``), with the evaluations it ran, never ranked;
- every entry also has a **best known** robust accuracy: the per-input AND over every attack of the board
  (a sample counts when no attack of that threat model flipped it, on the inputs every one of its attacks
  evaluated), with its Wilson interval. A board of another norm (L1) has no reference: all its entries are
  listed apart.

One DuckDB pass over the rows gives every board, selected on the name parts' columns (kind, eps, norm,
component, predictor, adaptive) and the parameters, never on evaluation names.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pandas as pd

from bench.report import ordered
from bench.report.data import Rows
from bench.report.stats import wilson

NORMS = {"linf": "Linf", "l2": "L2", "l1": "L1"}  # how a board names a norm
REFERENCE_NORMS = ("Linf", "L2")  # the boards AutoAttack ranks
_NORM_ORDER = {"Linf": 0, "L2": 1, "L1": 2}  # boards in this order, then by eps
REFERENCE_NAME = "AutoAttack (standard)"

# the rows of one threat model's boards: bounded attacks (eps known: not null, not NaN), not AutoAttack's components
ATTACK_ROWS = "kind = 'attack' AND eps IS NOT NULL AND NOT isnan(eps) AND component IS NULL"
# the reference evaluation among them: the official AutoAttack's standard version on the model itself
REFERENCE_ROWS = ("predictor IS NULL AND NOT coalesce(adaptive, false) "
                  "AND json_extract_string(params, '$.version') = 'standard' "
                  "AND json_extract(params, '$.attack') IS NULL")
AUTOATTACK_ROWS = "json_extract_string(params, '$.version') IS NOT NULL AND json_extract(params, '$.attack') IS NULL"
CLEAN_ROWS = "kind = 'clean' AND base = 'clean' AND predictor IS NULL"  # the `clean` evaluation
FIRST = "min(src || ':' || lpad(CAST(pos AS VARCHAR), 12, '0'))"  # the rows' order: the first row of a group


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
    about: dict = field(default_factory=dict)  # bench.report.about.describe: architecture, paper, ...


def wilson_dict(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"value": k / n if n else float("nan"), "lo": lo, "hi": hi, "n": n}


def source_of(label: str, run: dict) -> str:
    """Where an entry's model came from: the recipe's method and card, or the external model's source."""
    if label in (run.get("models") or {}):
        m = run["models"][label]
        src = m.get("source", "python")
        return f"{src}: {m.get(src, m.get('class', ''))}" if src in m or "class" in m else src
    r = (run.get("recipes") or {}).get(label)
    return f"recipe {r.get('method')} (card {r.get('card')})" if r else ""


def entries(rows: Rows, run: dict) -> dict[tuple, Entry]:
    """Every (dataset, label, seed) of the rows, in the suite's order of datasets and labels (run.json's
    ``order``), then the rows' order."""
    keys = [(r.dataset, r.recipe, int(r.seed)) for r in rows.query(
        f"SELECT dataset, recipe, seed, {FIRST} AS first FROM rows GROUP BY ALL ORDER BY first").itertuples(index=False)]
    order = run.get("order") or {}
    datasets = {d: i for i, d in enumerate(ordered([k[0] for k in keys], order.get("datasets")))}
    labels = {r: i for i, r in enumerate(ordered([k[1] for k in keys], order.get("recipes")))}
    keys.sort(key=lambda k: (datasets[k[0]], labels[k[1]], k[2]))
    return {(ds, label, seed): Entry(ds, label, seed, f"entry-{slug(ds, label, seed)}.html", source_of(label, run),
                                     (run.get("sources") or {}).get(label, [])) for ds, label, seed in keys}


def board_norm(norm: str | None, params: str) -> str | None:
    """An attack block's board norm ('Linf', 'L2'): its rows' ``norm`` column, else (rows written before that
    column) the norm its resolved parameters name or its attack bounds; None when unbounded."""
    if norm is not None and not pd.isna(norm):
        return NORMS.get(str(norm).lower(), str(norm))
    p = json.loads(params or "{}")
    if p.get("norm"):
        return NORMS.get(str(p["norm"]).lower(), str(p["norm"]))
    if p.get("attack"):
        from bench.attacks import ATTACKS  # only for rows written before the norm column

        name = p["attack"]
        norm = ATTACKS.get(name).norm if name in ATTACKS else None
        return NORMS.get(norm) if norm else None
    return None


def _aa_checks(cells, run: dict) -> list[str]:
    """The messages AutoAttack's checks left in these cells' notes."""
    checks = []
    for cell in cells:
        note = ((run.get("cells") or {}).get(cell, {}).get("meta", {}).get("notes") or {}).get("autoattack")
        if note:
            checks += note.get("checks") or []
    return checks


def _score(line: dict) -> tuple:
    return (-line["robust"]["value"], -(line["clean"] or {"value": 0})["value"])


def _lines(rows: Rows) -> pd.DataFrame:
    """Per (dataset, norm, eps, recipe, seed): best known (k, n over the inputs every attack evaluated), the
    reference evaluation's (k_ref, n_ref), the evaluations, the reference ones, whether AutoAttack ran, the cells."""
    pairs = [tuple(None if pd.isna(v) else v for v in pair) for pair in rows.con.execute(
        f"SELECT DISTINCT norm, params FROM rows WHERE {ATTACK_ROWS}").fetchall()]
    norms = pd.DataFrame([(n, p, board_norm(n, p)) for n, p in pairs], columns=["norm", "params", "board_norm"],
                         dtype=object).dropna(subset=["board_norm"])
    if not len(norms):
        return pd.DataFrame()
    key = "dataset, norm, eps, recipe, seed"
    refs = ", ".join(f"'{n}'" for n in REFERENCE_NORMS)
    return rows.query(f"""
        WITH b AS (SELECT r.* EXCLUDE (norm), n.board_norm AS norm FROM rows r JOIN board_norms n
                   ON r.params IS NOT DISTINCT FROM n.params AND r.norm IS NOT DISTINCT FROM n.norm
                   WHERE {ATTACK_ROWS}),
        a AS (SELECT *, coalesce(({REFERENCE_ROWS}) AND norm IN ({refs}), false) AS ref FROM b),
        evs AS (SELECT {key}, list(DISTINCT evaluation ORDER BY evaluation) AS evaluations,
                       count(DISTINCT evaluation) AS m_all,
                       list(DISTINCT evaluation ORDER BY evaluation) FILTER (WHERE ref) AS refs,
                       bool_or({AUTOATTACK_ROWS}) AS aa FROM a GROUP BY ALL),
        per AS (SELECT {key}, index, bool_and(correct) AS ok, count(DISTINCT evaluation) AS m,
                       bool_and(correct) FILTER (WHERE ref) AS ok_ref FROM a GROUP BY ALL),
        acc AS (SELECT {key}, count(*) FILTER (WHERE m = m_all) AS n, count(*) FILTER (WHERE m = m_all AND ok) AS k,
                       count(ok_ref) AS n_ref, count(*) FILTER (WHERE ok_ref) AS k_ref
                FROM per JOIN evs USING ({key}) GROUP BY ALL),
        cells AS (SELECT {key}, cell, ref, {FIRST} AS cell_first FROM a GROUP BY ALL),
        meta AS (SELECT {key}, list(cell ORDER BY cell_first) AS cells, min(cell_first) AS first FROM cells GROUP BY ALL)
        SELECT * FROM acc JOIN meta USING ({key}) JOIN evs USING ({key}) ORDER BY first""", board_norms=norms)


def boards(rows: Rows, run: dict, entries: dict) -> list[dict]:
    """One board per (dataset, norm, eps): ``ranked`` lines (rank, entry, clean, robust: the reference
    evaluation's accuracy, best: best known, attacks, aa checks) and ``unranked`` lines (the same without rank
    and robust), each accuracy a dict of value, lo, hi (95% Wilson) and n."""
    lines = _lines(rows)
    if not len(lines):
        return []
    clean = {(r.dataset, r.recipe, int(r.seed)): wilson_dict(int(r.k), int(r.n)) for r in rows.query(
        "SELECT dataset, recipe, seed, count(*) AS n, sum(CAST(correct AS INT)) AS k FROM rows "
        f"WHERE {CLEAN_ROWS} GROUP BY ALL").itertuples(index=False)}
    out = []
    for ds in ordered([k[0] for k in entries], run.get("order", {}).get("datasets")):
        sub = lines[lines["dataset"] == ds]
        threats = sorted(sub.groupby(["norm", "eps"]), key=lambda g: (_NORM_ORDER.get(g[0][0], 9), g[0][0], g[0][1]))
        for (norm, eps), threat in threats:
            ranked, unranked = [], []
            for r in threat.itertuples(index=False):
                key = (ds, r.recipe, int(r.seed))
                refs = [] if r.refs is None or r.refs is pd.NA else list(r.refs)
                line = {"entry": entries[key], "clean": clean.get(key), "best": wilson_dict(int(r.k), int(r.n)),
                        "attacks": list(r.evaluations), "reference": refs,
                        "aa": {"ran": bool(r.aa), "checks": _aa_checks(r.cells, run)}}
                if refs and int(r.n_ref):
                    ranked.append({**line, "robust": wilson_dict(int(r.k_ref), int(r.n_ref))})
                else:
                    unranked.append(line)
            ranked.sort(key=_score)
            for i, line in enumerate(ranked):  # ties share a rank (1, 1, 3)
                same = i and _score(ranked[i - 1]) == _score(line)
                line["rank"] = ranked[i - 1]["rank"] if same else i + 1
            unranked.sort(key=lambda line: (-line["best"]["value"], -(line["clean"] or {"value": 0})["value"]))
            out.append({"dataset": ds, "norm": norm, "eps": float(eps), "ranked": ranked, "unranked": unranked,
                        "reference": REFERENCE_NAME if norm in REFERENCE_NORMS else None,
                        "page": f"board-{slug(ds, norm, eps)}.html", "title": f"{ds}, {norm}, ε = {eps:g}"})
    return out

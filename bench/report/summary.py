"""``bench.summary``: the leaderboard as a DataFrame, as RobustBench's ``benchmark()`` returns clean and robust
accuracy, with intervals; ``bench report --format json|csv`` writes the same frame. Torch-free.

One row per (dataset, threat model, entry), in the boards' order (bench.report.board): the ranked entries by
rank, then the entries listed apart; an entry with no bounded attack has one row with no threat model.

    dataset, model, seed          the entry (model: its label)
    threat_model, eps             the board: Linf | L2 | ..., the budget
    ranked, rank                  whether the board ranks it (its rows hold the reference evaluation), its rank
    clean_accuracy, clean_lo, clean_hi
    robust_accuracy, robust_lo, robust_hi, robust_evaluation
                                  the reference evaluation's accuracy (ranked entries: robust_evaluation names
                                  it), else the best known (robust_evaluation "best known")
    best_known, best_known_lo, best_known_hi
                                  the per-input AND over every attack of the threat model
    n                             inputs behind robust_accuracy
    evaluations                   the attacks of the threat model the entry ran, joined by "; "
    architecture, parameters, paper, venue, year, url, extra_data, date
                                  what bench.report.about knows of the model
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.about import annotate
from bench.report.board import CLEAN_ROWS, boards, entries, wilson_dict
from bench.report.data import Rows
from bench.report.merge import load_many

COLUMNS = ["dataset", "model", "seed", "threat_model", "eps", "ranked", "rank", "clean_accuracy", "clean_lo",
           "clean_hi", "robust_accuracy", "robust_lo", "robust_hi", "robust_evaluation", "best_known", "best_known_lo",
           "best_known_hi", "n", "evaluations", "architecture", "parameters", "paper", "venue", "year", "url",
           "extra_data", "date"]
ABOUT = ["architecture", "parameters", "paper", "venue", "year", "url", "extra_data", "date"]
NAN = float("nan")


def _rows_and_run(rows_or_folder) -> tuple[Rows, dict]:
    """A results folder (str or Path), several folders (a list), a Rows, or a DataFrame of per-sample rows
    (what ``bench.evaluate`` returns)."""
    if isinstance(rows_or_folder, Rows):
        return rows_or_folder, {}
    if isinstance(rows_or_folder, pd.DataFrame):
        return Rows.from_frame(rows_or_folder), {}
    if isinstance(rows_or_folder, (str, Path)):
        return load_many([rows_or_folder])
    if isinstance(rows_or_folder, (list, tuple)) and rows_or_folder and all(
            isinstance(f, (str, Path)) for f in rows_or_folder):
        return load_many(list(rows_or_folder))
    raise TypeError("bench.summary takes a results folder, a list of folders, a bench.report.data.Rows or the "
                    f"DataFrame bench.evaluate returns, not {type(rows_or_folder).__name__}")


def _acc(prefix: str, acc: dict | None) -> dict:
    acc = acc or {"value": NAN, "lo": NAN, "hi": NAN}
    return {prefix: acc["value"], f"{prefix.split('_')[0]}_lo": acc["lo"], f"{prefix.split('_')[0]}_hi": acc["hi"]}


def frame(rows: Rows, run: dict) -> pd.DataFrame:
    """The summary of rows already read (see the module docstring)."""
    found = entries(rows, run)
    annotate(found, rows, run)
    out = []
    on_board = set()
    for b in boards(rows, run, found):
        for line in [*b["ranked"], *b["unranked"]]:
            e = line["entry"]
            on_board.add((e.dataset, e.label, e.seed))
            ranked = "rank" in line
            robust = line["robust"] if ranked else line["best"]
            out.append({"dataset": e.dataset, "model": e.label, "seed": e.seed, "threat_model": b["norm"],
                        "eps": b["eps"], "ranked": ranked, "rank": line.get("rank"), **_acc("clean_accuracy", line["clean"]),
                        **_acc("robust_accuracy", robust),
                        "robust_evaluation": "; ".join(line["reference"]) if ranked else "best known",
                        "best_known": line["best"]["value"], "best_known_lo": line["best"]["lo"],
                        "best_known_hi": line["best"]["hi"], "n": robust["n"], "evaluations": "; ".join(line["attacks"]),
                        **{k: e.about.get(k) for k in ABOUT}})
    clean = {(r.dataset, r.recipe, int(r.seed)): wilson_dict(int(r.k), int(r.n)) for r in rows.query(
        "SELECT dataset, recipe, seed, count(*) AS n, sum(CAST(correct AS INT)) AS k FROM rows "
        f"WHERE {CLEAN_ROWS} GROUP BY ALL").itertuples(index=False)}
    for key, e in found.items():  # entries without a bounded attack: clean accuracy only
        if key not in on_board:
            c = clean.get(key)
            out.append({"dataset": e.dataset, "model": e.label, "seed": e.seed, "threat_model": None, "eps": NAN,
                        "ranked": False, "rank": None, **_acc("clean_accuracy", c), **_acc("robust_accuracy", None),
                        "robust_evaluation": None, "best_known": NAN, "best_known_lo": NAN, "best_known_hi": NAN,
                        "n": c["n"] if c else 0, "evaluations": "", **{k: e.about.get(k) for k in ABOUT}})
    df = pd.DataFrame(out, columns=COLUMNS)
    for col in ("rank", "parameters", "year"):
        df[col] = df[col].astype("Int64")
    return df


def summary(rows_or_folder) -> pd.DataFrame:
    """The leaderboard as a DataFrame (see the module docstring): ``bench.summary("results/quickstart")``,
    ``bench.summary(["results/a", "results/b"])`` or ``bench.summary(bench.evaluate(...))``."""
    rows, run = _rows_and_run(rows_or_folder)
    return frame(rows, run)


def dumps(df: pd.DataFrame, fmt: str) -> str:
    """The frame as JSON (a list of records; NaN as null) or CSV."""
    if fmt == "csv":
        return df.to_csv(index=False)
    return df.to_json(orient="records", indent=1, force_ascii=False) + "\n"

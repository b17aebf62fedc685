"""`bench check RESULTS --reference FILE`: compare every metric in a reference file with the results.

A reference file is CSV with the columns of bench.report.metrics (dataset, recipe, evaluation, metric,
value, n) and an optional ``tol``; values are fractions as metrics() computes them. `bench check
--write` makes one from a results folder. A metric passes when |result - reference| <= tol, where a
tolerance is either absolute ("0.004") or in samples ("2s" = 2 / n, n the reference's sample count);
``--tol`` overrides the file's column, and the default is DEFAULT_TOL. Exit 0 when every metric is within
tolerance, 1 otherwise with a table of what moved and by how much (a metric missing from the results
counts as moved).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.errors import UserError
from bench.report.metrics import METRIC_COLUMNS, metrics

KEY = ["dataset", "recipe", "evaluation", "metric"]
DEFAULT_TOL = "1s"


def parse_tol(text: str, n: int | None, where: str = "--tol") -> float:
    """'2s' -> 2 / n; '0.004' -> 0.004."""
    text = str(text).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)s", text)
    try:
        if m:
            if not n:
                raise UserError(f"{where}: tolerance {text!r} is in samples but the metric has no sample count")
            return float(m.group(1)) / n
        tol = float(text)
    except ValueError:
        raise UserError(f"{where}: tolerance {text!r} is neither a number (0.004) nor samples (2s)") from None
    if tol < 0 or math.isnan(tol):
        raise UserError(f"{where}: tolerance must be >= 0, got {text!r}")
    return tol


def read_reference(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise UserError(f"reference file {path} does not exist (make one with `bench check RESULTS --reference "
                        f"{path} --write`)")
    ref = pd.read_csv(path, dtype={"tol": str}, keep_default_na=False, na_values={"value": [""], "n": [""]})
    missing = set(KEY + ["value"]) - set(ref.columns)
    if missing:
        raise UserError(f"{path}: missing columns {sorted(missing)} (expected {', '.join(METRIC_COLUMNS)}[, tol])")
    if ref.duplicated(KEY).any():
        dup = ref[ref.duplicated(KEY)].iloc[0]
        raise UserError(f"{path}: metric {'/'.join(str(dup[k]) for k in KEY)} is listed twice")
    return ref


def write_reference(rows: pd.DataFrame, path: str | Path, tol: str | None) -> int:
    out = metrics(rows)
    out["value"] = out["value"].round(6)
    out["tol"] = tol or DEFAULT_TOL
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return len(out)


def compare(rows: pd.DataFrame, ref: pd.DataFrame, tol: str | None = None) -> pd.DataFrame:
    """One line per reference metric: reference, result, difference, tolerance, and whether it passed."""
    mine = metrics(rows).set_index(KEY)
    out = []
    for r in ref.itertuples(index=False):
        key = tuple(getattr(r, k) for k in KEY)
        n = int(r.n) if "n" in ref.columns and not pd.isna(r.n) else None
        text = tol or (getattr(r, "tol", "") or DEFAULT_TOL)
        limit = parse_tol(text, n, "--tol" if tol else f"tol of {'/'.join(map(str, key))}")
        got = float(mine.loc[key, "value"]) if key in mine.index else math.nan
        diff = got - float(r.value)
        ok = not math.isnan(diff) and abs(diff) <= limit + 1e-12
        out.append({**dict(zip(KEY, key)), "reference": float(r.value), "result": got, "difference": diff,
                    "samples": (diff * n if n else math.nan), "tol": text, "ok": ok})
    return pd.DataFrame(out)


def report(table: pd.DataFrame) -> str:
    bad = table[~table["ok"]]
    if bad.empty:
        return f"ok: {len(table)} metrics within tolerance"
    lines = []
    for r in bad.itertuples(index=False):
        name = f"{r.dataset}/{r.recipe}/{r.evaluation}/{r.metric}"
        if math.isnan(r.result):
            lines.append([name, f"{r.reference:.4f}", "missing", "", "", r.tol])
        else:
            samples = "" if math.isnan(r.samples) else f"{r.samples:+.1f}"
            lines.append([name, f"{r.reference:.4f}", f"{r.result:.4f}", f"{r.difference:+.4f}", samples, r.tol])
    head = f"FAILED: {len(bad)} of {len(table)} metrics moved beyond tolerance"
    return head + "\n" + tabulate(lines, ["metric", "reference", "result", "difference", "samples", "tol"],
                                  tablefmt="github", disable_numparse=True)

"""`bench check RESULTS --reference FILE`: compare every metric in a reference file with the results.

A reference file is CSV with the columns of bench.report.values (dataset, recipe, evaluation, metric,
value, n) and an optional ``tol``; values are fractions as metric_values() computes them. `bench check
--write` makes one from a results folder. A metric passes when |result - reference| <= tol, where a
tolerance is either absolute ("0.004") or in samples ("2s" = 2 / n, n the reference's sample count);
``--tol`` overrides the file's column, and the default is DEFAULT_TOL. A metric also fails when its sample
count differs from the reference's ``n`` (a reference at n=500 says nothing about a run at n=50); a
reference value of NaN (a metric with no samples behind it, such as mean PR when no input is
clean-correct) passes against a NaN result only. Exit 0 when every metric is within tolerance, 1
otherwise with a table of what moved and by how much (a metric missing from the results counts as
moved). A malformed row (a value or n that is not a number, n <= 0, a bad tolerance) fails its metric
with ``file:line: field: message``, the other metrics are still compared, and the exit code is 2.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from bench.errors import UserError
from bench.suite.yamlio import read_text
from bench.report.values import METRIC_COLUMNS, metric_values

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
    if not 0 <= tol < math.inf:
        raise UserError(f"{where}: tolerance must be a finite number >= 0, got {text!r}")
    return tol


def _number(text: str, field: str) -> float:
    """A reference value: a number, or 'nan' / empty for a metric with no samples behind it."""
    if text.strip() in ("", "nan", "NaN"):
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"expected a number, got {text!r}", None, field) from None
    if math.isinf(value):
        raise UserError(f"expected a finite number, got {text!r}", None, field)
    return value


def _count(text: str) -> int | None:
    """A reference's sample count: empty, or an integer >= 1."""
    if not text.strip():
        return None
    if not re.fullmatch(r"\s*\d+\s*", text) or int(text) <= 0:
        raise UserError(f"expected a sample count (an integer >= 1), got {text!r}", None, "n")
    return int(text)


def read_reference(path: str | Path) -> pd.DataFrame:
    """The reference metrics, one row per CSV line with its ``line`` number; a row that does not parse
    keeps its ``error`` (``file:line: field: message``) and fails its metric in ``compare``."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"reference file {path} does not exist (make one with `bench check RESULTS --reference "
                        f"{path} --write`)")
    text = read_text(path)
    if "\x00" in text:
        raise UserError("not a CSV file (binary data)", f"{path}:1")
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    missing = [c for c in KEY + ["value"] if c not in columns]
    if missing:
        raise UserError(f"missing columns {missing} (expected {', '.join(METRIC_COLUMNS)}[, tol])", f"{path}:1")
    out, seen = [], {}
    for r in reader:
        line = reader.line_num
        row = {k: (r.get(k) or "") for k in KEY}
        row.update(line=line, value=math.nan, n=None, tol=r.get("tol") or "", error="")
        try:
            row["value"] = _number(r.get("value") or "", "value")
            row["n"] = _count(r.get("n") or "")
            if row["tol"] and not math.isnan(row["value"]):
                parse_tol(row["tol"], row["n"], "tol")
        except UserError as e:
            row["error"] = str(UserError(e.message, f"{path}:{line}", e.field))
        key = tuple(row[k] for k in KEY)
        if key in seen:
            raise UserError(f"metric {'/'.join(key)} is listed twice (also at line {seen[key]})", f"{path}:{line}")
        seen[key] = line
        out.append(row)
    if not out:
        raise UserError("no metrics (a header and no rows)", f"{path}:1")
    return pd.DataFrame(out)


def write_reference(rows: pd.DataFrame, path: str | Path, tol: str | None) -> int:
    out = metric_values(rows)
    out["value"] = out["value"].round(6)
    out["n"] = out["n"].where(out["n"] > 0).astype("Int64")  # a metric with no samples behind it: empty
    out["tol"] = tol or DEFAULT_TOL
    if Path(path).is_dir():
        raise UserError(f"--reference {path}: is a folder, not a file")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return len(out)


def compare(rows: pd.DataFrame, ref: pd.DataFrame, tol: str | None = None) -> pd.DataFrame:
    """One line per reference metric: reference, result, difference, tolerance, whether it passed and,
    when the row itself is at fault or the sample counts differ, why (``error``)."""
    mine = metric_values(rows).set_index(KEY)
    out = []
    for r in ref.to_dict("records"):
        key = tuple(r[k] for k in KEY)
        n = None if r.get("n") is None or pd.isna(r["n"]) else int(r["n"])
        text = tol or r.get("tol") or DEFAULT_TOL
        error = r.get("error") or ""
        found = key in mine.index
        got = float(mine.loc[key, "value"]) if found else math.nan
        if not error and found and n is not None and int(mine.loc[key, "n"]) != n:
            error = f"n: {int(mine.loc[key, 'n'])} samples in the results, {n} in the reference"
        diff = got - float(r["value"])
        if math.isnan(r["value"]):  # no samples behind the reference: the result must have none either
            ok = not error and found and math.isnan(got)
        else:
            try:
                limit = parse_tol(text, n, "--tol" if tol else "tol") if not error else math.nan
            except UserError as e:
                error = str(e)
            ok = not error and not math.isnan(diff) and abs(diff) <= limit + 1e-12
        out.append({**dict(zip(KEY, key)), "reference": float(r["value"]), "result": got, "difference": diff,
                    "samples": (diff * n if n else math.nan), "tol": text, "ok": ok, "error": error})
    return pd.DataFrame(out)


def report(table: pd.DataFrame) -> str:
    bad = table[~table["ok"]]
    if bad.empty:
        return f"ok: {len(table)} metrics within tolerance"
    lines = []
    for r in bad.itertuples(index=False):
        name = f"{r.dataset}/{r.recipe}/{r.evaluation}/{r.metric}"
        if r.error:
            lines.append([name, f"{r.reference:.4f}", f"{r.result:.4f}", "", "", f"{r.tol} ({r.error})"])
        elif math.isnan(r.result):
            lines.append([name, f"{r.reference:.4f}", "missing", "", "", r.tol])
        else:
            samples = "" if math.isnan(r.samples) else f"{r.samples:+.1f}"
            lines.append([name, f"{r.reference:.4f}", f"{r.result:.4f}", f"{r.difference:+.4f}", samples, r.tol])
    head = f"FAILED: {len(bad)} of {len(table)} metrics moved beyond tolerance"
    return head + "\n" + tabulate(lines, ["metric", "reference", "result", "difference", "samples", "tol"],
                                  tablefmt="github", disable_numparse=True)

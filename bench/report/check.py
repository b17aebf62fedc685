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
import io
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
SETTINGS = ("threads", "deterministic", "device")  # optional columns: how the reference's numbers were made
FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")  # a label's first character that ``escape`` guards
MAX_BYTES = 64 << 20


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
    """The reference metrics, one row per CSV record with its ``line`` number; a row that does not parse (a
    value, n or tol that is not one, fewer or more fields than the header) keeps its ``error``
    (``file:line: field: message``) and fails its metric in ``compare``. Labels are read back as ``write_reference``
    escapes them (a leading ``'`` before a formula character); a UTF-8 byte-order mark is skipped; the optional
    columns ``threads``, ``deterministic`` and ``device`` say how the reference's numbers were made."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"reference file {path} does not exist (make one with `bench check RESULTS --reference "
                        f"{path} --write`)")
    text = read_text(path, MAX_BYTES).removeprefix("\ufeff")  # spreadsheets write a byte-order mark
    if "\x00" in text:
        raise UserError("not a CSV file (binary data)", f"{path}:1")
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = next(reader, [])
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise UserError(f"column {twice[0]!r} appears {columns.count(twice[0])} times", f"{path}:1", twice[0])
    missing = [c for c in KEY + ["value"] if c not in columns]
    if missing:
        raise UserError(f"missing columns {missing} (expected {', '.join(METRIC_COLUMNS)}[, tol])", f"{path}:1")
    out, seen, end = [], {}, reader.line_num
    for cells in reader:
        line, end = end + 1, reader.line_num  # a record's first line (a quoted label may hold line breaks)
        if not cells:
            continue
        r = dict(zip(columns, cells))
        row = {k: unescape(r.get(k, "")) for k in KEY}
        row.update(line=line, value=math.nan, n=None, tol=r.get("tol", ""), error="",
                   **{k: r.get(k, "") for k in SETTINGS})
        try:
            if len(cells) != len(columns):
                field = columns[len(cells)] if len(cells) < len(columns) else "row"
                raise UserError(f"{len(cells)} fields where the header has {len(columns)}", None, field)
            row["value"] = _number(r.get("value", ""), "value")
            row["n"] = _count(r.get("n", ""))
            if row["tol"] and not math.isnan(row["value"]):
                parse_tol(row["tol"], row["n"], "tol")
        except UserError as e:
            row["error"] = str(UserError(e.message, f"{path}:{line}", e.field))
        key = tuple(row[k] for k in KEY)
        if key in seen and not row["error"]:
            raise UserError(f"metric {'/'.join(key)} is listed twice (also at line {seen[key]})", f"{path}:{line}")
        seen.setdefault(key, line)
        out.append(row)
    if not out:
        raise UserError("no metrics (a header and no rows)", f"{path}:1")
    return pd.DataFrame(out)


def escape(label: str) -> str:
    """A label as a reference file holds it: one that a spreadsheet would read as a formula (a leading ``=``, ``+``,
    ``-``, ``@``, tab or carriage return; OWASP's CSV-injection advice) gets a leading ``'``, and so does one that
    starts with ``'`` itself, so that ``unescape`` gives every label back."""
    return f"'{label}" if label[:1] in FORMULA else label


def unescape(label: str) -> str:
    return label[1:] if label[:1] == "'" and label[1:2] in FORMULA else label


def write_reference(rows: pd.DataFrame, path: str | Path, tol: str | None, settings: dict | None = None) -> int:
    """Write the results' metrics as a reference file; ``settings`` (run.json's threads, deterministic, device)
    fill the columns of the same names. Labels are escaped (``escape``) and quoted where CSV needs it."""
    out = metric_values(rows)
    if Path(path).is_dir():
        raise UserError(f"--reference {path}: is a folder, not a file")
    columns = METRIC_COLUMNS + ["tol"] + [k for k in SETTINGS if (settings or {}).get(k) is not None]
    extra = [_setting((settings or {})[k]) for k in columns[len(METRIC_COLUMNS) + 1:]]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lines = [columns]
    for r in out.itertuples(index=False):
        value = "" if math.isnan(r.value) else repr(round(float(r.value), 6))
        lines.append([escape(str(getattr(r, k))) for k in KEY]
                     + [value, str(int(r.n)) if r.n > 0 else "", tol or DEFAULT_TOL, *extra])
    Path(path).write_text("".join(",".join(map(_field, cells)) + "\n" for cells in lines), encoding="utf-8")
    return len(out)


def _field(text: str) -> str:
    """A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break (Python's csv writer
    leaves a carriage return bare when lines end in a newline)."""
    return f'"{text.replace(chr(34), 2 * chr(34))}"' if any(c in text for c in ',"\r\n') else text


def _setting(value) -> str:
    """A setting as the reference's column holds it, compared the same way whoever wrote the file: 'true', '1',
    'cpu' (a spreadsheet's 'TRUE' or '1.0' too)."""
    text = str(value).strip().lower()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def unlisted(rows: pd.DataFrame, ref: pd.DataFrame) -> list[str]:
    """The results' metrics that the reference does not list, as dataset/recipe/evaluation/metric."""
    listed = set(map(tuple, ref[KEY].to_numpy().tolist()))
    return ["/".join(map(str, k)) for k in map(tuple, metric_values(rows)[KEY].to_numpy().tolist()) if k not in listed]


def unlisted_line(names: list[str], strict: bool) -> str:
    """One line naming the metrics a reference lacks (at most 10 of them)."""
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    head = "FAILED (--strict)" if strict else "note"
    return (f"{head}: {len(names)} metrics of the results are not in the reference: {shown}"
            + ("" if strict else " (`--strict` fails them; `--write` adds them)"))


def settings_note(run: dict, ref: pd.DataFrame) -> str:
    """'' or a clause naming how the results' settings (run.json) differ from the reference's columns."""
    mine, theirs = [], []
    for key in SETTINGS:
        values = {_setting(v) for v in ref[key]} - {""} if key in ref else set()
        if len(values) == 1 and run.get(key) is not None and _setting(run[key]) not in values:
            mine.append(f"{key}={_setting(run[key])}")
            theirs.append(f"{key}={next(iter(values))}")
    return f"the results ran with {', '.join(mine)}, the reference with {', '.join(theirs)}" if mine else ""


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


def report(table: pd.DataFrame, note: str = "") -> str:
    """'ok: ...', or a FAILED line (with ``note``, how the settings differ, when there is one) and a table."""
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
    head = f"FAILED: {len(bad)} of {len(table)} metrics moved beyond tolerance" + (f" ({note})" if note else "")
    return head + "\n" + tabulate(lines, ["metric", "reference", "result", "difference", "samples", "tol"],
                                  tablefmt="github", disable_numparse=True)

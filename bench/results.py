"""The reading side of a results folder, without torch: which files belong to the folder's current run.

``bench run`` writes OUT/run.json before it computes anything; it lists every train and eval cell of
the suite as last run. Reports and ``bench check`` read exactly ``cell_files(OUT)``: the parquet files
of the eval cells run.json lists that are done. Files of other runs into the same folder (a card's
epochs changed, another n_test, an older code version) are stale: ``cell_files(OUT, stale=True)``
lists them, ``bench gc`` removes them. ``pending_cells`` are the listed cells not yet done (a run
still going, or killed).

A cell's parquet file counts as done only when it reads back whole (``parquet_ok``): the row schema,
and as many rows as the count bench recorded in its metadata when it wrote it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

try:
    from pyarrow._parquet import ParquetReader as _Reader
except ImportError:  # a pyarrow that moved it: the public reader
    _Reader = None

from bench.errors import UserError
from bench.schema import COLUMNS, ROW_SCHEMA  # noqa: F401 (re-exported)

ROWS_KEY = b"bench.rows"  # the row count a cell wrote, checked when the file is read back


def run_info(results_dir: str | Path) -> dict:
    """OUT/run.json: the suite, its cells, versions and git commit of the folder's last run."""
    path = Path(results_dir) / "run.json"
    if not Path(results_dir).is_dir():
        raise UserError(f"{results_dir}: no such results folder")
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no results in {results_dir}: no run.json (run `bench run SUITE --out {results_dir}` first)") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({e})") from None
    if not isinstance(info, dict) or not isinstance(info.get("eval_cells"), list):
        raise UserError(f"{path}: lists no eval cells; re-run `bench run SUITE --out {results_dir}`")
    return info


class Footer(NamedTuple):
    """What a cell's parquet footer says: its row count, whether it reads back whole (``parquet_ok``), the
    statistics of the columns in STATS, (min, max, nulls) over its row groups or None where a row group has
    none, and the cell's metadata as bench.store wrote it (JSON). Only these are kept, not the schema."""
    rows: int
    whole: bool
    stats: dict
    meta: bytes


STATS = ("kind", "index")  # the report groups files by kind and sizes its bitstrings by the index range
_FOOTERS: dict[tuple, Footer | None] = {}  # (path, size, mtime) -> footer: read once per process


def footer(path: Path) -> Footer | None:
    """A parquet file's Footer, or None when it does not parse (see ``footers``)."""
    return footers([path])[0]


def footers(paths: list[Path]) -> list[Footer | None]:
    """The Footer of each file (None: missing, or its footer does not parse). Read once per (path, size, mtime),
    so the check, the report's grouping and index range, the timings and the cell metadata of one report read
    each footer once."""
    keys = []
    for path in map(str, paths):
        try:
            st = os.stat(path)
        except OSError:
            keys.append(None)
            continue
        keys.append((path, st.st_size, st.st_mtime_ns))
    new = list(dict.fromkeys(k for k in keys if k is not None and k not in _FOOTERS))
    if len(_FOOTERS) + len(new) > 65536:
        _FOOTERS.clear()
    _FOOTERS.update((k, _read_footer(k[0])) for k in new)
    return [None if k is None else _FOOTERS[k] for k in keys]


def _open(path: str) -> tuple[pq.FileMetaData, pa.Schema]:
    """A parquet file's metadata and arrow schema (what pq.ParquetFile(path) gives, without its Python set-up,
    a third of its time on a cell's file, and without FileMetaData.schema, whose objects a thread frees late)."""
    if _Reader is None:
        meta = pq.read_metadata(path)
        return meta, meta.schema.to_arrow_schema()
    reader = _Reader()
    reader.open(path)
    try:
        return reader.metadata, reader.schema_arrow
    finally:
        reader.close()


def _read_footer(path: str) -> Footer | None:
    try:
        meta, schema = _open(path)
    except (OSError, pa.ArrowException):
        return None
    md = schema.metadata or {}
    whole = schema.equals(ROW_SCHEMA) and md.get(ROWS_KEY) == str(meta.num_rows).encode()
    stats = {}
    for name in STATS if whole else ():
        column, parts = COLUMNS.index(name), []
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(column).statistics
            ok = st is not None and st.has_min_max and st.has_null_count
            parts.append((st.min, st.max, st.null_count) if ok else None)
        stats[name] = None if None in parts or not parts else (
            min(p[0] for p in parts), max(p[1] for p in parts), sum(p[2] for p in parts))
    return Footer(meta.num_rows, whole, stats, md.get(b"bench", b"{}"))


def parquet_ok(path: Path) -> bool:
    """Whether a cell's parquet file reads back whole: its footer parses, it has bench's row schema, and
    it holds the row count bench recorded in its metadata when it wrote it."""
    f = footer(path)
    return f is not None and f.whole


def cell_meta(path: Path) -> dict:
    """An eval cell's metadata (seconds, notes, versions) from its parquet file."""
    f = footer(path)
    if f is None:
        raise UserError(f"{path}: damaged results file; re-run `bench run` to recompute it")
    return json.loads(f.meta)


def _samples(results_dir: str | Path, eid: str) -> Path:
    return Path(results_dir) / "samples" / f"{eid}.parquet"


def cell_files(results_dir: str | Path, stale: bool = False, check: bool = False) -> list[Path]:
    """The parquet files of the eval cells run.json lists that exist, in run.json's order; with
    ``stale=True`` the other parquet files in OUT/samples, which no cell of the current suite names. With
    ``check=True`` (what reports read) a file that does not read back whole (``parquet_ok``) is a one-line
    error naming it; each footer is read once (``footer``) and kept for the report, timings and metadata."""
    ids = [c["id"] for c in run_info(results_dir)["eval_cells"]]
    if stale:
        named = {f"{eid}.parquet" for eid in ids}
        folder = Path(results_dir) / "samples"
        return sorted(p for p in folder.glob("*.parquet") if p.name not in named) if folder.is_dir() else []
    folder = Path(results_dir) / "samples"
    present = set(os.listdir(folder)) if folder.is_dir() else set()
    files = [folder / name for name in (f"{eid}.parquet" for eid in ids) if name in present]
    if check:
        bad = next((p for p, f in zip(files, footers(files)) if f is None or not f.whole), None)
        if bad is not None:
            raise UserError(f"{bad}: damaged results file; re-run `bench run` to recompute it")
    return files


def pending_cells(results_dir: str | Path) -> list[dict]:
    """run.json's entries of the eval cells whose parquet file does not exist yet."""
    return [c for c in run_info(results_dir)["eval_cells"] if not _samples(results_dir, c["id"]).exists()]


def stale_models(results_dir: str | Path) -> list[Path]:
    """Checkpoints and their metadata in OUT/models that no train cell of the current suite names."""
    named = {c["id"] for c in run_info(results_dir).get("train_cells", [])}
    folder = Path(results_dir) / "models"
    return sorted(p for p in folder.iterdir() if p.suffix in (".pt", ".json") and p.stem not in named) \
        if folder.is_dir() else []


def read_rows(results_dir: str | Path):
    """The rows of ``cell_files(results_dir)`` as one pandas DataFrame (pyarrow converts)."""
    files = cell_files(results_dir, check=True)
    if not files:
        raise UserError(f"no results in {results_dir}: run `bench run SUITE --out {results_dir}` first")
    return pa.concat_tables([pq.read_table(p).replace_schema_metadata(None) for p in files]).to_pandas()

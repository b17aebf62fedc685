"""The reading side of a results folder, without torch: which files belong to the folder's current run.

``bench run`` writes OUT/run.json before it computes anything; it lists every train and eval cell of
the suite as last run. Reports and ``bench check`` read exactly ``cell_files(OUT)``: the parquet files
of the eval cells run.json lists that are done. Files of other runs into the same folder (a card's
epochs changed, another n_test, an older code version) are stale: ``cell_files(OUT, stale=True)``
lists them, ``bench gc`` removes them. ``pending_cells`` are the listed cells not yet done (a run
still going, or killed).

A cell's parquet file counts as done only when it is the file bench wrote for the cell (``cell_problem``):
its bytes hash to the sha256 it records and it states the cell's id (bench.results.integrity), and it
reads back whole (``parquet_ok``: the row schema, and as many rows as the count bench recorded in its
metadata). Reports read only such files; ``damaged`` lists the others, which they leave out with a note.
A model cell's record (models/<id>.json) is read through ``model_record``, which verifies it likewise.
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
from bench.results import integrity, runfile
from bench.results.schema import COLUMNS, ROW_SCHEMA

ROWS_KEY = b"bench.rows"  # the row count a cell wrote, checked when the file is read back


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


def cell_problem(path: Path, cid: str | None = None) -> str | None:
    """Why an eval cell's parquet file (of cell ``cid``, by default its name) is not the file bench wrote for
    that cell, or None when it is (see the module docstring). Checked once per file as it is now."""
    def check(p):
        return integrity.parquet_problem(p, cid or p.stem) or (
            None if parquet_ok(p) else "damaged or incomplete (its footer, row schema or row count)")
    return integrity.checked(f"parquet:{cid}", Path(path), check)


def cell_files(results_dir: str | Path, stale: bool = False, check: bool = False) -> list[Path]:
    """The parquet files of the eval cells run.json lists that exist, in run.json's order; with
    ``stale=True`` the other parquet files in OUT/samples, which no cell of the current suite names. With
    ``check=True`` only the files that verify (``cell_problem``): ``damaged`` lists the others. Reading
    never goes through a symbolic link: a linked OUT/samples is a one-line error."""
    ids = [c["id"] for c in runfile.read(results_dir)["eval_cells"]]
    folder = Path(results_dir) / "samples"
    integrity.refuse_links(results_dir, folder)
    if stale:
        named = {f"{eid}.parquet" for eid in ids}
        return sorted(p for p in folder.glob("*.parquet") if p.name not in named) if folder.is_dir() else []
    files = [p for p in (_samples(results_dir, eid) for eid in ids) if os.path.lexists(p)]
    return [p for p in files if cell_problem(p) is None] if check else files


def model_record(results_dir: str | Path, tid: str) -> dict | None:
    """A model cell's record (models/<tid>.json) when it verifies (bench.results.integrity), else None."""
    integrity.refuse_links(results_dir, Path(results_dir) / "models")
    if not runfile.CELL_ID.fullmatch(tid):  # a file name inside OUT/models, nothing else
        return None
    path = Path(results_dir) / "models" / f"{tid}.json"
    return integrity.record_problem(path, tid)[0] if os.path.lexists(path) else None


def damaged(results_dir: str | Path) -> list[tuple[Path, str]]:
    """(file, why) for each file of a current cell that exists but does not verify: eval cells' parquet
    files (``cell_problem``) and model cells' records (``model_record``). Reports leave them out."""
    out = [(p, cell_problem(p)) for p in cell_files(results_dir)]
    for c in runfile.read(results_dir).get("train_cells", []):
        path = Path(results_dir) / "models" / f"{c['id']}.json"
        if os.path.lexists(path):
            out.append((path, integrity.checked("record", path, lambda p: integrity.record_problem(p, c["id"])[1])))
    return [(p, why) for p, why in out if why is not None]


def pending_cells(results_dir: str | Path) -> list[dict]:
    """run.json's entries of the eval cells whose parquet file does not exist yet."""
    return [c for c in runfile.read(results_dir)["eval_cells"] if not os.path.lexists(_samples(results_dir, c["id"]))]


def stale_models(results_dir: str | Path) -> list[Path]:
    """Checkpoints and their metadata in OUT/models that no train cell of the current suite names."""
    named = {c["id"] for c in runfile.read(results_dir).get("train_cells", [])}
    folder = Path(results_dir) / "models"
    return sorted(p for p in folder.iterdir() if p.suffix in (".pt", ".json") and p.stem not in named) \
        if folder.is_dir() else []


def read_rows(results_dir: str | Path):
    """The rows of ``cell_files(results_dir)`` as one pandas DataFrame (pyarrow converts); a file that does
    not verify is a one-line error naming it."""
    files = cell_files(results_dir)
    if not files:
        raise UserError(f"no results in {results_dir}: run `bench run SUITE --out {results_dir}` first")
    bad = [(p, why) for p in files if (why := cell_problem(p))]
    if bad:
        raise UserError(f"{bad[0][0]}: {bad[0][1]}; re-run `bench run` to recompute it")
    return pa.concat_tables([pq.read_table(p).replace_schema_metadata(None) for p in files]).to_pandas()

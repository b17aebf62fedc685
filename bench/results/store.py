"""The per-sample parquet store: content-addressed cells, atomic writes, resume.

    OUT/models/<train id>.pt     state_dict only (loaded with weights_only=True)
    OUT/models/<train id>.json   what was trained, how long it took, package versions
    OUT/samples/<eval id>.parquet  one row per test sample (and per radius/eps for sweeps)
    OUT/run.json                 the resolved suite, versions, git commit

Every file is written to a temporary name in its folder (``.<name>.<pid>.<random>.tmp``, created with
the umask's permissions) and renamed into place. A cell is done only when its files read back whole
(``parquet_ok``: the footer, the row schema and the row count its metadata records; ``model_ok``: the
metadata parses and the checkpoint loads); a damaged file is reported and recomputed. A process
computing a cell holds the cell's lock (bench.results.locks), so two runs on one folder never compute a cell
twice. All parquet files share one schema (bench.results.schema.ROW_SCHEMA; columns an evaluation does not fill are null),
so OUT/samples is one parquet dataset that pandas, pyarrow and DuckDB read as it is. The reading side of
a results folder (which files belong to the current run) is bench.results.folder, which needs no torch.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from bench.errors import UserError
from bench.ids import canonical
from bench.results import atomic, locks
from bench.results.atomic import write_json
from bench.results.folder import ROWS_KEY, parquet_ok
from bench.results.schema import COLUMNS, ROW_SCHEMA



def save_model(out: Path, tid: str, state_dict: dict, meta: dict) -> None:
    write_json(out / "models" / f"{tid}.json", meta)
    atomic.write(out / "models" / f"{tid}.pt", lambda tmp: torch.save(state_dict, tmp))


def load_state(out: Path, tid: str) -> dict:
    path = out / "models" / f"{tid}.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint (re-run `bench run` to train it)") from None
    except Exception as e:  # a truncated, foreign or refused file: torch raises many kinds
        raise UserError(f"{path}: damaged, or refused by torch.load(weights_only=True) ({type(e).__name__}); "
                        "delete it and re-run `bench run`") from None


def model_meta(out: Path, tid: str) -> dict:
    return json.loads((out / "models" / f"{tid}.json").read_text())


def model_files(out: Path, tid: str) -> list[Path]:
    return [out / "models" / f"{tid}.json", out / "models" / f"{tid}.pt"]


def model_done(out: Path, tid: str) -> bool:
    """Whether the train cell's checkpoint and metadata exist and read back whole."""
    meta, pt = out / "models" / f"{tid}.json", out / "models" / f"{tid}.pt"
    if not (meta.exists() and pt.exists()):
        return False
    try:
        json.loads(meta.read_text())
        load_state(out, tid)
    except (UserError, ValueError, UnicodeDecodeError):
        return False
    return True


def samples_path(out: Path, eid: str) -> Path:
    return out / "samples" / f"{eid}.parquet"


def eval_done(out: Path, eid: str) -> bool:
    """Whether the eval cell's parquet file reads back whole."""
    return parquet_ok(samples_path(out, eid))


def discard(paths: list[Path], log=print) -> None:
    """Remove a cell's files that exist but did not read back whole, saying so in one line each."""
    for path in paths:
        if path.exists():
            log(f"{path}: damaged or incomplete; recomputing it")
            path.unlink()


def clean_tmp(out: Path) -> list[Path]:
    """Remove the temporary files a killed run left (those of cells no live process is computing)."""
    removed = []
    for folder in (out, out / "models", out / "samples"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
            if not locks.locked(out, tmp.name[1:].split(".")[0]):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def write_rows(out: Path, eid: str, columns: dict, meta: dict) -> Path:
    """Write one eval cell's rows (a dict of equal-length columns) with the cell's metadata."""
    n = len(next(iter(columns.values())))
    arrays = []
    for f in ROW_SCHEMA:
        if f.name in columns:
            values = columns[f.name]
            if isinstance(values, np.ndarray) and values.dtype.kind == "f" and pa.types.is_integer(f.type):
                values = values.astype(np.int64)
            arrays.append(pa.array(values, type=f.type))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        raise ValueError(f"columns outside the row schema: {sorted(unknown)}")
    schema = ROW_SCHEMA.with_metadata({"bench": canonical(meta), ROWS_KEY: str(n)})
    table = pa.Table.from_arrays(arrays, schema=schema)
    path = samples_path(out, eid)
    atomic.write(path, lambda tmp: pq.write_table(table, tmp))
    return path

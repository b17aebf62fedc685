"""The work a killed run leaves for the next one to resume from (torch-free), where reports never look:

    OUT/.chunks/<eval id>/<k>.parquet   finished chunk k of an eval cell (its rows and the chunk's metadata)
    OUT/.partial/<train id>.pt          a training cell's state after its last finished epoch
                                        (bench.execute.resume writes and reads it)

Both are written atomically (bench.results.atomic) and sealed with the sha256 of their bytes
(bench.results.integrity): a chunk file states its cell and index, and one that does not verify is computed
again, as a training state that does not verify restarts its training. When the cell is done (its file under samples/ or
models/ is written) they are removed; ``stale`` lists those no cell of the folder's current suite names,
or whose cell is done, for ``bench gc``.

A chunk file holds the columns its evaluation returned (typed by the row schema) and, in the parquet
metadata, which inputs it covers (``start``, ``stop`` of the cell's subset, the chunk size), the seconds
it took, its notes and its row count; ``read_chunk`` gives it back only when all of that matches what
the cell expects, so a chunk of another chunking (a kind whose id does not hash the chunk size) is
recomputed, never mixed in.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.results import atomic, integrity, locks, runfile
from bench.results.schema import ROW_SCHEMA

CHUNKS = ".chunks"
PARTIAL = ".partial"
META_KEY = b"bench.chunk"


def chunk_dir(out: Path, eid: str) -> Path:
    return Path(out) / CHUNKS / eid


def chunk_path(out: Path, eid: str, k: int) -> Path:
    return chunk_dir(out, eid) / f"{k}.parquet"


def chunk_lock(eid: str, k: int) -> str:
    """The lock name (bench.results.locks) of chunk k of a cell."""
    return f"{eid}-{k}"


def train_state_path(out: Path, tid: str) -> Path:
    return Path(out) / PARTIAL / f"{tid}.pt"


def write_chunk(out: Path, eid: str, k: int, columns: dict, meta: dict) -> Path:
    """Write chunk k's columns (equal-length arrays named by the row schema) with its metadata."""
    n = len(next(iter(columns.values())))
    arrays = {}
    for name, values in columns.items():
        kind = ROW_SCHEMA.field(name).type  # a KeyError: a column outside the row schema
        if isinstance(values, np.ndarray) and values.dtype.kind == "f" and pa.types.is_integer(kind):
            values = values.astype(np.int64)  # as store.write_rows converts it
        arrays[name] = pa.array(values, type=kind)
    table = pa.table(arrays)
    table = table.replace_schema_metadata({META_KEY: json.dumps({**meta, "rows": n}, sort_keys=True, default=str),
                                           integrity.CELL_KEY: chunk_name(eid, k)})
    path = chunk_path(out, eid, k)
    atomic.write_bytes(path, integrity.sealed_parquet(table), root=out)
    return path


def chunk_name(eid: str, k: int) -> str:
    """What a chunk file states as its cell (bench.results.integrity): its eval cell and its index."""
    return f"{eid}/{k}"


def _verified(out: Path, eid: str, k: int) -> Path | None:
    """Chunk k's file when its bytes hash to the sha256 it records and it states this chunk, else None: a
    damaged or swapped chunk is computed again, never assembled into a cell."""
    path = chunk_path(out, eid, k)
    if not path.exists() or integrity.parquet_problem(path, chunk_name(eid, k)) is not None:
        return None
    return path


def read_chunk(out: Path, eid: str, k: int, expect: dict) -> tuple[dict, dict] | None:
    """Chunk k's (columns as numpy arrays, metadata), or None when it is missing, does not read back
    whole, or was written for other inputs than ``expect`` says (start, stop, size)."""
    path = _verified(out, eid, k)
    if path is None:
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if meta.get("rows") != table.num_rows or any(meta.get(key) != value for key, value in expect.items()):
        return None
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}, meta


def has_chunk(out: Path, eid: str, k: int, expect: dict) -> bool:
    """Whether chunk k is written, whole, for the inputs ``expect`` names."""
    path = _verified(out, eid, k)
    if path is None:
        return False
    try:
        schema = pq.read_schema(path)
        meta = json.loads((schema.metadata or {})[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return False
    return all(meta.get(key) == value for key, value in expect.items())


def clean_chunk_tmp(out: Path, eid: str) -> None:
    """Remove the temporary files of a cell's chunks that no live process is writing (a killed run's)."""
    folder = chunk_dir(out, eid)
    for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
        if not locks.locked(out, chunk_lock(eid, int(tmp.name[1:].split(".")[0]))):
            tmp.unlink(missing_ok=True)


def remove_chunks(out: Path, eid: str) -> None:
    shutil.rmtree(chunk_dir(out, eid), ignore_errors=True)
    try:
        (Path(out) / CHUNKS).rmdir()  # when it was the last cell in chunks
    except OSError:
        pass


def stale(out: Path) -> list[Path]:
    """Chunk folders and partial training states that no cell of the folder's current suite (run.json)
    names, or whose cell is done; none a live process is working on."""
    run = runfile.read(out)
    evals = {c["id"] for c in run.get("eval_cells", [])}
    trains = {c["id"] for c in run.get("train_cells", [])}
    out = Path(out)
    found = []
    folder = out / CHUNKS
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name in evals and not (out / "samples" / f"{path.name}.parquet").exists():
            continue
        held = [p.stem for p in (out / ".locks").glob(f"{path.name}*.lock")]  # the cell's, its chunks'
        if not any(locks.locked(out, name) for name in held):
            found.append(path)
    folder = out / PARTIAL
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        tid = path.stem
        if (tid not in trains or (out / "models" / f"{tid}.pt").exists()) and not locks.locked(out, tid):
            found.append(path)
    return found


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

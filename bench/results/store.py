"""The per-sample parquet store: content-addressed cells, atomic writes, resume.

    OUT/models/<train id>.pt     state_dict only (loaded with weights_only=True)
    OUT/models/<train id>.json   what was trained, how long it took, package versions
    OUT/samples/<eval id>.parquet  one row per test sample (and per radius/eps for sweeps)
    OUT/run.json                 the resolved suite, versions, git commit

Every file is written to a temporary name in its folder (``.<name>.<pid>.<random>.tmp``, created with
the umask's permissions) and renamed into place, never through a symbolic link. Every file states its cell
and a sha256 of its content (bench.results.integrity): a cell is done only when its files verify
(``eval_problem``: the parquet file hashes to the sha256 it records, states the cell's id and reads back
whole; ``model_problem``: the record verifies, states the cell's id, and the checkpoint hashes to the
sha256 the record gives), and a checkpoint is loaded only from bytes that hash so; a file that does not
verify is reported in one line and recomputed. A process
computing a cell holds the cell's lock (bench.results.locks), so two runs on one folder never compute a cell
twice. All parquet files share one schema (bench.results.schema.ROW_SCHEMA; columns an evaluation does not fill are null),
so OUT/samples is one parquet dataset that pandas, pyarrow and DuckDB read as it is. The reading side of
a results folder (which files belong to the current run) is bench.results.folder, which needs no torch.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from bench.errors import UserError
from bench.ids import canonical
from bench.results import atomic, integrity, locks
from bench.results.atomic import write_json  # noqa: F401 (bench.execute.cluster writes its marker with it)
from bench.results.folder import ROWS_KEY, cell_problem
from bench.results.schema import COLUMNS, ROW_SCHEMA

CHECKPOINT_MISMATCH = "its bytes do not match the checkpoint_sha256 of its record (damaged, or another cell's)"


def save_model(out: Path, tid: str, state_dict: dict, meta: dict) -> None:
    """models/<tid>.pt (the state_dict), then models/<tid>.json: ``meta`` sealed with the checkpoint's sha256."""
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    data = buf.getvalue()
    atomic.write_bytes(out / "models" / f"{tid}.pt", data, root=out)
    record = integrity.seal_record({**meta, "id": tid}, hashlib.sha256(data).hexdigest())
    atomic.write_bytes(out / "models" / f"{tid}.json", record, root=out)


def unpickle_weights(data: bytes):
    """``torch.load(weights_only=True)`` of a checkpoint's bytes, torch's warnings silenced. A file it refuses
    or cannot read is a ValueError saying why in one line (never torch's message, which spans lines)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        pickled = re.search(r"GLOBAL ([\w.]+)", str(e))
        if pickled:
            raise ValueError(f"not a plain state_dict: it pickles {pickled.group(1)}, so weights_only loading refused "
                             "it and none of its code ran; save model.state_dict() instead "
                             "(torch.save(model.state_dict(), PATH))") from None
        raise ValueError("not a checkpoint torch.load(weights_only=True) reads (UnpicklingError)") from None
    except Exception as e:  # a truncated or foreign file: torch raises many kinds
        raise ValueError(f"not a checkpoint torch.load(weights_only=True) reads ({type(e).__name__})") from None


def load_state(out: Path, tid: str) -> dict:
    """The state_dict of a model cell, loaded only from bytes that hash to the sha256 its record gives."""
    record_path, path = model_files(out, tid)
    record, why = integrity.record_problem(record_path, tid)
    if record is None:
        raise UserError(f"{record_path}: {why}; re-run `bench run` to train the model again")
    try:
        data = integrity.read(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such checkpoint (re-run `bench run` to train it)") from None
    except OSError as e:
        raise UserError(f"{path}: {integrity.unreadable(e)}; re-run `bench run` to train the model again") from None
    if hashlib.sha256(data).hexdigest() != record["checkpoint_sha256"]:
        raise UserError(f"{path}: {CHECKPOINT_MISMATCH}; re-run `bench run` to train the model again")
    try:
        return unpickle_weights(data)
    except ValueError as e:
        raise UserError(f"{path}: {e}; delete it and re-run `bench run`") from None


def model_meta(out: Path, tid: str) -> dict:
    return json.loads((out / "models" / f"{tid}.json").read_text())


def model_files(out: Path, tid: str) -> list[Path]:
    return [out / "models" / f"{tid}.json", out / "models" / f"{tid}.pt"]


def model_problem(out: Path, tid: str) -> str | None:
    """Why a model cell is not done ('file: why'), or None when its record verifies and its checkpoint hashes
    to the sha256 the record gives (bench.results.integrity)."""
    record_path, pt = model_files(out, tid)
    if not (os.path.lexists(record_path) or os.path.lexists(pt)):
        return "missing"
    record, why = integrity.record_problem(record_path, tid)
    if record is None:
        return f"{record_path}: {why}"

    def check(p: Path) -> str | None:
        try:
            data = integrity.read(p)
        except OSError as e:
            return integrity.unreadable(e)
        return None if hashlib.sha256(data).hexdigest() == record["checkpoint_sha256"] else CHECKPOINT_MISMATCH

    why = integrity.checked(f"pt:{record['checkpoint_sha256']}", pt, check)
    return None if why is None else f"{pt}: {why}"


def model_done(out: Path, tid: str) -> bool:
    """Whether the model cell's record and checkpoint verify (``model_problem``)."""
    return model_problem(out, tid) is None


def samples_path(out: Path, eid: str) -> Path:
    return out / "samples" / f"{eid}.parquet"


def eval_problem(out: Path, eid: str) -> str | None:
    """Why an eval cell is not done ('file: why'), or None when its parquet file verifies
    (bench.results.folder.cell_problem)."""
    path = samples_path(out, eid)
    if not os.path.lexists(path):
        return "missing"
    why = cell_problem(path, eid)
    return None if why is None else f"{path}: {why}"


def eval_done(out: Path, eid: str) -> bool:
    """Whether the eval cell's parquet file verifies (``eval_problem``)."""
    return eval_problem(out, eid) is None


def discard(paths: list[Path], log=print) -> None:
    """Remove the files of a cell that is not done (``paths``: its files, as the cell lists them), saying why
    in one line. A symbolic link is removed itself, never its target; nothing is removed through a linked
    folder."""
    present = [Path(p) for p in paths if os.path.lexists(p)]
    if not present:
        return
    first = Path(paths[0])
    why = (eval_problem if first.suffix == ".parquet" else model_problem)(first.parent.parent, first.stem)
    log(f"{why}; recomputing it" if why and why != "missing" else f"{present[0]}: incomplete; recomputing it")
    for path in present:
        integrity.refuse_links(path.parent.parent, path.parent)
        os.unlink(path)


def clean_tmp(out: Path) -> list[Path]:
    """Remove the temporary files a killed run left (those of cells no live process is computing); never in
    a linked folder, never a link."""
    removed = []
    for folder in (out, out / "models", out / "samples"):
        if folder.is_symlink() or not folder.is_dir():
            continue
        for tmp in folder.glob(".*.tmp"):
            if not tmp.is_symlink() and not locks.locked(out, tmp.name[1:].split(".")[0]):
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
    schema = ROW_SCHEMA.with_metadata({"bench": canonical(meta), ROWS_KEY: str(n), integrity.CELL_KEY: eid})
    table = pa.Table.from_arrays(arrays, schema=schema)
    path = samples_path(out, eid)
    atomic.write_bytes(path, integrity.sealed_parquet(table), root=out)
    return path

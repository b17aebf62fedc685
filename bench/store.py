"""The per-sample parquet store: content-addressed cells, atomic writes, resume.

    OUT/models/<train id>.pt     state_dict only (loaded with weights_only=True)
    OUT/models/<train id>.json   what was trained, how long it took, package versions
    OUT/samples/<eval id>.parquet  one row per test sample (and per radius/eps for sweeps)
    OUT/run.json                 the resolved suite, versions, git commit

Every file is written to a temporary name in its folder and renamed into place, so a file that
exists is complete, and a cell whose file exists is done. All parquet files share one schema
(bench.schema.ROW_SCHEMA; columns an evaluation does not fill are null), so OUT/samples is one parquet dataset that
pandas, pyarrow and DuckDB read as it is.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from bench.config import canonical
from bench.schema import COLUMNS, ROW_SCHEMA  # noqa: F401 (the row schema, torch-free for the report)


def cell_id(obj) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:16]


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj) -> None:
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.write("\n")

    _atomic(path, w)


def save_model(out: Path, tid: str, state_dict: dict, meta: dict) -> None:
    write_json(out / "models" / f"{tid}.json", meta)
    _atomic(out / "models" / f"{tid}.pt", lambda tmp: torch.save(state_dict, tmp))


def load_state(out: Path, tid: str) -> dict:
    return torch.load(out / "models" / f"{tid}.pt", map_location="cpu", weights_only=True)


def model_done(out: Path, tid: str) -> bool:
    return (out / "models" / f"{tid}.pt").exists() and (out / "models" / f"{tid}.json").exists()


def samples_path(out: Path, eid: str) -> Path:
    return out / "samples" / f"{eid}.parquet"


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
    table = pa.Table.from_arrays(arrays, schema=ROW_SCHEMA.with_metadata({"bench": canonical(meta)}))
    path = samples_path(out, eid)
    _atomic(path, lambda tmp: pq.write_table(table, tmp))
    return path


def cell_meta(path: Path) -> dict:
    md = pq.read_schema(path).metadata or {}
    return json.loads(md.get(b"bench", b"{}"))


def versions() -> dict:
    import importlib.metadata as im

    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "torchattacks", "pyautoattack", "numpy", "pandas", "pyarrow", "scipy"):
        try:
            out[pkg] = im.version(pkg)
        except im.PackageNotFoundError:
            out[pkg] = None
    from bench import __version__

    out["bench"] = __version__
    return out


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None

"""Identity: canonical JSON and the hashes built on it (a leaf: imports nothing of bench).

``canonical`` is the one serialisation of a config that ids hash and rows store (sorted keys, no spaces,
tuples as lists); ``cell_id`` is the first 16 hex digits of its sha256; ``file_sha256`` hashes a file's bytes
(external models' files, so a replaced checkpoint is a new cell).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

ID_LENGTH = 16  # hex digits of a cell id


def canonical(obj) -> str:
    """Canonical JSON (sorted keys, no spaces) used for hashing and storing params."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(o):
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-able: {o!r}")


def cell_id(obj) -> str:
    """A cell's id: the sha256 of the canonical JSON of what it computes, ``ID_LENGTH`` hex digits."""
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:ID_LENGTH]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

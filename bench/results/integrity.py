"""What every file bench writes into a results folder says about itself, and the checks that hold it to it
(torch-free): a flipped byte, a file copied under another cell's name and a symbolic link are found before
any number is read from the file.

- An eval cell's parquet file carries two entries in its parquet key-value metadata: ``bench.cell``, the
  eval cell id (the file's name), and ``bench.sha256``, the sha256 of the whole file as written with that
  entry's 64 hex digits as zeros (``seal``). ``parquet_problem`` re-hashes the file's bytes (no decoding:
  a read and a sha256) and compares both.
- A model cell's record, models/<id>.json, states ``id`` (the train cell id, the file's name),
  ``checkpoint_sha256`` (the sha256 of models/<id>.pt) and ``record_sha256``: the sha256 of the file's
  bytes with that value's 64 hex digits as zeros (``seal_record``, ``record_problem``).
- A results folder's files are its own: ``read`` opens none through a symbolic link, and
  ``refuse_links`` stops a write, rename or delete whose path crosses one inside the folder.

A file written before these checks holds no hash and does not verify: `bench run` recomputes it.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import UserError

SHA_KEY = b"bench.sha256"
CELL_KEY = b"bench.cell"
ZEROS = b"0" * 64
HEX = frozenset(b"0123456789abcdef")
FOLDERS = ("samples", "models", ".locks")  # the folders bench writes inside a results folder
_CHECKED: dict[tuple, str | None] = {}  # (what, path, dev, inode, size, mtime, ctime) -> its problem or None


class Link(OSError):
    """A results folder's file is a symbolic link."""


def read(path: Path) -> bytes:
    """A file's bytes, never through a symbolic link at its own name (``Link``), only a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Link(f"{path}: a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        return f.read()


def checked(what: str, path: Path, check) -> str | None:
    """``check(path)`` (a problem or None), once per file as it is now: kept per (path, inode, size, mtime,
    ctime), so a report and a run verify each file once, and a file changed since is checked again."""
    try:
        st = os.lstat(path)
    except OSError:
        return "missing"
    key = (what, str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _CHECKED:
        if len(_CHECKED) > 65536:
            _CHECKED.clear()
        _CHECKED[key] = check(path)
    return _CHECKED[key]


def unreadable(e: OSError) -> str:
    """Why a file could not be read, in a few words."""
    if isinstance(e, FileNotFoundError):
        return "missing"
    if isinstance(e, Link):
        return "a symbolic link (bench reads only a results folder's own files)"
    return f"unreadable ({e.strerror or e})"


def _kv(data: memoryview, start: int, key: bytes) -> tuple[int, bytes] | None:
    """(offset, value) of the parquet footer's key-value entry ``key``, found at ``start`` or after in the
    file's bytes: Thrift's compact encoding of a KeyValue is the key's length, the key, the header of field 2
    (0x18: a binary) and the value's length (a one-byte varint for values under 128 bytes). None unless
    exactly one entry is there."""
    tag = bytes([len(key)]) + key + b"\x18"
    raw = bytes(data[start:])
    at = raw.find(tag)
    if at < 0 or raw.find(tag, at + 1) >= 0:
        return None
    at += len(tag)
    n = raw[at] if at < len(raw) else 128
    if n >= 128 or at + 1 + n > len(raw):
        return None
    return start + at + 1, raw[at + 1:at + 1 + n]


def _footer_start(data: memoryview) -> int | None:
    """Where a parquet file's footer begins, from its last 8 bytes; None when it is not a whole file."""
    if len(data) < 12 or bytes(data[:4]) != b"PAR1" or bytes(data[-4:]) != b"PAR1":
        return None
    start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    return start if start >= 4 else None


def _sha(data: memoryview, at: int) -> bytes:
    """The sha256 of a file's bytes with the 64 bytes at ``at`` read as zeros."""
    h = hashlib.sha256(data[:at])
    h.update(ZEROS)
    h.update(data[at + 64:])
    return h.hexdigest().encode()


def seal(data: bytes) -> bytes:
    """A parquet file written with ``bench.sha256`` = ZEROS in its key-value metadata, with its sha256 there."""
    view = memoryview(data)
    start = _footer_start(view)
    entry = _kv(view, start, SHA_KEY) if start is not None else None
    if entry is None or entry[1] != ZEROS:
        raise ValueError("no bench.sha256 placeholder in the parquet footer")  # a pyarrow that writes otherwise
    at = entry[0]
    return data[:at] + _sha(view, at) + data[at + 64:]


def sealed_parquet(table) -> bytes:
    """A pyarrow table as a parquet file sealed with its sha256 (``seal``); its schema metadata should state
    the cell (``CELL_KEY``) that ``parquet_problem`` checks."""
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, table.schema) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({SHA_KEY: ZEROS})
    return seal(sink.getvalue().to_pybytes())


def sealed_bytes(payload: bytes) -> bytes:
    """Any file's bytes followed by their sha256 (64 hex digits): what ``unsealed`` checks."""
    return payload + hashlib.sha256(payload).hexdigest().encode()


def unsealed(data: bytes) -> bytes | None:
    """The bytes ``sealed_bytes`` sealed, or None when they do not match their sha256 (damaged or truncated)."""
    payload, digest = data[:-64], data[-64:]
    return payload if len(data) >= 64 and hashlib.sha256(payload).hexdigest().encode() == digest else None


def parquet_problem(path: Path, cell: str) -> str | None:
    """Why an eval cell's parquet file is not the one bench wrote for ``cell``, or None when it is: its bytes
    hash to the sha256 it records and it states ``cell`` as its cell id."""
    try:
        data = memoryview(read(path))
    except OSError as e:
        return unreadable(e)
    start = _footer_start(data)
    if start is None:
        return "not a whole parquet file (truncated, or not parquet)"
    entry = _kv(data, start, SHA_KEY)
    if entry is None or len(entry[1]) != 64 or not set(entry[1]) <= HEX:
        return "records no content hash (damaged, or written before bench checked content)"
    if _sha(data, entry[0]) != entry[1]:
        return "its bytes do not match the sha256 it records (damaged)"
    named = _kv(data, start, CELL_KEY)
    if named is None or named[1] != cell.encode():
        shown = named[1].decode("ascii", "replace") if named else "no cell"
        return f"holds the rows of {shown}, not of {cell} (a file copied under another cell's name)"
    return None


RECORD_KEY = b'"record_sha256": "'  # how json.dumps(indent=2) writes the record's own hash


def seal_record(meta: dict, checkpoint_sha256: str) -> bytes:
    """A model cell's record (models/<id>.json, its bytes): ``meta`` with the checkpoint's sha256 and the
    record's own."""
    record = {**meta, "checkpoint_sha256": checkpoint_sha256, "record_sha256": ZEROS.decode()}
    data = (json.dumps(record, indent=2, sort_keys=True, default=str) + "\n").encode()
    at = data.index(RECORD_KEY + ZEROS) + len(RECORD_KEY)
    return data[:at] + _sha(memoryview(data), at) + data[at + 64:]


def record_problem(path: Path, cell: str) -> tuple[dict | None, str | None]:
    """(the record, None) when models/<cell>.json is bench's record of ``cell``, else (None, why not)."""
    try:
        data = read(path)
    except OSError as e:
        return None, unreadable(e)
    at = data.find(RECORD_KEY) + len(RECORD_KEY)
    if at < len(RECORD_KEY) or data.find(RECORD_KEY, at) >= 0 or not set(data[at:at + 64]) <= HEX:
        return None, "records no content hash (damaged, or written before bench checked content)"
    if _sha(memoryview(data), at) != data[at:at + 64]:
        return None, "its bytes do not match the sha256 it records (damaged)"
    try:
        record = json.loads(data)
    except ValueError:
        return None, "not a JSON record (damaged)"
    if not isinstance(record, dict):
        return None, "not a record bench wrote"
    if record.get("id") != cell:
        return None, f"the record of {str(record.get('id'))[:40]}, not of {cell} (a file copied under another cell's name)"
    if not isinstance(record.get("checkpoint_sha256"), str):
        return None, "records no checkpoint sha256"
    return record, None


def refuse_links(root: Path, path: Path) -> None:
    """A one-line error when ``path``, or a folder between the results folder ``root`` and it, is a symbolic
    link: bench never writes, renames or deletes through one. ``root`` itself may be a link."""
    root, path = Path(os.path.abspath(root)), Path(os.path.abspath(path))
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts, root = (path.name,), path.parent
    for i in range(1, len(parts) + 1):
        p = root.joinpath(*parts[:i])
        if p.is_symlink():
            raise UserError(f"{p}: a symbolic link inside the results folder {root}; bench never writes, renames or "
                            "deletes through one (replace it by a file or folder of its own)")


def own_folder(out: Path) -> None:
    """``refuse_links`` for the folders bench writes inside a results folder and its run.json."""
    for name in (*FOLDERS, "run.json"):
        refuse_links(out, Path(out) / name)

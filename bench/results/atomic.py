"""Writing a file of a results folder so that no reader ever sees half of it (torch-free).

Every file is written to a temporary name in its folder (``.<name>.<pid>.<random>.tmp``, created with the
umask's permissions) and renamed into place, so a kill leaves the old file or the new one, never a mix.
Nothing is written through a symbolic link: a target that is one, or (given the results folder ``root``)
a folder inside the results folder that is one, is a one-line error (bench.results.integrity.refuse_links).
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from bench.results.integrity import refuse_links


def write(path: Path, fill, root: Path | None = None) -> None:
    """Write ``path`` through ``fill(tmp)``, which writes the temporary file; then rename it into place."""
    path = Path(path)
    refuse_links(root if root is not None else path.parent, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # 0666 less the umask, as open() does
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o666))
    try:
        fill(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str, root: Path | None = None) -> None:
    write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), root)


def write_bytes(path: Path, data: bytes, root: Path | None = None) -> None:
    write(path, lambda tmp: Path(tmp).write_bytes(data), root)


def write_json(path: Path, obj, root: Path | None = None) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", root)

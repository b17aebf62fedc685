"""Writing a file of a results folder so that no reader ever sees half of it (torch-free).

Every file is written to a temporary name in its folder (``.<name>.<pid>.<random>.tmp``, created with the
umask's permissions) and renamed into place, so a kill leaves the old file or the new one, never a mix.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def write(path: Path, fill) -> None:
    """Write ``path`` through ``fill(tmp)``, which writes the temporary file; then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # 0666 less the umask, as open() does
    try:
        fill(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")

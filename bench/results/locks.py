"""One lock per cell, so two `bench run` on the same results folder never compute a cell twice.

OUT/.locks/<cell id>.lock holds the pid and host of the process computing the cell, under an exclusive
``flock``. The kernel drops a flock when its process dies, so a lock file left by a killed run is stale
by construction: the next process takes it at once (its pid is reported as dead). A process that finds
a cell locked by a live process either waits for it (``wait=True``) or skips it for now; after taking a
lock it must look again whether the cell is done, since the holder may just have finished it.

The holder removes the lock file before it lets go of the lock; a waiter that then gets the lock on
the removed file sees that the path now names another file (or none) and tries again, so at most one
process holds the lock of a cell at any time.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from bench.results.integrity import refuse_links


def lock_path(out: Path, cid: str) -> Path:
    return Path(out) / ".locks" / f"{cid}.lock"


def holder(path: Path) -> str:
    """Who a lock file says holds it ('pid 123 on host'), for messages."""
    try:
        pid, host = path.read_text().split()[:2]
    except (OSError, ValueError):
        return "another process"
    return f"pid {pid} on {host}"


def _try(path: Path) -> int | None:
    """The lock's descriptor if this process now holds it, else None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
            return fd
        os.close(fd)  # the holder removed this file while we waited: lock the new one


@contextmanager
def cell_lock(out: Path, cid: str, wait: bool = True, poll: float = 0.1):
    """Hold the cell's lock inside the block; yields False (without waiting) when ``wait`` is False and
    a live process holds it."""
    path = lock_path(out, cid)
    refuse_links(out, path)  # never a lock file through a symbolic link
    fd = _try(path)
    while fd is None and wait:
        time.sleep(poll)
        fd = _try(path)
    if fd is None:
        yield False
        return
    try:
        yield True
    finally:
        try:
            os.unlink(path)
        finally:
            os.close(fd)


def locked(out: Path, cid: str) -> bool:
    """Whether a live process holds the cell's lock now."""
    path = lock_path(out, cid)
    if not path.exists() or path.is_symlink():
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

"""Where a result comes from: package versions, bench's version and the git commit (torch-free)."""
from __future__ import annotations

import importlib.metadata as im
import platform
import subprocess
from pathlib import Path

from bench.version import __version__


def versions() -> dict:
    """The versions of Python and of the packages whose code a number depends on."""
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "torchattacks", "pyautoattack", "numpy", "pandas", "pyarrow", "scipy"):
        try:
            out[pkg] = im.version(pkg)
        except im.PackageNotFoundError:
            out[pkg] = None
    out["bench"] = bench_version()
    return out


def bench_version() -> str:
    return __version__


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None

"""A suite's execution settings, applied by bench itself in every process that computes cells.

``threads: N`` sets torch's intra-op threads (``torch.set_num_threads``, which OpenMP and MKL follow) and its
inter-op threads; floats then add in the same order whatever the machine's core count or OMP_NUM_THREADS, so
a reference written on one machine holds on another. PyTorch lets a process set its inter-op threads once,
before any inter-op work: a process that already did keeps its count and says so once (``interop_threads`` in
run.json records what was in effect). ``deterministic: true`` turns on torch's deterministic algorithms (an op
without a deterministic implementation then raises instead of varying) and, for CUDA, cuDNN's deterministic
mode without its benchmark search, and cuBLAS's fixed workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless the
environment sets it; it must be set before the process's first cuBLAS call, which bench's run makes after this).

Neither setting enters a cell id: the numbers hold for the settings a suite states (README "Suite format").
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from bench.errors import UserError

CUBLAS = ":4096:8"


def _interop(threads: int, log) -> None:
    if torch.get_num_interop_threads() == threads:
        return
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # set once per process, before any inter-op work: keep what this process has
        log(f"note: torch's inter-op threads stay {torch.get_num_interop_threads()} in this process (the suite "
            f"asks for {threads}; PyTorch sets them once per process)")


def in_effect(device: str) -> dict:
    """The settings in effect in this process, as run.json records them."""
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled(), "device": str(device)}


def apply(threads: int | None, deterministic: bool, log=print) -> None:
    """Put the suite's settings in effect in this process."""
    if threads is not None:
        torch.set_num_threads(threads)
        _interop(threads, log)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS)
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


@contextmanager
def applied(threads: int | None, deterministic: bool, log=print):
    """The suite's settings in effect inside the block; the intra-op threads and the deterministic flags are
    restored after it (a library caller's process is left as it was; inter-op threads cannot be)."""
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    apply(threads, deterministic, log)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2:]


def resolve_device(name: str | None) -> str:
    """The device a run computes on: ``auto`` (or None) is cuda when torch sees one, else cpu; ``cuda`` without
    one is a one-line error."""
    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available on this machine (use --device cpu)")
    return name

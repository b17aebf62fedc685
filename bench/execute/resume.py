"""A training cell that resumes: its state after every finished epoch, saved atomically to
OUT/.partial/<train id>.pt (bench.results.partial), and read back when the cell is run again.

The state is everything the rest of training depends on: the model (parameters and buffers), the
optimizer, the recipe's own state (``Recipe.state_dict``: ADT's generators and their optimizers, the
GradScaler under mixed precision, ...), the step counter (the learning-rate schedule is a function of the
step; epoch-indexed recipe schedules such as MAIL's burn-in, GAIRAT's begin_epoch, FAT's tau and AWP's
warm-up are functions of the epoch), the data order and augmentation generator, and the global generators
(torch's on the CPU and every CUDA device, numpy's, Python's), plus the running statistics the checkpoint
metadata reports. Everything is a tensor or a plain value, so the file loads with
``torch.load(weights_only=True)``: no pickled code. On the CPU a resumed training ends bit-identical to one
never interrupted (tests/test_resume.py, for every registered recipe). The file is removed when the cell's
model is saved.
"""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from bench.execute import progress
from bench.results import atomic, integrity, partial

FORMAT = 1


def rng_state() -> dict:
    """torch's (CPU and every initialised CUDA device), numpy's and Python's generator states, as tensors."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, mt, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss_next": gauss_next}}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))


class Checkpoint:
    """Where a training cell keeps its state between epochs, and the line a resumed training prints."""

    def __init__(self, out: Path, tid: str, label: str):
        self.path = partial.train_state_path(out, tid)
        self.label = label

    def load(self) -> dict | None:
        """The saved state, or None (none saved; or unreadable: then training starts again, said in one line)."""
        if not self.path.exists():
            return None
        try:
            payload = integrity.unsealed(integrity.read(self.path))
            if payload is None:
                raise ValueError("its bytes do not match the sha256 they end with")
            state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        except Exception as e:  # damaged, truncated or foreign: torch raises many kinds
            progress.say(f"{self.path}: unreadable ({type(e).__name__}: {str(e)[:80]}); training {self.label} "
                         "from epoch 1")
            return None
        return state if isinstance(state, dict) and state.get("format") == FORMAT else None

    def save(self, state: dict) -> None:
        """The state, atomically, sealed with the sha256 of its bytes (bench.results.integrity)."""
        buffer = io.BytesIO()
        torch.save({**state, "format": FORMAT}, buffer)
        atomic.write_bytes(self.path, integrity.sealed_bytes(buffer.getvalue()), root=self.path.parents[1])

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def capture(model, optimizer, recipe, gen: torch.Generator, epoch: int, step: int, stats: dict) -> dict:
    """The state after ``epoch`` (1-based count of finished epochs) and ``step`` steps."""
    return {"epoch": epoch, "step": step, "stats": dict(stats),
            "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "recipe": recipe.state_dict(),
            "data_generator": gen.get_state(), "rng": rng_state()}


def restore(state: dict, model, optimizer, recipe, gen: torch.Generator) -> tuple[int, int, dict]:
    """Put a saved state back; returns (epochs finished, steps taken, running statistics)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    recipe.load_state_dict(state["recipe"])
    gen.set_state(state["data_generator"])
    set_rng_state(state["rng"])
    return state["epoch"], state["step"], dict(state["stats"])

"""Computing one cell: the work behind a cell's ``produce`` (bench.plan.cells), under the cell's lock.

Both executors (local, cluster) run cells through ``compute``, which holds the cell's lock
(bench.results.locks) while it looks whether the cell is done and computes it; a damaged file is reported
in one line and recomputed. A model cell is trained (``train_model``) or, for a model trained elsewhere,
loaded, checked on one test batch and recorded (``register_model``); an eval cell runs its evaluation on
the model's fixed test subset, in chunks, and writes one row per sample (bench.execute.chunks). Cells are
pure functions of their config, so whichever process computes one writes the same files.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from bench.data import DATASETS, splits
from bench.errors import UserError
from bench.execute.external import check_model
from bench.execute.resume import Checkpoint
from bench.nets import build
from bench.results import locks, store
from bench.results.provenance import git_commit, versions


def compute(cell, out: Path, device: str, root: str | None = None, progress: bool = True, log=print) -> bool:
    """Compute a cell under its lock, unless its files read back whole (a damaged one is reported and
    recomputed). True when this call computed it."""
    with locks.cell_lock(out, cell.id):
        if cell.done(out):
            return False
        store.discard(cell.files(out), log)
        cell.produce(out, device, root, progress)
        return True


def _layout(device: str):
    return torch.channels_last if torch.device(device).type == "cuda" else torch.preserve_format


def untrained(cfg: dict, info, device: str) -> torch.nn.Module:
    """A training config's net, freshly initialised (the current torch seed), on ``device``."""
    net = build(cfg["arch"], info, cfg.get("normalize"), **cfg["arch_args"])
    return net.to(device, memory_format=_layout(device))


def parameters(net: torch.nn.Module) -> int:
    """The model's parameter count (the leaderboard shows it; the report reads it from the record, torch-free)."""
    return int(sum(p.numel() for p in net.parameters()))


def _meta(cell, device: str) -> dict:
    return {"id": cell.id, "dataset": cell.dataset, "recipe": cell.recipe, "method": cell.method, "seed": cell.seed,
            "device": str(device), "versions": versions(), "code_versions": cell.versions,
            "git_commit": git_commit(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}


def train_model(cell, out: Path, device: str, root: str | None, progress: bool) -> None:
    """Train a TrainCell's model and save its state_dict and metadata."""
    from bench.execute.train import train

    cfg = cell.config
    torch.manual_seed(cell.seed)
    net = build(cfg["arch"], DATASETS.get(cell.dataset), cfg.get("normalize"), **cfg["arch_args"])
    checkpoint = Checkpoint(out, cell.id, cell.label)  # resumes after the last epoch a killed run finished
    stats = train(net, cell.method, cfg, cell.train_split(root), DATASETS.get(cell.dataset), cell.seed,
                  torch.device(device), show_bar=progress, label=cell.label, checkpoint=checkpoint)
    meta = {**_meta(cell, device), "config": cfg, "n_train": cell.n_train, "parameters": parameters(net), **stats}
    store.save_model(out, cell.id, {k: v.detach().cpu() for k, v in net.state_dict().items()}, meta)
    checkpoint.remove()


def load_trained(cell, out: Path, device: str) -> torch.nn.Module:
    """A TrainCell's trained model from its checkpoint, in eval mode."""
    cfg = cell.config
    net = build(cfg["arch"], DATASETS.get(cell.dataset), cfg.get("normalize"), **cfg["arch_args"])
    try:
        net.load_state_dict(store.load_state(out, cell.id))
    except RuntimeError as e:  # a checkpoint of another architecture
        path = store.model_files(out, cell.id)[1]
        raise UserError(f"{path}: does not fit {cell.arch} ({str(e).strip().splitlines()[0]}); delete it and "
                        "re-run `bench run`") from None
    return net.to(device, memory_format=_layout(device)).eval()


def load_given(cell, device: str, root: str | None = None, ibp: bool = False) -> torch.nn.Module:
    """A model trained elsewhere (ExternalCell, ModelCell), checked on one test batch (and, with ``ibp``,
    through interval bound propagation), on ``device`` in eval mode."""
    info = DATASETS.get(cell.dataset)
    net = cell.model(root).to(device, memory_format=_layout(device)).eval()
    _, test = splits(cell.dataset, root, cell.download)
    x, y = test.x[:8].to(device), test.y[:8].to(device)
    check_model(net, x, info, cell.recipe, cell.where)
    if ibp:
        from bench.certify.ibp import margin_bounds

        try:
            margin_bounds(net, x, y, float(info.eps["linf"]))
        except UserError as e:
            raise UserError(f"{cell.recipe}: the suite's ibp evaluation cannot bound this model: {e.message}",
                            cell.where, "models") from None
    return net


def register_model(cell, out: Path, device: str, root: str | None = None) -> None:
    """A model trained elsewhere takes a trained model's place: load and check it, and record it under
    models/ (its source, hashes and load time; the loaded weights, as a record)."""
    start = time.perf_counter()
    net = load_given(cell, device, root)
    meta = {**_meta(cell, device), **cell.describe(), "load_seconds": time.perf_counter() - start,
            "train_seconds": 0.0, "final_train_accuracy": float("nan"), "parameters": parameters(net)}
    store.save_model(out, cell.id, {k: v.detach().cpu() for k, v in net.state_dict().items()}, meta)


def check_all(trains, evals, root: str | None, device: str = "cpu") -> None:
    """Load every model that exists before the run (external models) once, so a bad one is one line and
    nothing is written."""
    ibp = {e.train.id for e in evals if e.kind == "ibp"}
    for cell in trains:
        cell.check(device, root, ibp=cell.id in ibp)

"""The Python API: ``bench.evaluate(model, ...)`` judges a model object from a notebook under a suite's
evaluations, on the same fixed test subset as ``bench run`` (in the spirit of RobustBench's
``benchmark()``).

The evaluations are the entries of a suite's ``evaluations:`` list, as Python dicts or YAML strings
(``"attack: PGD"``, ``{"attack": "PGD", "params": {"steps": 20}}``). The model is checked on one test
batch first (input shape, class count) and then run through the same eval cells as a suite, so its rows
equal those of the same net evaluated by ``bench run``. With ``out=`` the cells are written to that
results folder (resumable, and `bench report` reads it); without, to a temporary folder that is removed.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import yaml

from bench.errors import UserError

WHERE = "bench.evaluate"


def _entries(evaluations) -> list:
    if isinstance(evaluations, (str, dict)):
        evaluations = [evaluations]
    out = []
    for e in evaluations:
        if isinstance(e, str):
            try:
                e = yaml.safe_load(e)
            except yaml.YAMLError as err:
                raise UserError(f"evaluation {e!r} is not valid YAML: {err}", WHERE, "evaluations") from None
        out.extend(e if isinstance(e, list) else [e])
    return out


def evaluate(model, dataset: str = "digits", evaluations=("clean",), n_test: int = 500, seed: int = 0,
             device: str = "auto", out: str | Path | None = None, label: str | None = None,
             batch_size: int = 256, data_root: str | None = None) -> pd.DataFrame:
    """Evaluate ``model`` (a torch.nn.Module taking [0,1] pixels) on ``n_test`` test samples of ``dataset``
    drawn with ``seed``; returns the per-sample rows (bench.results.store.COLUMNS; README "Per-sample rows").
    The model is moved to ``device`` and put in eval mode. A mistake is a UserError (one line)."""
    from torch import nn

    from bench.cli import _device
    from bench.execute.compute import check_all, compute
    from bench.plan.cells import ModelCell
    from bench.plan.grid import eval_cells
    from bench.results import integrity, runfile, store
    from bench.suite.config import load_suite

    if not isinstance(model, nn.Module):
        raise UserError(f"expected a torch.nn.Module, got {type(model).__name__}", WHERE, "model")
    label = label or type(model).__name__
    doc = {"name": label, "datasets": {dataset: {"n_test": n_test}}, "sample_seed": seed, "batch_size": batch_size,
           "models": [], "evaluations": _entries(evaluations)}
    suite = load_suite(WHERE, yaml.safe_dump(doc, sort_keys=False))
    dev = _device(device)
    cell = ModelCell.of(model, dataset, label)
    evals = eval_cells(suite, [cell])
    check_all([cell], evals, data_root, dev)
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        integrity.own_folder(folder)  # nothing read or written through a link inside it
        for c in [cell, *evals]:
            compute(c, folder, dev, data_root, progress=False)
        rows = pd.concat([pd.read_parquet(store.samples_path(folder, e.id)) for e in evals], ignore_index=True)
        if out is not None:
            info = runfile.record(suite, [cell], evals, dev, "bench.evaluate")
            info["suite"] = folder.name
            info["models"] = {cell.recipe: cell.describe()["external"]}
            info["order"]["recipes"] = [cell.recipe]
            old = runfile.read(folder) if (folder / runfile.NAME).exists() else None
            runfile.write(folder, runfile.merge(old, info))
    return rows

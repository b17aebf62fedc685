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
    drawn with ``seed``; returns the per-sample rows (bench.store.COLUMNS; README "Per-sample rows").
    The model is moved to ``device`` and put in eval mode. A mistake is a UserError (one line)."""
    from torch import nn

    from bench import external
    from bench.cells import run_eval_cell
    from bench.cli import _device
    from bench.config import load_suite
    from bench.grid import eval_cells

    if not isinstance(model, nn.Module):
        raise UserError(f"expected a torch.nn.Module, got {type(model).__name__}", WHERE, "model")
    label = label or type(model).__name__
    doc = {"name": label, "datasets": {dataset: {"n_test": n_test}}, "sample_seed": seed, "batch_size": batch_size,
           "models": [], "evaluations": _entries(evaluations)}
    suite = load_suite(WHERE, yaml.safe_dump(doc, sort_keys=False))
    dev = _device(device)
    cell = external.ModelCell(dataset, label, model, external.module_digest(model)[:16],
                              f"{type(model).__module__}.{type(model).__qualname__}")
    evals = eval_cells(suite, [cell])
    external.check_all([cell], evals, data_root, dev)
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        external.register(cell, folder, dev, data_root)
        paths = [run_eval_cell(e, folder, dev, data_root) for e in evals]
        rows = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        if out is not None:
            _write_run(folder, suite, cell, evals, dev)
    return rows


def _write_run(folder: Path, suite, cell, evals, device: str) -> None:
    """run.json for `bench report`: this call's dataset, model and evaluations (merged into an existing one)."""
    import json

    from bench import store

    path = folder / "run.json"
    run = json.loads(path.read_text()) if path.exists() else {"suite": folder.name, "datasets": [], "models": {},
                                                              "order": {"datasets": [], "recipes": [], "evaluations": []}}
    run.setdefault("models", {})[cell.recipe] = cell.describe()["external"]
    if not any(d.get("name") == cell.dataset for d in run["datasets"]):
        run["datasets"].append(vars(suite.datasets[0]))
    order = run["order"]
    for key, values in (("datasets", [cell.dataset]), ("recipes", [cell.recipe]), ("evaluations", [e.name for e in evals])):
        order[key] = list(dict.fromkeys([*order.get(key, []), *values]))
    # the folder's current cells (bench.results): this call's replace an earlier call's for the same model
    # label, dataset and evaluation, so a re-evaluated model is not read twice
    mine = {(cell.recipe, cell.dataset, e.name) for e in evals}
    run["eval_cells"] = [c for c in run.get("eval_cells", [])
                         if (c.get("recipe"), c.get("dataset"), c.get("evaluation")) not in mine]
    run["eval_cells"] += [{"id": e.id, "train_cell": cell.id, "recipe": cell.recipe, "dataset": cell.dataset,
                           "evaluation": e.name, "kind": e.kind, "params": e.params, "versions": e.versions}
                          for e in evals]
    run["train_cells"] = [c for c in run.get("train_cells", []) if c["id"] != cell.id] + [
        {"id": cell.id, "dataset": cell.dataset, "recipe": cell.recipe, "seed": cell.seed, "versions": cell.versions}]
    run.update({"device": device, "versions": store.versions(), "git_commit": store.git_commit()})
    store.write_json(path, run)

"""A suite -> its plan: the model cells (recipes trained per dataset and seed, external models per dataset)
and the eval cells (each model cell under each evaluation of its dataset). The suite already holds every
training config and evaluation resolved (bench.suite.config); the plan only combines them.
"""
from __future__ import annotations

from bench.ids import canonical
from bench.plan.cells import EvalCell, TrainCell, default_chunk, external_cells
from bench.suite.config import Suite


def train_cells(suite: Suite) -> list[TrainCell]:
    out = []
    for ds in suite.datasets:
        for spec in suite.recipes:
            cfg, n_train = spec.training(ds.name)
            for seed in suite.seeds:
                out.append(TrainCell(ds.name, spec.label, spec.card.method, seed, canonical(cfg), n_train, ds.download))
    return out


def eval_cells(suite: Suite, models: list) -> list[EvalCell]:
    """Every model cell under every evaluation of its dataset, on the dataset's fixed test subset."""
    n_test = {ds.name: ds.n_test for ds in suite.datasets}
    return [EvalCell(m, e.kind, e.name, e.params_json, n_test[m.dataset], suite.sample_seed, suite.batch_size,
                     _chunk(e.chunk, suite.chunk, n_test[m.dataset]))
            for m in models for e in suite.evaluations(m.dataset)]


def _chunk(entry: int | None, suite: int | None, n_test: int) -> int:
    """Inputs per chunk: the evaluation's `chunk:`, else the suite's, else bench's default."""
    return entry if entry is not None else suite if suite is not None else default_chunk(n_test)


def plan(suite: Suite) -> tuple[list, list[EvalCell]]:
    trains = train_cells(suite) + external_cells(suite.models, suite.datasets)
    return trains, eval_cells(suite, trains)

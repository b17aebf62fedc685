"""Suite -> grid of cells, and the executors that run them.

The local executor runs train cells, then eval cells, in order, skipping those whose files exist.
(The Ray executor lives in bench.ray_executor, an optional extra.)
"""
from __future__ import annotations

import time
from pathlib import Path

from bench import progress as lines, store
from bench.cells import EvalCell, TrainCell, run_eval_cell, run_train_cell
from bench.config import Suite, canonical, resolve_training


def train_cells(suite: Suite) -> list[TrainCell]:
    out = []
    for ds in suite.datasets:
        for spec in suite.recipes:
            cfg = resolve_training(spec, ds.name)
            n_train = cfg.pop("n_train", None) or ds.n_train
            for seed in suite.seeds:
                out.append(TrainCell(ds.name, spec.label, spec.card.method, seed, canonical(cfg), n_train, ds.download))
    return out


def eval_cells(suite: Suite, trains: list[TrainCell]) -> list[EvalCell]:
    out = []
    by_ds = {ds.name: ds for ds in suite.datasets}
    evals = {ds.name: suite.evaluations(ds.name) for ds in suite.datasets}
    for t in trains:
        for e in evals[t.dataset]:
            out.append(EvalCell(t, e.kind, e.name, e.params_json, by_ds[t.dataset].n_test, suite.sample_seed,
                                suite.batch_size))
    return out


def plan(suite: Suite) -> tuple[list[TrainCell], list[EvalCell]]:
    trains = train_cells(suite)
    return trains, eval_cells(suite, trains)


def run_local(trains, evals, out: Path, device: str, root: str | None, progress: bool, log=print) -> dict:
    """Run every cell not yet done, in order. Returns counts of cells run and skipped."""
    counts = {"trained": 0, "train_skipped": 0, "evaluated": 0, "eval_skipped": 0}
    lines.begin(trains, evals, lambda c: store.model_done(out, c.id), lambda c: store.samples_path(out, c.id).exists())
    for i, cell in enumerate(trains, 1):
        if store.model_done(out, cell.id):
            counts["train_skipped"] += 1
            continue
        start = time.perf_counter()
        meta = run_train_cell(cell, out, device, root, progress)
        counts["trained"] += 1
        lines.cell_done("train", lines.train_label(cell), i, len(trains), time.perf_counter() - start,
                           f"train acc {meta['final_train_accuracy']:.3f}")
        log(f"[train {i}/{len(trains)}] {cell.dataset} {cell.recipe} seed {cell.seed}: "
            f"{meta['train_seconds']:.1f}s, train acc {meta['final_train_accuracy']:.3f} ({time.perf_counter() - start:.1f}s)")
    for i, cell in enumerate(evals, 1):
        if store.samples_path(out, cell.id).exists():
            counts["eval_skipped"] += 1
            continue
        start = time.perf_counter()
        with lines.evaluating(lines.eval_label(cell)):
            run_eval_cell(cell, out, device, root)
        counts["evaluated"] += 1
        lines.cell_done("eval", lines.eval_label(cell), i, len(evals), time.perf_counter() - start)
        log(f"[eval {i}/{len(evals)}] {cell.train.dataset} {cell.train.recipe} seed {cell.train.seed} "
            f"{cell.name}: {time.perf_counter() - start:.1f}s")
    return counts

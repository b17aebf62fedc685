"""Suite -> grid of cells, and the executors that run them.

The local executor runs train cells, then eval cells, in order, skipping those whose files read back
whole; two processes on one results folder share the work cell by cell (bench.locks).
(The Ray executor lives in bench.ray_executor, an optional extra.)
"""
from __future__ import annotations

import time
from pathlib import Path

from bench import locks, progress as lines, store
from bench.cells import EvalCell, TrainCell, compute
from bench.cards import resolve_training
from bench.config import Suite, canonical


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
    from bench.external import cells as external_cells

    trains = train_cells(suite) + external_cells(suite.models, suite.datasets)
    return trains, eval_cells(suite, trains)


def run_local(trains, evals, out: Path, device: str, root: str | None, progress: bool, log=print) -> dict:
    """Run every cell not yet done, in order. A cell another process is computing (its lock is held) is
    left for the end of its stage, then waited for. Returns counts of cells run and skipped."""
    counts = {"trained": 0, "train_skipped": 0, "evaluated": 0, "eval_skipped": 0}
    for tmp in store.clean_tmp(out):
        log(f"removed {tmp}, left by a killed run")
    # the progress board's ETA counts the cells whose files exist as done (compute checks them whole)
    lines.begin(trains, evals, lambda c: store.model_files(out, c.id)[1].exists(),
                lambda c: store.samples_path(out, c.id).exists())
    for i, cell in _in_turn(trains, out):
        start = time.perf_counter()
        if not compute(cell, out, device, root, progress, log):
            counts["train_skipped"] += 1
            continue
        counts["trained"] += 1
        meta = store.model_meta(out, cell.id)
        what = ("loaded" if cell.method == "external"
                else f"train acc {meta['final_train_accuracy']:.3f}")
        lines.cell_done("train", lines.train_label(cell), i, len(trains), time.perf_counter() - start, what)
        log(f"[train {i}/{len(trains)}] {cell.dataset} {cell.recipe} seed {cell.seed}: "
            f"{meta['train_seconds']:.1f}s, {what} ({time.perf_counter() - start:.1f}s)")
    for i, cell in _in_turn(evals, out):
        start = time.perf_counter()
        with lines.evaluating(lines.eval_label(cell)):
            computed = compute(cell, out, device, root, log=log)
        if not computed:
            counts["eval_skipped"] += 1
            continue
        counts["evaluated"] += 1
        lines.cell_done("eval", lines.eval_label(cell), i, len(evals), time.perf_counter() - start)
        log(f"[eval {i}/{len(evals)}] {cell.train.dataset} {cell.train.recipe} seed {cell.train.seed} "
            f"{cell.name}: {time.perf_counter() - start:.1f}s")
    return counts


def _in_turn(cells: list, out: Path):
    """(number, cell) in order, the cells another process holds the lock of last, each after its lock is
    free again (so a finished one is then skipped)."""
    later = []
    for i, cell in enumerate(cells, 1):
        if locks.locked(out, cell.id):
            later.append((i, cell))
        else:
            yield i, cell
    for i, cell in later:
        with locks.cell_lock(out, cell.id):
            pass
        yield i, cell

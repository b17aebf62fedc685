"""The local executor: a plan's cells in order in this process, model cells first, skipping those whose
files read back whole. Two processes on one results folder share the work cell by cell
(bench.results.locks): a cell another process holds is left for the end of its stage, then waited for.
"""
from __future__ import annotations

import time
from pathlib import Path

from bench.execute import progress
from bench.execute.compute import compute
from bench.results import locks, store


def run_local(trains, evals, out: Path, device: str, root: str | None, show_bars: bool, log=print) -> dict:
    """Run every cell not yet done, in order. Returns counts of cells run and skipped."""
    counts = {"trained": 0, "train_skipped": 0, "evaluated": 0, "eval_skipped": 0}
    for tmp in store.clean_tmp(out):
        log(f"removed {tmp}, left by a killed run")
    # the progress board's ETA counts the cells whose files exist as done (compute checks them whole)
    progress.begin(trains, evals, lambda c: store.model_files(out, c.id)[1].exists(),
                   lambda c: store.samples_path(out, c.id).exists())
    for i, cell in _in_turn(trains, out):
        start = time.perf_counter()
        if not compute(cell, out, device, root, show_bars, log):
            counts["train_skipped"] += 1
            continue
        counts["trained"] += 1
        meta = store.model_meta(out, cell.id)
        what = cell.summary(meta)
        progress.cell_done(cell.action, cell.label, i, len(trains), time.perf_counter() - start, what)
        log(f"[{cell.action} {i}/{len(trains)}] {cell.dataset} {cell.recipe} seed {cell.seed}: "
            f"{meta['train_seconds']:.1f}s, {what} ({time.perf_counter() - start:.1f}s)")
    for i, cell in _in_turn(evals, out):
        start = time.perf_counter()
        with progress.evaluating(cell.label):
            computed = compute(cell, out, device, root, log=log)
        if not computed:
            counts["eval_skipped"] += 1
            continue
        counts["evaluated"] += 1
        progress.cell_done("eval", cell.label, i, len(evals), time.perf_counter() - start)
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

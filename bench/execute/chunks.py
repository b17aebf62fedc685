"""An eval cell in chunks: its fixed test subset split into runs of ``cell.chunk_size`` inputs, each
computed on its own, kept as it finishes, and assembled into the cell's one file.

- Chunk k covers inputs [k * size, (k + 1) * size) of the subset and draws its randomness from
  ``chunk_seed(cell seed, k)`` (bench.evals): torch's, numpy's and Python's generators are seeded with it
  before the evaluation runs, and the evaluation seeds what it seeds itself (attacks, AutoAttack) from it
  (``EvalContext.stream_seed``). Its rows are therefore the same whichever process computes it, in
  whatever order. Chunk 0's seed is the cell's own, so a cell of one chunk has the rows it had before
  chunks existed; certification's keyed per-input streams use the cell's seed and the inputs' test
  indices, so its rows do not depend on chunking at all.
- A cell of one chunk is computed and written at once. A cell of several writes each finished chunk to
  OUT/.chunks/<cell id>/<k>.parquet (bench.results.partial, atomically, under the chunk's lock), and a
  re-run computes only the chunks missing ("resuming ... at chunk 4/10"). When every chunk is there the
  rows are assembled in the unchunked order (block by block, then input by input),
  ``bench.results.store.write_rows`` writes the cell's file and the chunk folder is removed.
- The Ray executor runs ``compute_chunk`` as one task per chunk, then the cell itself (``compute``),
  which finds its chunks written and assembles them.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from bench.attacks.run import seed_all
from bench.data import DATASETS, splits, subset
from bench.evals import EVALS, EvalContext
from bench.execute import progress
from bench.ids import canonical
from bench.results import locks, partial, store
from bench.results.provenance import bench_version, git_commit


def spans(cell, n: int) -> list[tuple[int, int]]:
    """The (start, stop) of each chunk of a subset of n inputs."""
    size = cell.chunk_size
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def _expect(cell, start: int, stop: int) -> dict:
    """What chunk (start, stop) of the cell must say about itself to be used."""
    return {"cell": cell.id, "start": start, "stop": stop, "size": cell.chunk_size}


class Inputs:
    """What every chunk of a cell reads: the fixed test subset, and the model (loaded on first use)."""

    def __init__(self, cell, out: Path, device: str, root: str | None):
        t = cell.train
        _, test = splits(t.dataset, root, t.download)
        self.idx, self.sub = subset(test, cell.n_test, cell.sample_seed)
        self.cell, self.out, self.device, self.root = cell, out, device, root
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = self.cell.train.load(self.out, self.device, self.root)
        return self._model


def run_chunk(cell, inputs: Inputs, k: int, start: int, stop: int) -> tuple[dict, dict]:
    """Chunk k's columns (as the evaluation returns them) and metadata (seconds, notes, its place)."""
    model = inputs.model  # first: building a net draws from torch's generator
    notes: dict = {}
    ctx = EvalContext(info=DATASETS.get(cell.train.dataset), device=torch.device(inputs.device),
                      batch_size=cell.batch_size, seed=cell.sample_seed, notes=notes, index=inputs.idx[start:stop],
                      chunk=k)
    evaluation = EVALS.get(cell.kind)(cell.name, cell.params)
    seed_all(ctx.stream_seed())
    begin = time.perf_counter()
    cols = evaluation.run(model, inputs.sub.x[start:stop], inputs.sub.y[start:stop], ctx)
    return cols, {**_expect(cell, start, stop), "seconds": time.perf_counter() - begin, "notes": notes,
                  "device": str(inputs.device)}


def evaluate(cell, out: Path, device: str, root: str | None) -> None:
    """Compute the cell's chunks that are not written yet, then assemble and write the cell's file."""
    inputs = Inputs(cell, out, device, root)
    parts = spans(cell, len(inputs.idx))
    if cell.n_chunks == 1:
        write(cell, out, inputs, [run_chunk(cell, inputs, 0, *parts[0])])
        return
    partial.clean_chunk_tmp(out, cell.id)
    done = {k: got for k, (a, b) in enumerate(parts) if (got := partial.read_chunk(out, cell.id, k, _expect(cell, a, b)))}
    missing = [k for k in range(len(parts)) if k not in done]
    if done and missing:
        progress.say(f"resuming {cell.label} at chunk {missing[0] + 1}/{len(parts)}")
    for k in missing:
        with locks.cell_lock(out, partial.chunk_lock(cell.id, k)):
            got = partial.read_chunk(out, cell.id, k, _expect(cell, *parts[k]))  # another process may have
            if got is None:
                got = run_chunk(cell, inputs, k, *parts[k])
                partial.write_chunk(out, cell.id, k, *got)
                progress.chunk_done(cell.label, k + 1, len(parts), got[1]["seconds"])
        done[k] = got
    write(cell, out, inputs, [done[k] for k in range(len(parts))])
    partial.remove_chunks(out, cell.id)


def compute_chunk(cell, k: int, out: Path, device: str, root: str | None) -> dict:
    """Chunk k of a cell, under the chunk's lock, unless it is written or the cell is done (a task of the
    Ray executor). Returns its seconds (0 when there was nothing to do)."""
    with locks.cell_lock(out, partial.chunk_lock(cell.id, k)):
        if cell.done(out):
            return {"seconds": 0.0, "computed": False}
        inputs = Inputs(cell, out, device, root)
        parts = spans(cell, len(inputs.idx))
        if k >= len(parts) or partial.has_chunk(out, cell.id, k, _expect(cell, *parts[k])):
            return {"seconds": 0.0, "computed": False}
        cols, meta = run_chunk(cell, inputs, k, *parts[k])
        partial.write_chunk(out, cell.id, k, cols, meta)
        return {"seconds": meta["seconds"], "computed": True}


def assemble(columns: list[dict], sizes: list[int]) -> dict:
    """One cell's columns from its chunks' (chunk i holds ``sizes[i]`` inputs): each evaluation returns
    its blocks one after another (a sweep's budgets, AutoAttack's components), so block by block, then
    chunk by chunk: the order of the unchunked cell."""
    if len(columns) == 1:
        return columns[0]
    reps = len(next(iter(columns[0].values()))) // sizes[0]
    out = {}
    for key in columns[0]:
        pieces = []
        for r in range(reps):
            pieces += [c[key][r * n:(r + 1) * n] for c, n in zip(columns, sizes)]
        out[key] = np.concatenate(pieces)
    return out


def write(cell, out: Path, inputs: Inputs, parts: list[tuple[dict, dict]]) -> None:
    """The cell's rows (its chunks assembled, with the cell's columns) and metadata, through store.write_rows."""
    t, idx, sub = cell.train, inputs.idx, inputs.sub
    cols = assemble([c for c, _ in parts], [m["stop"] - m["start"] for _, m in parts])
    n = len(cols["pred"])
    reps = n // len(idx)
    cols.update({
        "dataset": np.full(n, t.dataset, dtype=object), "recipe": np.full(n, t.recipe, dtype=object),
        "arch": np.full(n, t.arch, dtype=object), "seed": np.full(n, t.seed),
        "index": np.tile(idx.numpy(), reps), "label": np.tile(sub.y.numpy(), reps),
        "cell": np.full(n, cell.id, dtype=object), "train_cell": np.full(n, t.id, dtype=object),
        "params": np.full(n, canonical(cell.params), dtype=object),
    })
    notes = EVALS.get(cell.kind).merge_notes([m["notes"] for _, m in parts], cols)
    meta = {"cell": cell.id, "train_cell": t.id, "kind": cell.kind, "evaluation": cell.name, "params": cell.params,
            "n_test": cell.n_test, "sample_seed": cell.sample_seed, "seconds": sum(m["seconds"] for _, m in parts),
            "device": inputs.device, "notes": notes, "code_versions": cell.versions, "bench": bench_version(),
            "git_commit": git_commit()}
    if cell.n_chunks > 1:
        meta["chunks"] = {"size": cell.chunk_size, "count": len(parts)}
    store.write_rows(out, cell.id, cols, meta)

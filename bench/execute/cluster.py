"""The Ray executor: train cells and the chunks of eval cells as Ray tasks (``bench run --executor ray``).

Ray (an optional extra, ``pip install .[ray]``) does the scheduling: every train cell not yet done
becomes one task with declared resources (``num_cpus``, ``num_gpus``: fractions let cells share a GPU),
and so does every chunk of an eval cell not yet written (bench.execute.chunks), so one model's AutoAttack
spreads over every worker; the cell itself is one more small task, run after its chunks, that assembles
them into its file (a cell of one chunk is just that task). A chunk's task takes its train cell's task
result as an argument, so Ray starts it only once the model exists. Tasks run the same code as the local
executor, which writes its files atomically, and a chunk draws from (cell seed, chunk index) alone, so
the rows are the same whichever executor, worker or order ran them. When a worker process (or its node)
dies, Ray re-runs just the task it held (``max_retries``): a dead worker loses at most its chunk, or the
epoch its training was in (training resumes after its last saved epoch, bench.execute.resume). A cell
that raises is not retried (its error is deterministic), the other cells go on, and the run ends with
one line naming the failed cells. Finished cells and chunks are kept, so a re-run resumes.

The results folder must be on a path every worker sees (a shared file system); the driver writes a
marker file there and each task checks it before doing any work. Every node needs the same bench
installed (and the data root, if the datasets are files).
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.execute import progress
from bench.execute.chunks import compute_chunk
from bench.execute.compute import compute
from bench.results import partial, store

MARKER = ".bench-store"


@dataclass(frozen=True)
class Resources:
    """What each task asks Ray for, and the device it runs its cell on."""

    cpus: float = 1.0
    gpus: float = 0.0
    max_retries: int = 3  # re-runs of a task whose worker died


def resolve(device: str, gpus_per_task: float | None, cpus_per_task: float | None) -> tuple[str, Resources]:
    """The device string the tasks use and their resources, from --device and the per-task counts
    (the CLI's, else the suite's). ``auto`` means cuda when tasks get a GPU; ``cuda`` alone asks for
    one GPU per task."""
    if gpus_per_task is None:
        gpus_per_task = 1.0 if device == "cuda" else 0.0
    if gpus_per_task < 0 or (cpus_per_task is not None and cpus_per_task <= 0):
        raise UserError("--gpus-per-task must be >= 0 and --cpus-per-task > 0")
    if device == "auto":
        device = "cuda" if gpus_per_task > 0 else "cpu"
    if device == "cuda" and gpus_per_task <= 0:
        raise UserError("--device cuda with --executor ray needs --gpus-per-task above 0 "
                        "(or resources: {gpus_per_task: ...} in the suite)")
    if device == "cpu" and gpus_per_task > 0:
        raise UserError(f"--device cpu with {gpus_per_task:g} GPUs per task would hold GPUs it never uses; "
                        "use --device cuda or auto, or --gpus-per-task 0")
    return device, Resources(cpus=1.0 if cpus_per_task is None else cpus_per_task, gpus=gpus_per_task)


def _connect(address: str | None) -> None:
    # Ray's log printer otherwise swaps builtins.print for its own in this process, for good
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address=address, include_dashboard=False)
    except ConnectionError as e:
        raise UserError(f"--address {address}: cannot reach a Ray cluster ({e})") from None


def _check_fits(res: Resources) -> None:
    import ray

    have = ray.cluster_resources()
    for key, need in (("CPU", res.cpus), ("GPU", res.gpus)):
        if need > have.get(key, 0):
            raise UserError(f"each task asks for {need:g} {key}s but the Ray cluster has {have.get(key, 0):g} "
                            f"in all; lower --{key.lower()}s-per-task or add nodes")


def _enter(out: Path, device: str, cpus: float, modules=(), execution=(None, False)) -> None:
    """Checks a task makes before its cell: the shared store and the device are there; then the suite's
    execution settings (``execution``: its threads, else the task's CPUs, and whether deterministic) are applied
    and its plugin modules imported, so their recipes, attacks and evaluations exist in this worker too."""
    import torch

    from bench.execute import settings
    from bench.suite import plugins

    if not (out / MARKER).exists():
        raise RuntimeError(f"results folder {out} is not visible on node {socket.gethostname()}: "
                           "--executor ray needs the results on a path every worker sees (a shared file system)")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"node {socket.gethostname()} has no CUDA device visible to this task")
    threads, deterministic = execution
    settings.apply(threads or max(1, int(cpus)), deterministic)
    plugins.load(modules)


def _train_task(cell, out: Path, device: str, root: str | None, cpus: float, modules=(),
                execution=(None, False)) -> dict:
    _enter(out, device, cpus, modules, execution)
    start = time.perf_counter()
    compute(cell, out, device, root, False)
    meta = store.model_meta(out, cell.id)
    return {"id": cell.id, "node": socket.gethostname(), "seconds": time.perf_counter() - start,
            "summary": cell.summary(meta)}


def _chunk_task(cell, k: int, out: Path, device: str, root: str | None, cpus: float, modules=(),
                execution=(None, False), *after) -> dict:
    # after: the train task's result; passing it makes Ray run this task only after that one
    _enter(out, device, cpus, modules, execution)
    return {**compute_chunk(cell, k, out, device, root), "node": socket.gethostname()}


def _eval_task(cell, out: Path, device: str, root: str | None, cpus: float, modules=(), execution=(None, False),
               *after) -> dict:
    # after: the train task's or the chunk tasks' results: Ray runs this task once they are done
    _enter(out, device, cpus, modules, execution)
    start = time.perf_counter()
    compute(cell, out, device, root)
    return {"id": cell.id, "node": socket.gethostname(), "seconds": time.perf_counter() - start}


def _submit_eval(cell, out: Path, fns: tuple, args: tuple, after: list, pending: dict) -> int:
    """The tasks of one eval cell: one per chunk not yet written (kept ones are skipped), then the cell's.
    Returns how many chunks were kept."""
    chunk_fn, eval_fn = fns
    kept = 0
    if cell.n_chunks > 1:
        refs = []
        for k in range(cell.n_chunks):
            if partial.chunk_path(out, cell.id, k).exists():  # the cell's own task checks it reads back whole
                kept += 1
                continue
            ref = chunk_fn.remote(cell, k, *args, *after)
            pending[ref] = ("chunk", cell)
            refs.append(ref)
        after = refs
    pending[eval_fn.remote(cell, *args, *after)] = ("eval", cell)
    return kept


def run_ray(trains: list, evals: list, out: Path, device: str, root: str | None,
            res: Resources, address: str | None = None, log=print, plugins: tuple = (),
            execution: tuple = (None, False)) -> dict:
    """Run every cell not yet done as Ray tasks, each under the suite's ``execution`` settings (threads,
    deterministic). Returns counts like the local executor's, plus ``failed``; raises a UserError naming the
    failed cells after all the others finished."""
    import ray

    out = Path(out).resolve()
    root = str(Path(root).resolve()) if root else root
    _connect(address)
    _check_fits(res)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in store.clean_tmp(out):
        log(f"removed {tmp}, left by a killed run")
    store.write_json(out / MARKER, {"driver": socket.gethostname(), "pid": os.getpid()})
    # the board (stderr when not a terminal, and --log FILE): what is left, then a line per finished cell
    progress.begin(trains, evals, lambda c: store.model_files(out, c.id)[1].exists(),
                lambda c: store.samples_path(out, c.id).exists())
    opts = {"num_cpus": res.cpus, "num_gpus": res.gpus, "max_retries": res.max_retries}
    train_fn = ray.remote(_train_task).options(name="bench-train", **opts)
    fns = (ray.remote(_chunk_task).options(name="bench-chunk", **opts),
           ray.remote(_eval_task).options(name="bench-eval", **opts))

    counts = {"trained": 0, "train_skipped": 0, "evaluated": 0, "eval_skipped": 0, "failed": 0}
    pending: dict = {}  # ObjectRef -> (kind, cell)
    train_refs = {}
    for cell in trains:
        if cell.done(out):
            counts["train_skipped"] += 1
            continue
        ref = train_fn.remote(cell, out, device, root, res.cpus, plugins, execution)
        train_refs[cell.id] = ref
        pending[ref] = ("train", cell)
    chunks_done: dict = {}  # eval cell id -> its chunks written
    for cell in evals:
        if cell.done(out):
            counts["eval_skipped"] += 1
            continue
        after = [train_refs[cell.train.id]] if cell.train.id in train_refs else []
        kept = chunks_done[cell.id] = _submit_eval(cell, out, fns, (out, device, root, res.cpus, plugins, execution), after,
                                                         pending)
        if kept:
            progress.say(f"resuming {cell.label} at chunk {kept + 1}/{cell.n_chunks}")

    total = {"train": len(train_refs), "eval": sum(kind == "eval" for kind, _ in pending.values())}
    done = {"train": 0, "eval": 0}
    failures = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        kind, cell = pending.pop(ready[0])
        t = cell if kind == "train" else cell.train
        what = f"{t.dataset} {t.recipe} seed {t.seed}" + ("" if kind == "train" else f" {cell.name}")
        if kind == "chunk":
            _chunk_line(ray, ready[0], cell, chunks_done, log)
            continue
        done[kind] += 1
        try:
            info = ray.get(ready[0])
        except ray.exceptions.RayError as e:
            failures.append(f"{kind} {cell.id} ({what})")
            counts["failed"] += 1
            cause = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            log(f"[{kind} {done[kind]}/{total[kind]}] {what}: FAILED: {cause}")
            progress.say(f"FAILED {kind} {done[kind]}/{total[kind]} {cell.label}: {cause} | {len(pending)} cells left")
            continue
        counts["trained" if kind == "train" else "evaluated"] += 1
        extra = f", {info['summary']}" if kind == "train" else ""
        log(f"[{kind} {done[kind]}/{total[kind]}] {what}: {info['seconds']:.1f}s on {info['node']}{extra}")
        progress.say(f"done {kind} {done[kind]}/{total[kind]} {cell.label} in {info['seconds']:.1f}s on "
                  f"{info['node']}{extra} | {len(pending)} cells left")
    if failures:
        raise UserError(f"{len(failures)} cells failed: {', '.join(failures)} (see the log above); "
                        "finished cells are kept, re-run to resume")
    return counts


def _chunk_line(ray, ref, cell, chunks_done: dict, log) -> None:
    """The progress line of a finished chunk task (a failed one fails its cell's task, which is reported)."""
    try:
        info = ray.get(ref)
    except ray.exceptions.RayError as e:
        cause = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        log(f"[chunk] {cell.label}: FAILED: {cause}")
        return
    chunks_done[cell.id] += 1
    progress.chunk_done(cell.label, chunks_done[cell.id], cell.n_chunks, info["seconds"], f" on {info['node']}")

"""`bench run SUITE --estimate [--workers N]`: how long the cells still to run will take on the chosen
device, and how they divide over N workers.

Training: for each distinct (dataset, method, training settings) among the train cells, a fresh model
runs ``WARMUP`` + ``TRAIN_STEPS`` real training steps of the recipe (its loss, attack and update, with the
engine's mixed precision and channels_last on CUDA, and the dataset's augmentation) on random images of
the dataset's shape at the cell's batch size, in the last epoch's regime (``StepState`` of the final
epoch, so warm-ups and burn-ins are past). A cell's time is the measured seconds a step x epochs x
ceil(n_train / batch_size).

Evaluation: for each distinct (dataset, architecture, evaluation), the evaluation runs on
``EVAL_INPUTS`` random inputs labelled with an untrained model's own predictions, so every input counts
as clean-correct and is attacked (attacks that skip misclassified inputs make this an upper bound). A
cell's time is the seconds an input x its test samples. Sequential certification stops when the test
decides, which depends on the trained model: on an untrained one, whose predictions barely change under
noise, it decides early, so certification cells are estimated low (``max_samples`` bounds them).

Quick on the CPU: a step there costs what its images cost (no parallel hardware to fill, and a step's
many passes amortise the first call's set-up), so a CPU estimate times one step without a warm-up at a
batch of at most ``CPU_BATCH`` and scales it to the cell's batch, and times evaluations on ``CPU_EVAL_INPUTS`` inputs; a paper-scale suite is estimated in
minutes rather than hours. An evaluation whose timing runs past ``EVAL_BUDGET`` seconds (AutoAttack on a
CPU) is stopped at its next model call, and its time so far counts as a lower bound (shown ``>=``). Each
timing says what it times on stderr as it goes (``say``).

Workers: an eval cell runs in chunks (bench.execute.chunks) that the Ray executor spreads over workers; a
training cell runs on one worker. With ``--workers N`` each eval cell also shows its time on N workers
(its chunks in ceil(chunks / N) rounds), and the total shows the run's time on N workers: the tasks
(training cells, then every chunk, each after its model) laid in order on the worker free first, as
Ray's queue takes them. Cells over an hour are flagged: a training cell that long resumes by epoch if
killed, an eval cell by chunk.

Random images need no dataset on disk. A training step is seeded; on CUDA it is timed after ``WARMUP``
steps and a synchronize, so the first call's allocation and kernel selection are not counted.
"""
from __future__ import annotations

import contextlib
import heapq
import math
import sys
import time
from pathlib import Path

import torch

from bench.data import DATASETS, augment_batch
from bench.evals import EVALS, EvalContext
from bench.execute.compute import untrained
from bench.execute.progress import duration
from bench.execute.train import make_recipe
from bench.ids import canonical
from bench.recipes import StepState

WARMUP = 1
TRAIN_STEPS = 3  # timed steps on CUDA (on the CPU: 1)
EVAL_INPUTS = 32  # timed inputs on CUDA
CPU_BATCH = 8  # on the CPU one step, unwarmed, is timed at most at this batch and scaled to the cell's
CPU_EVAL_INPUTS = 4
EVAL_BUDGET = 60.0  # seconds an evaluation's timing may take; past it, the time so far is a lower bound
HOUR = 3600.0  # a cell over this many seconds is flagged
# training and test split sizes of the registered datasets (a dataset missing here is loaded to count it)
SIZES = {"digits": (1297, 500), "fashion-mnist": (60000, 10000), "mnist": (60000, 10000), "svhn": (73257, 26032),
         "cifar10": (50000, 10000), "cifar100": (50000, 10000)}


def split_sizes(dataset: str, root: str | None) -> tuple[int, int]:
    if dataset not in SIZES:
        train, test = DATASETS.get(dataset).load(root=root)
        SIZES[dataset] = (len(train), len(test))
    return SIZES[dataset]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_train_step(method: str, cfg: dict, info, device: torch.device, steps_per_epoch: int) -> float:
    """Seconds one training step of the recipe takes (mean of TRAIN_STEPS after WARMUP; on the CPU one
    step at a batch of at most CPU_BATCH, scaled to the cell's batch)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = untrained(cfg, info, str(device)).train()
    recipe, optimizer = make_recipe(model, method, cfg, info, device, steps_per_epoch)
    ctx = recipe.ctx
    cuda = device.type == "cuda"
    bs = cfg["batch_size"] if cuda else min(cfg["batch_size"], CPU_BATCH)
    steps, warmup = (TRAIN_STEPS, WARMUP) if cuda else (1, 0)
    last = max(0, cfg["epochs"] - 1)
    x_all = torch.rand((bs, *info.shape), generator=gen)
    y_all = torch.randint(0, info.num_classes, (bs,), generator=gen)
    start = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        x = augment_batch(x_all, cfg["augment"], gen, **(cfg.get("crop") or {})).to(device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        step = last * steps_per_epoch + min(i, steps_per_epoch - 1)
        recipe.step(model, optimizer, x, y_all.to(device), StepState(last, step, ctx))
    _sync(device)
    return (time.perf_counter() - start) / steps * cfg["batch_size"] / bs


class _OverBudget(Exception):
    pass


@contextlib.contextmanager
def _budget(seconds: float):
    """Stop whatever runs inside at its first model call after ``seconds`` (a global forward pre-hook)."""
    deadline = time.perf_counter() + seconds

    def check(module, args):
        if time.perf_counter() > deadline:
            raise _OverBudget

    handle = torch.nn.modules.module.register_module_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def time_eval_input(cell, info, device: torch.device) -> float | tuple[float, bool]:
    """Seconds the cell's evaluation takes per input, on EVAL_INPUTS (CPU: CPU_EVAL_INPUTS) random inputs of
    the model cell's ``timing_model`` (an untrained net of a recipe's architecture; a model trained
    elsewhere itself). An evaluation still running after EVAL_BUDGET seconds is stopped: then
    (its seconds so far per input, True), a lower bound."""
    torch.manual_seed(0)
    model = cell.train.timing_model(str(device)).eval()
    n = min(EVAL_INPUTS if device.type == "cuda" else CPU_EVAL_INPUTS, cell.n_test)
    x = torch.rand((n, *info.shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x.to(device)).argmax(1).cpu()
    ctx = EvalContext(info=info, device=device, batch_size=cell.batch_size, seed=cell.sample_seed, notes={},
                      index=torch.arange(n))
    evaluation = EVALS.get(cell.kind)(cell.name, cell.params)
    _sync(device)
    start = time.perf_counter()
    try:
        with _budget(EVAL_BUDGET):
            evaluation.run(model, x, y, ctx)
    except _OverBudget:
        return (time.perf_counter() - start) / n, True
    _sync(device)
    return (time.perf_counter() - start) / n


def _stderr(text: str) -> None:
    print(f"estimate: {text}", file=sys.stderr, flush=True)


def estimate(trains, evals, device: str, root: str | None = None, done=lambda kind, cell: False,
             train_step=time_train_step, eval_input=time_eval_input, say=_stderr) -> list[dict]:
    """One dict per cell still to run: kind, label, units (steps or inputs), seconds per unit, hours, and
    for eval cells their chunks (inputs each). Each distinct configuration is timed once, with a line
    through ``say`` before and after."""
    dev = torch.device(device)
    todo_t = [(c, c.train_work(split_sizes(c.dataset, root)[0])) for c in trains if not done("train", c)]
    todo_t = [(c, w) for c, w in todo_t if w is not None]  # None: nothing to train (a model trained elsewhere)
    todo_e = [(c, canonical([c.train.dataset, c.train.timing_key, c.kind, c.name, c.params, c.batch_size]))
              for c in evals if not done("eval", c)]
    timings = len({w["key"] for _, w in todo_t}) + len({k for _, k in todo_e})
    timed: dict[str, float] = {}

    def timing(key: str, what: str, fn, *args) -> tuple[float, bool]:
        if key not in timed:
            say(f"timing {len(timed) + 1}/{timings}: {what} ...")
            begin = time.perf_counter()
            got = fn(*args)
            timed[key] = got if isinstance(got, tuple) else (got, False)
            said = f"at least {timed[key][0]:.4g} s (stopped)" if timed[key][1] else f"{timed[key][0]:.4g} s"
            say(f"timing {len(timed)}/{timings}: {what}: {said} ({duration(time.perf_counter() - begin)})")
        return timed[key]

    out = []
    for c, work in todo_t:
        per, _ = timing(work["key"], f"a training step of {c.dataset} {c.recipe} ({c.arch}, batch {c.config['batch_size']})",
                        train_step, c.method, c.config, DATASETS.get(c.dataset), dev, work["steps_per_epoch"])
        out.append({"kind": "train", "label": f"{c.dataset} {c.recipe} seed {c.seed}", "units": work["steps"],
                    "unit": "steps", "seconds_per_unit": per, "hours": work["steps"] * per / 3600,
                    "train": c.id})
    for c, key in todo_e:
        per, lower = timing(key, f"an input of {c.train.dataset} {c.train.arch} {c.name}", eval_input, c,
                            DATASETS.get(c.train.dataset), dev)
        units = min(c.n_test, split_sizes(c.train.dataset, root)[1])
        out.append({"kind": "eval", "label": f"{c.train.dataset} {c.train.recipe} seed {c.train.seed} {c.name}",
                    "units": units, "unit": "inputs", "seconds_per_unit": per, "hours": units * per / 3600,
                    "chunk": c.chunk_size, "chunks": math.ceil(units / c.chunk_size), "train": c.train.id,
                    "lower_bound": lower})
    return out


def tasks_hours(row: dict) -> list[float]:
    """The hours of a row's tasks: a training cell is one, an eval cell one per chunk."""
    if row["kind"] == "train":
        return [row["hours"]]
    sizes = [min(row["chunk"], row["units"] - s) for s in range(0, row["units"], row["chunk"])]
    return [n * row["seconds_per_unit"] / 3600 for n in sizes]


def spread(rows: list[dict], workers: int) -> float:
    """Hours until the last task ends on ``workers`` workers: every task, in order (training cells first,
    as submitted), on the worker free first, and an eval cell's chunks only after its training cell."""
    free = [0.0] * workers
    ends: dict[str, float] = {}
    last = 0.0
    for row in sorted(rows, key=lambda r: r["kind"] != "train"):
        ready = 0.0 if row["kind"] == "train" else ends.get(row["train"], 0.0)
        for hours in tasks_hours(row):
            start = max(heapq.heappop(free), ready)
            heapq.heappush(free, start + hours)
            last = max(last, start + hours)
            if row["kind"] == "train":
                ends[row["train"]] = start + hours
    return last


def render(rows: list[dict], device: str, workers: int = 1) -> str:
    cpu = torch.device(device).type != "cuda"
    lines = [f"estimate on {device}: train cells from {1 if cpu else TRAIN_STEPS} timed step(s) of each distinct "
             f"recipe setting{f' (at a batch of at most {CPU_BATCH}, scaled)' if cpu else ''}, eval cells from each "
             f"distinct evaluation on {CPU_EVAL_INPUTS if cpu else EVAL_INPUTS} inputs of an untrained model"]
    width = max((len(r["label"]) for r in rows), default=0)
    for r in rows:
        at_least = ">= " if r.get("lower_bound") else ""
        line = (f"  {r['kind']:5} {r['label']:<{width}}  {r['units']:>9,} {r['unit']:6} x "
                f"{at_least}{r['seconds_per_unit']:.4g} s = {at_least}{r['hours']:.3f} h")
        if r["kind"] == "eval" and r["chunks"] > 1:
            line += f" in {r['chunks']} chunks"
            if workers > 1:
                rounds = math.ceil(r["chunks"] / workers)
                line += f", {rounds * r['chunk'] * r['seconds_per_unit'] / 3600:.3f} h on {workers} workers"
        lines.append(line + ("  ! over 1 h" if r["hours"] * 3600 > HOUR else ""))
    train = sum(r["hours"] for r in rows if r["kind"] == "train")
    ev = sum(r["hours"] for r in rows if r["kind"] == "eval")
    lines.append(f"total: {train + ev:.2f} h ({train:.2f} h training, {ev:.2f} h evaluation) "
                 f"for {len(rows)} cells still to run")
    if workers > 1:
        lines.append(f"on {workers} workers: about {spread(rows, workers):.2f} h (training cells one worker each, "
                     "eval cells spread by chunk: --executor ray)")
    if any(r.get("lower_bound") for r in rows):
        lines.append(f">=: the evaluation's timing was stopped after {EVAL_BUDGET:g} s; its time is at least this")
    long = [r for r in rows if r["hours"] * 3600 > HOUR]
    if long:
        lines.append(f"{len(long)} cells over an hour (marked !): a killed run resumes training cells at their last "
                     "epoch and eval cells at their first missing chunk")
    return "\n".join(lines)


def estimate_run(trains, evals, out: Path, device: str, root: str | None = None, workers: int = 1) -> str:
    """The estimate of a run as printed by `bench run --estimate` (cells already done are left out)."""
    def done(kind, cell):
        return cell.done(out)

    return render(estimate(trains, evals, device, root, done), device, workers)

"""`bench run SUITE --estimate`: how long the cells still to run will take on the chosen device.

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

Random images need no dataset on disk. A training step is seeded, timed after ``WARMUP`` steps (on CUDA,
after a synchronize), so the first call's allocation and kernel selection are not counted.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.data import DATASETS, augment_batch
from bench.evals import EVALS, EvalContext
from bench.execute.compute import untrained
from bench.execute.train import make_recipe
from bench.ids import canonical
from bench.recipes import StepState

WARMUP = 1
TRAIN_STEPS = 3
EVAL_INPUTS = 32
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
    """Seconds one training step of the recipe takes (mean of TRAIN_STEPS after WARMUP)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = untrained(cfg, info, str(device)).train()
    recipe, optimizer = make_recipe(model, method, cfg, info, device, steps_per_epoch)
    ctx = recipe.ctx
    bs = cfg["batch_size"]
    last = max(0, cfg["epochs"] - 1)
    x_all = torch.rand((bs, *info.shape), generator=gen)
    y_all = torch.randint(0, info.num_classes, (bs,), generator=gen)
    start = 0.0
    for i in range(WARMUP + TRAIN_STEPS):
        if i == WARMUP:
            _sync(device)
            start = time.perf_counter()
        x = augment_batch(x_all, cfg["augment"], gen, **(cfg.get("crop") or {})).to(device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        step = last * steps_per_epoch + min(i, steps_per_epoch - 1)
        recipe.step(model, optimizer, x, y_all.to(device), StepState(last, step, ctx))
    _sync(device)
    return (time.perf_counter() - start) / TRAIN_STEPS


def time_eval_input(cell, info, device: torch.device) -> float:
    """Seconds the cell's evaluation takes per input, on EVAL_INPUTS random inputs of the model cell's
    ``timing_model`` (an untrained net of a recipe's architecture; a model trained elsewhere itself)."""
    torch.manual_seed(0)
    model = cell.train.timing_model(str(device)).eval()
    n = min(EVAL_INPUTS, cell.n_test)
    x = torch.rand((n, *info.shape), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x.to(device)).argmax(1).cpu()
    ctx = EvalContext(info=info, device=device, batch_size=cell.batch_size, seed=cell.sample_seed, notes={},
                      index=torch.arange(n))
    evaluation = EVALS.get(cell.kind)(cell.name, cell.params)
    _sync(device)
    start = time.perf_counter()
    evaluation.run(model, x, y, ctx)
    _sync(device)
    return (time.perf_counter() - start) / n


def estimate(trains, evals, device: str, root: str | None = None, done=lambda kind, cell: False,
             train_step=time_train_step, eval_input=time_eval_input) -> list[dict]:
    """One dict per cell still to run: kind, label, units (steps or inputs), seconds per unit, hours.
    Each distinct configuration is timed once."""
    dev = torch.device(device)
    per_step: dict[str, float] = {}
    per_input: dict[str, float] = {}
    out = []
    for c in trains:
        work = None if done("train", c) else c.train_work(split_sizes(c.dataset, root)[0])
        if work is None:  # done, or nothing to train (a model trained elsewhere)
            continue
        key, units = work["key"], work["steps"]
        if key not in per_step:
            per_step[key] = train_step(c.method, c.config, DATASETS.get(c.dataset), dev, work["steps_per_epoch"])
        out.append({"kind": "train", "label": f"{c.dataset} {c.recipe} seed {c.seed}", "units": units,
                    "unit": "steps", "seconds_per_unit": per_step[key], "hours": units * per_step[key] / 3600})
    for c in evals:
        if done("eval", c):
            continue
        key = canonical([c.train.dataset, c.train.timing_key, c.kind, c.name, c.params, c.batch_size])
        if key not in per_input:
            per_input[key] = eval_input(c, DATASETS.get(c.train.dataset), dev)
        units = min(c.n_test, split_sizes(c.train.dataset, root)[1])
        out.append({"kind": "eval", "label": f"{c.train.dataset} {c.train.recipe} seed {c.train.seed} {c.name}",
                    "units": units, "unit": "inputs", "seconds_per_unit": per_input[key],
                    "hours": units * per_input[key] / 3600})
    return out


def render(rows: list[dict], device: str) -> str:
    lines = [f"estimate on {device}: train cells from {TRAIN_STEPS} timed steps of each distinct recipe setting, "
             f"eval cells from each distinct evaluation on {EVAL_INPUTS} inputs of an untrained model"]
    width = max((len(r["label"]) for r in rows), default=0)
    for r in rows:
        lines.append(f"  {r['kind']:5} {r['label']:<{width}}  {r['units']:>9,} {r['unit']:6} x "
                     f"{r['seconds_per_unit']:.4g} s = {r['hours']:.3f} h")
    train = sum(r["hours"] for r in rows if r["kind"] == "train")
    ev = sum(r["hours"] for r in rows if r["kind"] == "eval")
    lines.append(f"total: {train + ev:.2f} h ({train:.2f} h training, {ev:.2f} h evaluation) "
                 f"for {len(rows)} cells still to run")
    return "\n".join(lines)


def estimate_run(trains, evals, out: Path, device: str, root: str | None = None) -> str:
    """The estimate of a run as printed by `bench run --estimate` (cells already done are left out)."""
    def done(kind, cell):
        return cell.done(out)

    return render(estimate(trains, evals, device, root, done), device)

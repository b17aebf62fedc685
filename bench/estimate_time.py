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

import math
import time
from pathlib import Path

import torch

from bench import store
from bench.config import canonical

WARMUP = 1
TRAIN_STEPS = 3
EVAL_INPUTS = 32
# training and test split sizes of the registered datasets (a dataset missing here is loaded to count it)
SIZES = {"digits": (1297, 500), "fashion-mnist": (60000, 10000), "mnist": (60000, 10000), "svhn": (73257, 26032),
         "cifar10": (50000, 10000), "cifar100": (50000, 10000)}


def split_sizes(dataset: str, root: str | None) -> tuple[int, int]:
    if dataset not in SIZES:
        from bench.data import DATASETS

        train, test = DATASETS.get(dataset).load(root=root)
        SIZES[dataset] = (len(train), len(test))
    return SIZES[dataset]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(cfg: dict, info, device: torch.device) -> torch.nn.Module:
    from bench.nets import build

    fmt = torch.channels_last if device.type == "cuda" else torch.preserve_format
    return build(cfg["arch"], info, cfg.get("normalize"), **cfg["arch_args"]).to(device, memory_format=fmt)


def time_train_step(method: str, cfg: dict, info, device: torch.device, steps_per_epoch: int) -> float:
    """Seconds one training step of the recipe takes (mean of TRAIN_STEPS after WARMUP)."""
    from bench.data import augment_batch
    from bench.recipes import RECIPES, StepState, TrainContext
    from bench.train import make_optimizer, uses_amp

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = _model(cfg, info, device).train()
    ctx = TrainContext(info=info, epochs=cfg["epochs"], steps_per_epoch=steps_per_epoch, device=device)
    recipe = RECIPES.get(method)(cfg["args"], ctx)
    recipe.scaler = torch.amp.GradScaler(device.type) if uses_amp(recipe, device) else None
    recipe.setup(model)
    optimizer = make_optimizer(list(model.parameters()), cfg["optimizer"])
    bs = cfg["batch_size"]
    last = max(0, cfg["epochs"] - 1)
    x_all = torch.rand((bs, *info.shape), generator=gen)
    y_all = torch.randint(0, info.num_classes, (bs,), generator=gen)
    start = 0.0
    for i in range(WARMUP + TRAIN_STEPS):
        if i == WARMUP:
            _sync(device)
            start = time.perf_counter()
        x = augment_batch(x_all, cfg.get("augment") or info.augment, gen, **(cfg.get("crop") or {})).to(device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        step = last * steps_per_epoch + min(i, steps_per_epoch - 1)
        recipe.step(model, optimizer, x, y_all.to(device), StepState(last, step, ctx))
    _sync(device)
    return (time.perf_counter() - start) / TRAIN_STEPS


def time_eval_input(cell, info, device: torch.device) -> float:
    """Seconds the cell's evaluation takes per input, on EVAL_INPUTS random inputs of an untrained model."""
    from bench.evals import EVALS, EvalContext

    torch.manual_seed(0)
    if cell.train.method == "external":  # the model itself (its files are at hand), not an untrained one
        from bench.external import load

        model = load(cell.train, str(device))
    else:
        model = _model(cell.train.config, info, device).eval()
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
    from bench.data import DATASETS

    dev = torch.device(device)
    per_step: dict[str, float] = {}
    per_input: dict[str, float] = {}
    out = []
    for c in trains:
        if done("train", c) or c.method == "external":  # an external model is loaded, not trained
            continue
        info = DATASETS.get(c.dataset)
        cfg = c.config
        n = c.n_train or split_sizes(c.dataset, root)[0]
        steps_per_epoch = math.ceil(min(n, split_sizes(c.dataset, root)[0]) / cfg["batch_size"])
        key = canonical([c.dataset, c.method, {k: v for k, v in cfg.items() if k not in ("epochs",)}, steps_per_epoch])
        if key not in per_step:
            per_step[key] = train_step(c.method, cfg, info, dev, steps_per_epoch)
        units = cfg["epochs"] * steps_per_epoch
        out.append({"kind": "train", "label": f"{c.dataset} {c.recipe} seed {c.seed}", "units": units,
                    "unit": "steps", "seconds_per_unit": per_step[key], "hours": units * per_step[key] / 3600})
    for c in evals:
        if done("eval", c):
            continue
        info = DATASETS.get(c.train.dataset)
        cfg = c.train.config
        model = c.train.id if c.train.method == "external" else [cfg["arch"], cfg["arch_args"]]
        key = canonical([c.train.dataset, model, c.kind, c.name, c.params, c.batch_size])
        if key not in per_input:
            per_input[key] = eval_input(c, info, dev)
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
        return store.model_done(out, cell.id) if kind == "train" else store.samples_path(out, cell.id).exists()

    return render(estimate(trains, evals, device, root, done), device)

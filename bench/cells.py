"""Train cells and eval cells: pure functions of their config that write their own files.

A train cell is (dataset, recipe, arch, seed, training settings); its id hashes that resolved config
and the recipe's code version. An eval cell is (train cell, evaluation, sample selection); its id hashes
that plus the train id and the code versions of the evaluation kind and attack it uses, so a fix that
bumps a version re-runs exactly the cells whose numbers it changes.
Both executors (local, ray) run cells through ``compute``, which holds the cell's lock (bench.locks)
while it looks whether the cell is done and computes it; a damaged file is reported in one line and
recomputed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from bench import external, locks, store
from bench.config import canonical
from bench.data import DATASETS, Split, subset
from bench.evals import EVALS, EvalContext
from bench.nets import build
from bench.recipes import RECIPES


@dataclass(frozen=True)
class TrainCell:
    dataset: str
    recipe: str  # the suite's label
    method: str
    seed: int
    config_json: str  # resolved training settings (arch, arch_args, epochs, optimizer, ..., args)
    n_train: int | None
    download: bool

    @property
    def config(self) -> dict:
        return json.loads(self.config_json)

    @property
    def arch(self) -> str:
        return self.config["arch"]

    @property
    def versions(self) -> dict:
        """The code versions the cell's numbers depend on (bench.recipes.Recipe.version)."""
        return {f"recipe:{self.method}": RECIPES.get(self.method).version}

    @property
    def id(self) -> str:
        return store.cell_id({"dataset": self.dataset, "method": self.method, "seed": self.seed,
                              "config": self.config, "n_train": self.n_train, "versions": self.versions})


@dataclass(frozen=True)
class EvalCell:
    train: TrainCell
    kind: str
    name: str
    params_json: str
    n_test: int
    sample_seed: int
    batch_size: int  # execution setting, not part of the id

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def versions(self) -> dict:
        """The code versions of the evaluation kind and the attack it runs (bench.evals.Evaluation.versions)."""
        return EVALS.get(self.kind).versions(self.params)

    @property
    def id(self) -> str:
        return store.cell_id({"train": self.train.id, "recipe": self.train.recipe, "kind": self.kind,
                              "name": self.name, "params": self.params, "n_test": self.n_test,
                              "sample_seed": self.sample_seed, "versions": self.versions})


@lru_cache(maxsize=4)
def load_dataset(name: str, root: str | None, download: bool) -> tuple[Split, Split]:
    return DATASETS.get(name).load(root=root, download=download)


def train_split(cell: TrainCell, root: str | None) -> Split:
    train, _ = load_dataset(cell.dataset, root, cell.download)
    if cell.n_train:
        _, train = subset(train, cell.n_train, cell.seed)
    return train


def compute(cell: TrainCell | EvalCell, out: Path, device: str, root: str | None = None, progress: bool = True,
            log=print) -> bool:
    """Compute a train or eval cell under its lock, unless its files read back whole (a damaged one is
    reported and recomputed). True when this call computed it."""
    train = not isinstance(cell, EvalCell)  # a TrainCell or an external model's cell
    with locks.cell_lock(out, cell.id):
        if (store.model_done if train else store.eval_done)(out, cell.id):
            return False
        store.discard(store.model_files(out, cell.id) if train else [store.samples_path(out, cell.id)], log)
        if train:
            _train(cell, out, device, root, progress)
        else:
            _evaluate(cell, out, device, root)
        return True


def run_train_cell(cell: TrainCell, out: Path, device: str, root: str | None = None, progress: bool = True,
                   log=print) -> dict:
    """Train the cell's model unless it is done (``compute``); its metadata."""
    compute(cell, out, device, root, progress, log)
    return store.model_meta(out, cell.id)


def _train(cell: TrainCell, out: Path, device: str, root: str | None, progress: bool) -> None:
    from bench.train import train

    if cell.method == "external":
        return external.register(cell, out, device, root)
    tid = cell.id
    info = DATASETS.get(cell.dataset)
    cfg = cell.config
    torch.manual_seed(cell.seed)
    net = build(cfg["arch"], info, cfg.get("normalize"), **cfg["arch_args"])
    dev = torch.device(device)
    stats = train(net, cell.method, cfg["args"], train_split(cell, root), cfg, info, cell.seed, dev,
                  progress=progress, label=f"{cell.dataset}/{cell.recipe}/s{cell.seed}")
    meta = {"id": tid, "dataset": cell.dataset, "recipe": cell.recipe, "method": cell.method, "seed": cell.seed,
            "config": cfg, "n_train": cell.n_train, "device": str(dev), "versions": store.versions(),
            "code_versions": cell.versions, "git_commit": store.git_commit(), **stats}
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    store.save_model(out, tid, state, meta)


def load_model(cell: TrainCell, out: Path, device: str, root: str | None = None) -> torch.nn.Module:
    if cell.method == "external":
        return external.load(cell, device, root)
    cfg = cell.config
    net = build(cfg["arch"], DATASETS.get(cell.dataset), cfg.get("normalize"), **cfg["arch_args"])
    net.load_state_dict(store.load_state(out, cell.id))
    fmt = torch.channels_last if torch.device(device).type == "cuda" else torch.preserve_format
    return net.to(device, memory_format=fmt).eval()


def run_eval_cell(cell: EvalCell, out: Path, device: str, root: str | None = None, log=print) -> Path:
    """Evaluate the cell's trained model on its fixed test subset unless it is done (``compute``); the
    path of its rows."""
    compute(cell, out, device, root, log=log)
    return store.samples_path(out, cell.id)


def _evaluate(cell: EvalCell, out: Path, device: str, root: str | None) -> None:
    eid = cell.id
    _, test = load_dataset(cell.train.dataset, root, cell.train.download)
    idx, sub = subset(test, cell.n_test, cell.sample_seed)
    model = load_model(cell.train, out, device, root)
    info = DATASETS.get(cell.train.dataset)
    notes: dict = {}
    ctx = EvalContext(info=info, device=torch.device(device), batch_size=cell.batch_size, seed=cell.sample_seed,
                      notes=notes, index=idx)
    evaluation = EVALS.get(cell.kind)(cell.name, cell.params)
    torch.manual_seed(cell.sample_seed)
    start = time.perf_counter()
    cols = evaluation.run(model, sub.x, sub.y, ctx)
    seconds = time.perf_counter() - start
    n = len(cols["pred"])
    reps = n // len(idx)
    t = cell.train
    cols.update({
        "dataset": np.full(n, t.dataset, dtype=object), "recipe": np.full(n, t.recipe, dtype=object),
        "arch": np.full(n, t.arch, dtype=object), "seed": np.full(n, t.seed),
        "index": np.tile(idx.numpy(), reps), "label": np.tile(sub.y.numpy(), reps),
        "cell": np.full(n, eid, dtype=object), "train_cell": np.full(n, t.id, dtype=object),
        "params": np.full(n, canonical(cell.params), dtype=object),
    })
    meta = {"cell": eid, "train_cell": t.id, "kind": cell.kind, "evaluation": cell.name, "params": cell.params,
            "n_test": cell.n_test, "sample_seed": cell.sample_seed, "seconds": seconds, "device": device,
            "notes": notes, "code_versions": cell.versions, "bench": store.bench_version(),
            "git_commit": store.git_commit()}
    store.write_rows(out, eid, cols, meta)

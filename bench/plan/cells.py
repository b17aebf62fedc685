"""The cells of a plan: what each computes, its id, and how its model is had.

A model cell stands for one model on one dataset. There are three kinds, and each answers the same
questions, so no caller asks which kind it holds:

- ``TrainCell``: a recipe trained with one seed (dataset, recipe, arch, seed, training settings);
- ``ExternalCell``: a suite's `models:` entry (bench.suite.models) on one dataset, trained elsewhere;
- ``ModelCell``: a module handed to ``bench.evaluate``, already in memory.

The questions: ``id`` and ``versions`` (what the id hashes), ``epochs`` (0 when nothing is trained),
``action`` (what producing it does: ``train`` or ``load``; the CLI's words), ``label`` (progress lines), ``record()`` (its run.json entry), ``produce`` (train it, or load, check and
record it: models/<id>.{json,pt}), ``load`` (the model, in eval mode on a device), ``check`` (a load
before anything runs, so a bad model is one line and nothing is written) and, for ``--estimate``,
``train_work`` (what training costs; None when nothing is trained) and ``timing_model`` (the model an
evaluation is timed on).

An ``EvalCell`` is (model cell, evaluation, sample selection). Its id hashes those, the model cell's id and
the code versions of the evaluation kind and the attack it runs, so a fix that bumps a version re-runs
exactly the cells whose numbers it changes. Its inputs are computed in chunks of ``chunk`` inputs
(bench.execute.chunks); the chunk size enters the id only where it changes the numbers: the cell has more
than one chunk and its evaluation draws from a generator its inputs share (``Evaluation.draws``). The
work itself is bench.execute.compute's.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from bench.data import DATASETS, Split, splits, subset
from bench.errors import UserError
from bench.evals import EVALS
from bench.execute import chunks, compute
from bench.execute.external import EXTERNAL_VERSION, build_model, normalized, robustbench_file
from bench.ids import canonical, cell_id, file_sha256
from bench.recipes import RECIPES
from bench.results import store
from bench.suite.models import Sourced

CHUNK_UNIT = 512  # the default chunk size is a multiple of this many inputs ...
MAX_CHUNKS = 64  # ... the smallest that splits a cell into at most this many chunks


def default_chunk(n_test: int) -> int:
    """bench's chunk size for a cell of ``n_test`` inputs: the smallest multiple of CHUNK_UNIT that makes
    at most MAX_CHUNKS chunks (512 up to 32,768 inputs; a cell of at most 512 inputs is one chunk). It does
    not depend on the batch size, so a new batch size never changes a cell's id."""
    return CHUNK_UNIT * max(1, math.ceil(n_test / (CHUNK_UNIT * MAX_CHUNKS)))


class _ModelCell:
    """What every model cell shares: its label and its files under models/."""

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.recipe}/s{self.seed}"

    def files(self, out: Path) -> list[Path]:
        return store.model_files(out, self.id)

    def done(self, out: Path) -> bool:
        return store.model_done(out, self.id)


@dataclass(frozen=True)
class TrainCell(_ModelCell):
    action = "train"
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
    def epochs(self) -> int:
        return int(self.config["epochs"])

    @property
    def versions(self) -> dict:
        """The code versions the cell's numbers depend on (bench.recipes.Recipe.version)."""
        return {f"recipe:{self.method}": RECIPES.get(self.method).version}

    @property
    def id(self) -> str:
        return cell_id({"dataset": self.dataset, "method": self.method, "seed": self.seed,
                        "config": self.config, "n_train": self.n_train, "versions": self.versions})

    def record(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "recipe": self.recipe, "method": self.method,
                "seed": self.seed, "config": self.config, "versions": self.versions}

    def train_split(self, root: str | None) -> Split:
        train, _ = splits(self.dataset, root, self.download)
        if self.n_train:
            _, train = subset(train, self.n_train, self.seed)
        return train

    def produce(self, out: Path, device: str, root: str | None = None, progress: bool = True) -> None:
        compute.train_model(self, out, device, root, progress)

    @staticmethod
    def summary(meta: dict) -> str:
        return f"train acc {meta['final_train_accuracy']:.3f}"

    def load(self, out: Path, device: str, root: str | None = None):
        return compute.load_trained(self, out, device)

    def check(self, device: str, root: str | None, ibp: bool) -> None:
        """Nothing to check before the run: the model does not exist yet."""

    def train_work(self, n_train_split: int) -> dict:
        """What training costs, for ``--estimate``: the steps, and the key under which one timed step serves
        every cell of the same (dataset, method, settings)."""
        cfg = self.config
        steps_per_epoch = math.ceil(min(self.n_train or n_train_split, n_train_split) / cfg["batch_size"])
        key = canonical([self.dataset, self.method, {k: v for k, v in cfg.items() if k != "epochs"}, steps_per_epoch])
        return {"key": key, "steps_per_epoch": steps_per_epoch, "steps": cfg["epochs"] * steps_per_epoch}

    def timing_model(self, device: str):
        """An untrained model of the cell's architecture: evaluations cost what the architecture costs."""
        return compute.untrained(self.config, DATASETS.get(self.dataset), device)

    @property
    def timing_key(self):
        return [self.config["arch"], self.config["arch_args"]]


class _Given(_ModelCell):
    """What the model cells that bench does not train share: nothing to train, a model that is loaded."""

    seed = 0  # one model: its rows carry seed 0
    n_train = None
    method = "external"
    epochs = 0
    action = "load"
    versions = {"external": EXTERNAL_VERSION}

    def produce(self, out: Path, device: str, root: str | None = None, progress: bool = True) -> None:
        compute.register_model(self, out, device, root)

    @staticmethod
    def summary(meta: dict) -> str:
        return "loaded"

    def check(self, device: str, root: str | None, ibp: bool) -> None:
        compute.load_given(self, device, root, ibp=ibp)

    def load(self, out: Path, device: str, root: str | None = None):
        return compute.load_given(self, device, root)

    def train_work(self, n_train_split: int) -> None:
        return None

    def timing_model(self, device: str):
        return self.load(Path(), device)

    @property
    def timing_key(self):
        return self.id

    def record(self) -> dict:
        return {"id": self.id, "dataset": self.dataset, "recipe": self.recipe, "method": self.method,
                "seed": self.seed, "config": self.describe()["external"], "versions": self.versions}


@dataclass(frozen=True)
class ExternalCell(_Given, Sourced):
    """An external model on one dataset: takes a train cell's place in the grid. Its id hashes the entry's
    settings and the sha256 of its files, so a replaced checkpoint is evaluated again and an unchanged one
    is not."""

    dataset: str
    recipe: str  # the entry's `as:`
    settings_json: str
    paths_json: str
    hashes_json: str  # {setting key: sha256 of the file}
    download: bool
    where: str

    @property
    def arch(self) -> str:
        s = self.settings
        return s["arch"] if s["source"] == "arch" else f"{s['source']}:{Path(str(s[s['source']])).name}"

    @property
    def id(self) -> str:
        return cell_id({"dataset": self.dataset, "external": self.settings,
                        "sha256": json.loads(self.hashes_json), "versions": self.versions})

    def describe(self) -> dict:
        """What models/<id>.json records about the source."""
        return {"external": self.settings, "files": self.paths, "sha256": json.loads(self.hashes_json)}

    def model(self, root: str | None):
        """The model built from its source files, which must still hash as they did when the run was planned."""
        if file_hashes(self.paths) != json.loads(self.hashes_json):
            raise UserError(f"{self.recipe}: a file of this model changed since the run was planned; run again",
                            self.where, "models")
        return build_model(self.settings, self.paths, DATASETS.get(self.dataset), self.where)


@dataclass(frozen=True, eq=False)
class ModelCell(_Given):
    """A model object handed to ``bench.evaluate``: a model cell whose model is already in memory. Its id
    hashes the module's class and its state_dict."""

    dataset: str
    recipe: str
    net: object  # torch.nn.Module
    id: str
    arch: str
    download: bool = False
    where: str = "model"  # bench.evaluate's argument
    normalize_json: str = "null"  # bench.evaluate's normalize= ({mean, std}, or null)

    @classmethod
    def of(cls, net, dataset: str, label: str, normalize: dict | None = None, download: bool = False) -> "ModelCell":
        """The cell of ``net`` (behind ``normalize`` when given); its id hashes what is evaluated."""
        kind = f"{type(net).__module__}.{type(net).__qualname__}"
        net = normalized(net, normalize, DATASETS.get(dataset), label, "normalize", None)
        return cls(dataset, label, net, module_digest(net)[:16], kind, download, normalize_json=canonical(normalize))

    def describe(self) -> dict:
        norm = json.loads(self.normalize_json)
        return {"external": {"source": "python", "class": self.arch, **({"normalize": norm} if norm else {})},
                "sha256": {"state_dict": self.id}}

    def model(self, root: str | None):
        return self.net


def module_digest(net) -> str:
    """sha256 over a module's class name and its state_dict (names, dtypes, shapes, bytes)."""
    import torch

    h = hashlib.sha256(f"{type(net).__module__}.{type(net).__qualname__}".encode())
    for k, v in net.state_dict().items():
        t = v.detach().cpu().contiguous().reshape(-1)
        h.update(f"{k}:{t.dtype}:{tuple(v.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def file_hashes(paths: dict) -> dict:
    return {k: file_sha256(p) for k, p in paths.items() if k != "model_dir" and Path(p).is_file()}


def external_cells(specs, datasets) -> list[ExternalCell]:
    """One cell per (`models:` entry, dataset it was trained for)."""
    out = []
    for ds in datasets:
        for spec in specs:
            if ds.name in spec.datasets:
                paths = dict(spec.paths)
                if spec.source == "robustbench":
                    paths["robustbench"] = str(robustbench_file(spec.settings, paths, ds.name))
                out.append(ExternalCell(ds.name, spec.label, spec.settings_json, canonical(paths),
                                        canonical(file_hashes(paths)), ds.download, spec.where))
    return out


@dataclass(frozen=True)
class EvalCell:
    train: TrainCell | ExternalCell | ModelCell
    kind: str
    name: str
    params_json: str
    n_test: int
    sample_seed: int
    batch_size: int  # execution setting, not part of the id
    chunk: int = 0  # inputs per chunk (0: the whole cell in one chunk); in the id only where it changes numbers

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def chunk_size(self) -> int:
        return self.chunk if 0 < self.chunk < self.n_test else self.n_test

    @property
    def n_chunks(self) -> int:
        """Chunks of n_test inputs (when n_test exceeds the test split, the last ones hold no inputs)."""
        return math.ceil(self.n_test / self.chunk_size)

    @property
    def chunk_in_id(self) -> bool:
        """Whether the chunk size changes this cell's numbers (so its id hashes it)."""
        return self.n_chunks > 1 and EVALS.get(self.kind).draws(self.params)

    @property
    def versions(self) -> dict:
        """The code versions of the evaluation kind and the attack it runs (bench.evals.Evaluation.versions)."""
        return EVALS.get(self.kind).versions(self.params)

    @property
    def id(self) -> str:
        chunk = {"chunk": self.chunk_size} if self.chunk_in_id else {}
        return cell_id({"train": self.train.id, "recipe": self.train.recipe, "kind": self.kind,
                        "name": self.name, "params": self.params, "n_test": self.n_test,
                        "sample_seed": self.sample_seed, "versions": self.versions, **chunk})

    @property
    def label(self) -> str:
        return f"{self.train.label} {self.name}"

    def files(self, out: Path) -> list[Path]:
        return [store.samples_path(out, self.id)]

    def done(self, out: Path) -> bool:
        return store.eval_done(out, self.id)

    def record(self) -> dict:
        return {"id": self.id, "train_cell": self.train.id, "recipe": self.train.recipe, "dataset": self.train.dataset,
                "evaluation": self.name, "kind": self.kind, "params": self.params, "versions": self.versions}

    def produce(self, out: Path, device: str, root: str | None = None, progress: bool = True) -> None:
        chunks.evaluate(self, out, device, root)

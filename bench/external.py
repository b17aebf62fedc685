"""External models: a suite's `models:` entries, evaluated beside the recipes' models.

Each entry names where its model comes from (exactly one of ``arch`` + ``checkpoint``, ``module``
(+ ``checkpoint``), ``torchscript``, ``robustbench``), the label its rows carry in the ``recipe`` column
(``as:``) and the suite datasets it was trained for (``datasets:``, default all). See README "Evaluate
your own model". Paths are relative to the suite file.

An external model takes the place of a train cell (``ExternalCell``): its id hashes the entry's settings
and the sha256 of its files, so a replaced checkpoint is evaluated again and an unchanged one is not.
"Training" it loads the model, checks it on one test batch, and writes models/<id>.json (source,
hashes, load time) and models/<id>.pt (the loaded weights, as a record). Evaluations reload the model
from its source files (bench.external_load), which must still hash the same.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.registry import did_you_mean
from bench.yamlio import Field, Node, Seq, parse

SOURCES = ("arch", "module", "torchscript", "robustbench")
# Bumped when loading or wrapping an external model changes its numbers (hashed into the cell id, as a
# recipe's version is).
VERSION = 1
ENTRY = {
    "as": Field("str", required=True),
    "datasets": Field("list", None),
    "arch": Field("str"), "arch_args": Field("map", {}),
    "module": Field("str"), "args": Field("map", {}),
    "checkpoint": Field("str"),
    "torchscript": Field("str"),
    "robustbench": Field("str"), "threat_model": Field("str", "Linf", choices=("Linf", "L2", "corruptions")),
    "model_dir": Field("str"),
    "normalize": Field("map"),
}
OPTIONS = {"arch": ("arch_args", "checkpoint"), "module": ("args", "checkpoint"), "torchscript": (),
           "robustbench": ("threat_model", "model_dir")}
NORMALIZE = {"mean": Field("floats", required=True), "std": Field("floats", required=True, lo=0.0, open_lo=True)}


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ExternalSpec:
    """One validated `models:` entry. ``settings`` keep paths as written (they enter the cell id);
    ``paths`` are the same files resolved against the suite's folder."""

    label: str
    source: str  # arch | module | torchscript | robustbench
    settings_json: str
    paths_json: str  # {setting key: absolute path}
    datasets: tuple[str, ...]
    where: str

    @property
    def settings(self) -> dict:
        return json.loads(self.settings_json)

    @property
    def paths(self) -> dict:
        return json.loads(self.paths_json)


def parse_builder(value: str, where: str) -> object:
    """``pkg.mod:fn`` -> the callable (imported now, so a bad path fails before anything runs)."""
    mod_name, sep, attr = value.partition(":")
    if not sep or not mod_name or not attr:
        raise UserError(f"expected `package.module:function`, got {value!r}", where, "module")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # ImportError, or the module's own error while importing
        raise UserError(f"cannot import {mod_name!r}: {type(e).__name__}: {e}", where, "module") from None
    fn = mod
    for part in attr.split("."):
        if not hasattr(fn, part):
            names = [n for n in dir(mod) if not n.startswith("_")]
            raise UserError(f"module {mod_name!r} has no {attr!r}{did_you_mean(attr, names)}", where, "module")
        fn = getattr(fn, part)
    if not callable(fn):
        raise UserError(f"{value!r} is not callable", where, "module")
    return fn


def _entry(entry, where: str, suite_dir: Path, datasets: tuple[str, ...]) -> ExternalSpec:
    from bench.data import DATASETS
    from bench.nets import ARCHS, arch_params

    if not isinstance(entry, Node):
        raise UserError("expected a mapping with `as:` and one of " + ", ".join(f"`{s}:`" for s in SOURCES),
                        where, "models")
    opts = parse(entry, ENTRY, "models", where)
    given = [s for s in SOURCES if opts[s] is not None]
    if len(given) != 1:
        raise UserError(f"{opts['as']}: give exactly one of {', '.join(SOURCES)} (got {', '.join(given) or 'none'})",
                        where, "models")
    source = given[0]
    for key in entry:
        if key not in ("as", "datasets", "normalize", source, *OPTIONS[source]):
            raise UserError(f"{opts['as']}: {key!r} does not apply to a `{source}:` entry", entry.where(key),
                            f"models.{key}")
    if source == "arch" and opts["checkpoint"] is None:
        raise UserError(f"{opts['as']}: an `arch:` entry needs `checkpoint:` (a state_dict file)", where,
                        "models.checkpoint")
    at = entry.where
    if source == "arch":
        ARCHS.get(opts["arch"], at("arch"), "models.arch")
        known = arch_params(opts["arch"])
        for k in opts["arch_args"]:
            if k not in known:
                raise UserError(f"{opts['as']}: architecture {opts['arch']!r} takes no argument {k!r}"
                                f"{did_you_mean(k, known)}", at("arch_args"), "models.arch_args")
    if source == "module":
        parse_builder(opts["module"], at("module"))
    if source == "robustbench" and any(DATASETS.get(d).name not in ("cifar10", "cifar100") for d in datasets):
        raise UserError(f"{opts['as']}: RobustBench's zoo covers cifar10 and cifar100; give `datasets:`",
                        at("robustbench"), "models.datasets")
    if opts["normalize"] is not None:
        norm = parse(opts["normalize"], NORMALIZE, "models.normalize", at("normalize"))
        if len(norm["mean"]) != len(norm["std"]):
            raise UserError(f"{opts['as']}: mean and std differ in length", at("normalize"), "models.normalize")
        opts["normalize"] = {k: list(v) for k, v in norm.items()}
    paths = {}
    for key in ("checkpoint", "torchscript"):
        if opts[key] is not None:
            path = (suite_dir / opts[key]).resolve()
            if not path.is_file():
                raise UserError(f"{opts['as']}: no file {path}", at(key), f"models.{key}")
            paths[key] = str(path)
    if source == "robustbench":
        from bench.data import data_root

        model_dir = suite_dir / opts["model_dir"] if opts["model_dir"] else data_root(None) / "robustbench"
        paths["model_dir"] = str(model_dir.resolve())
    keep = ("as", source, *OPTIONS[source], "normalize")
    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items() if k in keep and v is not None}
    settings["source"] = source
    own = tuple(datasets)
    if opts["datasets"] is not None:
        own = []
        for d in opts["datasets"]:
            if d not in datasets:
                raise UserError(f"{opts['as']}: {d!r} is not one of the suite's datasets ({', '.join(datasets)})",
                                at("datasets"), "models.datasets")
            own.append(d)
        own = tuple(own)
    from bench.config import canonical

    return ExternalSpec(opts["as"], source, canonical(settings), canonical(paths), own, where)


def parse_models(node: Node, suite_dir: Path, datasets: tuple[str, ...], taken: dict) -> tuple[ExternalSpec, ...]:
    """The suite's `models:` list. ``taken`` maps the recipes' labels to where they are (labels are unique)."""
    value = node.get("models")
    if value is None:
        return ()
    if isinstance(value, str):
        raise UserError("`models:` now lists external models; a folder of model cards is `cards:`",
                        node.where("models"), "models")
    if not isinstance(value, Seq):
        raise UserError("expected a list of models", node.where("models"), "models")
    out, labels = [], dict(taken)
    for i, entry in enumerate(value):
        spec = _entry(entry, value.where(i), suite_dir, datasets)
        if spec.label in labels:
            raise UserError(f"label {spec.label!r} is used twice (also at {labels[spec.label]})", spec.where, "as")
        labels[spec.label] = spec.where
        out.append(spec)
    return tuple(out)


@dataclass(frozen=True)
class ExternalCell:
    """An external model on one dataset: takes a train cell's place in the grid."""

    dataset: str
    recipe: str  # the entry's `as:`
    settings_json: str
    paths_json: str
    hashes_json: str  # {setting key: sha256 of the file}
    download: bool
    where: str
    seed: int = 0  # an external model is one model: its rows carry seed 0
    n_train = None
    method = "external"

    @property
    def settings(self) -> dict:
        return json.loads(self.settings_json)

    config = settings

    @property
    def paths(self) -> dict:
        return json.loads(self.paths_json)

    @property
    def arch(self) -> str:
        s = self.settings
        return s["arch"] if s["source"] == "arch" else f"{s['source']}:{Path(str(s[s['source']])).name}"

    versions = {"external": VERSION}

    @property
    def id(self) -> str:
        from bench import store

        return store.cell_id({"dataset": self.dataset, "external": self.settings,
                              "sha256": json.loads(self.hashes_json), "versions": self.versions})

    def describe(self) -> dict:
        """What models/<id>.json records about the source."""
        return {"external": self.settings, "files": self.paths, "sha256": json.loads(self.hashes_json)}

    def check_unchanged(self) -> None:
        """The source files still hash as they did when the run was planned."""
        if _hashes(self.paths) != json.loads(self.hashes_json):
            raise UserError(f"{self.recipe}: a file of this model changed since the run was planned; run again",
                            self.where, "models")


@dataclass(frozen=True, eq=False)
class ModelCell:
    """A model object handed to ``bench.evaluate``: a train cell whose model is already in memory. Its id
    hashes the module's class and the sha256 of its state_dict."""

    dataset: str
    recipe: str
    net: object  # torch.nn.Module
    id: str
    arch: str
    download: bool = False
    where: str = "bench.evaluate"
    seed: int = 0
    n_train = None
    method = "external"
    versions = {"external": VERSION}

    def describe(self) -> dict:
        return {"external": {"source": "python", "class": self.arch}, "sha256": {"state_dict": self.id}}


def module_digest(net) -> str:
    """sha256 over a module's class name and its state_dict (names, dtypes, shapes, bytes)."""
    import torch

    h = hashlib.sha256(f"{type(net).__module__}.{type(net).__qualname__}".encode())
    for k, v in net.state_dict().items():
        t = v.detach().cpu().contiguous().reshape(-1)
        h.update(f"{k}:{t.dtype}:{tuple(v.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _hashes(paths: dict) -> dict:
    return {k: sha256(p) for k, p in paths.items() if k != "model_dir" and Path(p).is_file()}


def cells(specs, datasets) -> list[ExternalCell]:
    """One cell per (entry, dataset it was trained for)."""
    from bench.config import canonical

    out = []
    for ds in datasets:
        for spec in specs:
            if ds.name in spec.datasets:
                paths = dict(spec.paths)
                if spec.source == "robustbench":
                    from bench.external_load import robustbench_file

                    paths["robustbench"] = str(robustbench_file(spec.settings, paths, ds.name))
                hashes = _hashes(paths)
                out.append(ExternalCell(ds.name, spec.label, spec.settings_json, canonical(paths), canonical(hashes),
                                        ds.download, spec.where))
    return out


def register(cell: ExternalCell, out: Path, device: str, root: str | None = None) -> dict:
    """The external cell's "training": load and check the model, record it under models/."""
    from bench import store

    tid = cell.id
    if store.model_done(out, tid):
        return json.loads((out / "models" / f"{tid}.json").read_text())
    start = time.perf_counter()
    net = load(cell, device, root)
    meta = {"id": tid, "dataset": cell.dataset, "recipe": cell.recipe, "method": cell.method, "seed": cell.seed,
            **cell.describe(), "load_seconds": time.perf_counter() - start, "train_seconds": 0.0, "final_train_accuracy": float("nan"),
            "device": device, "versions": store.versions(), "code_versions": cell.versions,
            "git_commit": store.git_commit()}
    store.save_model(out, tid, {k: v.detach().cpu() for k, v in net.state_dict().items()}, meta)
    return meta


def load(cell: ExternalCell, device: str, root: str | None = None, ibp: bool = False):
    """The model, built from its source files and checked on one test batch (and, with ``ibp``, through
    interval bound propagation), on ``device`` in eval mode."""
    from bench.cells import load_dataset
    from bench.data import DATASETS
    from bench.external_load import build_model, check_model

    import torch

    info = DATASETS.get(cell.dataset)
    if isinstance(cell, ModelCell):
        net = cell.net
    else:
        cell.check_unchanged()
        net = build_model(cell.settings, cell.paths, info, cell.where)
    fmt = torch.channels_last if torch.device(device).type == "cuda" else torch.preserve_format  # as cells.load_model
    net = net.to(device, memory_format=fmt).eval()
    _, test = load_dataset(cell.dataset, root, cell.download)
    x, y = test.x[:8].to(device), test.y[:8].to(device)
    check_model(net, x, info, cell.recipe, cell.where)
    if ibp:
        from bench.certify.ibp import margin_bounds

        try:
            margin_bounds(net, x, y, float(info.eps["linf"]))
        except UserError as e:
            raise UserError(f"{cell.recipe}: the suite's ibp evaluation cannot bound this model: {e.message}",
                            cell.where, "models") from None
    return net


def check_all(trains, evals, root: str | None, device: str = "cpu") -> None:
    """Load every external cell once before anything runs, so a bad model is one line and nothing is written."""
    ibp = {e.train.id for e in evals if e.kind == "ibp"}
    for cell in trains:
        if isinstance(cell, (ExternalCell, ModelCell)):
            load(cell, device, root, ibp=cell.id in ibp)

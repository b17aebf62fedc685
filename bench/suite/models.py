"""A suite's `models:` entries (external models, evaluated beside the recipes' models) -> ``ExternalSpec``.

Each entry names where its model comes from (exactly one of ``arch`` + ``checkpoint``, ``module``
(+ ``checkpoint``), ``torchscript``, ``robustbench``), the label its rows carry in the ``recipe`` column
(``as:``), the suite datasets it was trained for (``datasets:``, default all) and the input it takes
(``normalize:``, required but for RobustBench entries, whose models normalise inside). See README "Evaluate
your own model". Paths are relative to the suite file, whose folder is also where a `module:` builder is
imported from first (kept in the entry's paths as ``import_path``, so any process can build it). The plan turns each (entry, dataset) into an
``ExternalCell`` (bench.plan.cells); bench.execute.external builds the model from its files.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from bench.data import DATASETS, data_root
from bench.errors import UserError, shown
from bench.ids import canonical
from bench.nets import ARCHS
from bench.registry import did_you_mean
from bench.suite.cards import META, NORMALIZE, arch_args, check_arch, check_url
from bench.suite.plugins import importable
from bench.suite.yamlio import Field, Node, Seq, is_file, parse

SOURCES = ("arch", "module", "torchscript", "robustbench")
ENTRY = {
    "as": Field("label", required=True),
    "datasets": Field("list", None),
    "arch": Field("str"), "arch_args": Field("map", {}),
    "module": Field("str"), "args": Field("map", {}),
    "checkpoint": Field("str"),
    "torchscript": Field("str"),
    "robustbench": Field("str"), "threat_model": Field("str", "Linf", choices=("Linf", "L2", "corruptions")),
    "model_dir": Field("str"),
    "normalize": Field("any"),  # none, or {mean, std}; required but for robustbench entries
    "meta": Field("map"),  # where the model comes from (cards.META): shown by the site, not hashed into the cell id
}
OPTIONS = {"arch": ("arch_args", "checkpoint"), "module": ("args", "checkpoint"), "torchscript": (),
           "robustbench": ("threat_model", "model_dir")}
# why `normalize:` is required (README "Evaluate your own model"), said in the error
WHY_NORMALIZE = ("required because a model that expects normalised input but is given pixels silently loses "
                 "robust accuracy while its clean accuracy barely moves")


class Sourced:
    """An external model's settings (paths as written: they enter the cell id) and its files (the same
    paths resolved against the suite's folder), kept as canonical JSON in ``settings_json``/``paths_json``."""

    @property
    def settings(self) -> dict:
        return json.loads(self.settings_json)

    @property
    def paths(self) -> dict:
        return json.loads(self.paths_json)


@dataclass(frozen=True)
class ExternalSpec(Sourced):
    """One validated `models:` entry."""

    label: str
    source: str  # arch | module | torchscript | robustbench
    settings_json: str
    paths_json: str  # {setting key: absolute path}
    datasets: tuple[str, ...]
    where: str
    meta_json: str = "{}"  # the entry's `meta:` (cards.META), set fields only

    @property
    def meta(self) -> dict:
        return json.loads(self.meta_json)


def parse_builder(value: str, where: str, folder: str | None = None) -> object:
    """``pkg.mod:fn`` -> the callable (imported now, so a bad path fails before anything runs), looked for
    in ``folder`` (the suite's) first."""
    mod_name, sep, attr = value.partition(":")
    if not sep or not mod_name or not attr:
        raise UserError(f"expected `package.module:function`, got {shown(value)}", where, "module")
    try:
        with importable(folder):
            mod = importlib.import_module(mod_name)
    except Exception as e:  # ImportError, or the module's own error while importing
        raise UserError(f"cannot import {shown(mod_name)}: {type(e).__name__}: {shown(str(e))[1:-1]}", where,
                        "module") from None
    fn = mod
    for part in attr.split("."):
        if not hasattr(fn, part):
            names = [n for n in dir(mod) if not n.startswith("_")]
            raise UserError(f"module {mod_name!r} has no {attr!r}{did_you_mean(attr, names)}", where, "module")
        fn = getattr(fn, part)
    if not callable(fn):
        raise UserError(f"{value!r} is not callable", where, "module")
    return fn


def input_normalization(value, label: str, required: bool, where: str, field: str) -> dict | None:
    """An external model's ``normalize:``: ``none`` (None: the model takes [0,1] pixels, and its cell id is
    that of an entry without the key) or {mean, std} as lists."""
    if value is None and required:
        raise UserError(f"{label}: give `normalize:`: `none` if the model takes [0,1] pixels, or {{mean: [...], "
                        "std: [...]} if it was trained on normalised input (bench puts that normalisation in front "
                        f"of it); {WHY_NORMALIZE}", where, field)
    if value is None or value == "none":
        return None
    if not isinstance(value, dict):
        raise UserError(f"{label}: expected none or {{mean: [...], std: [...]}}, got {value!r}", where, field)
    norm = parse(value, NORMALIZE, field, where)
    if len(norm["mean"]) != len(norm["std"]):
        raise UserError(f"{label}: mean and std differ in length", where, field)
    return {k: list(v) for k, v in norm.items()}


def _entry(entry, where: str, suite_dir: Path, datasets: tuple[str, ...]) -> ExternalSpec:
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
        if key not in ("as", "datasets", "normalize", "meta", source, *OPTIONS[source]):
            raise UserError(f"{opts['as']}: {key!r} does not apply to a `{source}:` entry", entry.where(key),
                            f"models.{key}")
    if source == "arch" and opts["checkpoint"] is None:
        raise UserError(f"{opts['as']}: an `arch:` entry needs `checkpoint:` (a state_dict file)", where,
                        "models.checkpoint")
    at = entry.where
    if source == "arch":  # its arguments are checked, and its size bounded, as a recipe's (bench.suite.cards)
        ARCHS.get(opts["arch"], at("arch"), "models.arch")
        args = arch_args(opts["arch"], opts["arch_args"], at("arch_args"), "models.arch_args", f"{opts['as']}: ")
        for d in opts["datasets"] or datasets:
            if d in datasets:
                check_arch(opts["arch"], DATASETS.get(d), args, at("arch_args"), "models.arch_args")
    if source == "module":
        parse_builder(opts["module"], at("module"), suite_dir)
    if source == "robustbench" and any(DATASETS.get(d).name not in ("cifar10", "cifar100") for d in datasets):
        raise UserError(f"{opts['as']}: RobustBench's zoo covers cifar10 and cifar100; give `datasets:`",
                        at("robustbench"), "models.datasets")
    opts["normalize"] = input_normalization(opts["normalize"], opts["as"], source != "robustbench",
                                            at("normalize"), "models.normalize")
    meta = {}
    if opts["meta"] is not None:
        meta = {k: v for k, v in parse(opts["meta"], META, "models.meta", at("meta")).items() if v not in (None, "")}
        check_url(meta.get("url"), opts["meta"].where("url") if isinstance(opts["meta"], Node) else at("meta"),
                  "models.meta.url")
    paths = {"import_path": str(suite_dir.resolve())} if source == "module" else {}
    for key in ("checkpoint", "torchscript"):
        if opts[key] is not None:
            path = suite_dir / opts[key]
            if not is_file(path):
                raise UserError(f"{opts['as']}: no file {shown(str(path))}", at(key), f"models.{key}")
            path = path.resolve()
            paths[key] = str(path)
    if source == "robustbench":
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
    return ExternalSpec(opts["as"], source, canonical(settings), canonical(paths), own, where, canonical(meta))


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

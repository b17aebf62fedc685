"""Model cards (models/<name>.yaml) and the training settings they and a suite's recipe entries hold ->
one resolved training config per (recipe, dataset), checked field by field.

Every mistake is a UserError naming file:line and the field. See README "Suite format".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.data import DATASETS
from bench.errors import UserError, shown
from bench.ids import canonical
from bench.nets import ARCHS, arch_params
from bench.recipes import RECIPES
from bench.registry import did_you_mean
from bench.suite.yamlio import Field, Node, convert, is_dir, is_file, keys_known, load_yaml, parse

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
MAX_PARAMS = 2 * 10**9  # an architecture's parameters, counted on the meta device (WRN-34-10 has 46 million)
MAX_MODULES = 2_000  # and its layers (ResNet-110 has 340, WRN-34-10 88)
OPTIMIZER = {
    "name": Field("str", required=True, choices=("sgd", "adam", "adadelta")),
    "lr": Field("float", required=True, lo=0.0, open_lo=True),
    "momentum": Field("float", 0.9, lo=0.0, hi=1.0),
    "weight_decay": Field("float", 0.0, lo=0.0),
    "nesterov": Field("bool", False),
    "betas": Field("floats", (0.9, 0.999), lo=0.0, hi=1.0),
    "rho": Field("float", 0.9, lo=0.0, hi=1.0),
}
SCHEDULE = {
    "name": Field("str", "none", choices=("none", "multistep", "cosine", "cyclic")),
    "milestones": Field("floats", (), lo=0.0),
    "gamma": Field("float", 0.1, lo=0.0),
    "peak": Field("float", 0.5, lo=0.0, hi=1.0),  # cyclic only: the fraction of training at which the lr peaks
}
# The random crop of `augment: crop | crop_flip`: pad by `pad` pixels (zeros; `edge`: the border pixel
# repeated, torchvision's padding_mode='edge'; `reflect`: mirrored without repeating the border, numpy's
# and torchvision's 'reflect') and crop back at a random offset.
CROP = {
    "pad": Field("int", 4, lo=0),
    "mode": Field("str", "zeros", choices=("zeros", "edge", "reflect")),
}
# A net's input normalisation (cards' `normalize:`, and external models'): per-channel mean and std.
NORMALIZE = {"mean": Field("floats", required=True), "std": Field("floats", required=True, lo=0.0, open_lo=True)}
# Where a method comes from, shown by the leaderboard site (not training settings: no cell id hashes them): a
# card's `paper:` (the prose reference, e.g. authors, year and title), `venue:` ("ICML 2019", the year read from
# it) and `url:` (http or https only: the site links it); an external model's `meta:` adds the rest of what a
# RobustBench user looks for.
URL = re.compile(r"https?://[^\s<>\"']+")
PAPER = {"paper": Field("str", ""), "venue": Field("str", ""), "url": Field("str", "")}
META = {**PAPER, "extra_data": Field("bool"), "date": Field("str"), "architecture": Field("str")}
# Training settings: a card's `train:` block, each `datasets.<name>:` block, and a suite's recipe entry.
SETTINGS = {
    "arch": Field("str"),
    "arch_args": Field("map", {}),
    "epochs": Field("int", lo=1),
    "batch_size": Field("int", lo=1),
    "optimizer": Field("map"),
    "schedule": Field("map"),
    "augment": Field("str", choices=("none", "crop", "crop_flip")),
    "crop": Field("map", {}),  # the random crop's padding (CROP); only in the config when a card sets it
    "normalize": Field("any"),  # none, or {mean, std}: the net's input normalisation; absent: the dataset's
    "n_train": Field("int", lo=1),
    "args": Field("map", {}),
}


@dataclass(frozen=True)
class Card:
    """A model card (models/<name>.yaml): a method, its paper, its args and its training settings, parsed
    once when the card is read: ``train`` (the card's `train:` block) and ``datasets`` (each
    `datasets.<name>:` block), with their line numbers."""

    name: str
    file: str
    method: str
    paper: str
    args: dict
    train: dict
    datasets: dict  # dataset name -> parsed settings
    venue: str = ""  # e.g. "ICML 2019"
    url: str = ""  # the paper (arXiv, OpenReview, proceedings)

    def settings(self, dataset: str, overrides: dict, where: str) -> dict:
        """Training settings for a dataset: card `train:` <- card `datasets.<d>` <- overrides."""
        if dataset not in self.datasets:
            raise UserError(f"model card {self.name!r} ({self.file}) has no settings for dataset {dataset!r}; "
                            f"it has {', '.join(self.datasets) or 'none'}", where, "recipes")
        base = {k: v for k, v in self.train.items() if k != "args"}
        args = dict(self.args)
        for layer in (self.train, self.datasets[dataset], overrides):
            base.update({k: v for k, v in layer.items() if v is not None and k != "args"})
            args.update(layer.get("args") or {})
        for key in ("arch", "epochs", "batch_size", "optimizer"):
            if base.get(key) is None:
                raise UserError(f"no {key!r} for dataset {dataset!r} in card {self.name!r}", where, key)
        base["args"] = args
        return base


def load_card(name: str, search: list[Path], where: str, field: str) -> Card:
    for folder in search:
        path = folder / f"{name}.yaml"
        if is_file(path):
            break
    else:
        known = sorted({p.stem for folder in search if is_dir(folder) for p in folder.glob("*.yaml")})
        raise UserError(f"no model card {shown(name)} in {', '.join(map(str, search))}{did_you_mean(name, known)}",
                        where, field)
    node = load_yaml(path)
    keys_known(node, ("method", *PAPER, "args", "train", "datasets"))
    if "method" not in node:
        raise UserError("missing required key", node.where(), "method")
    RECIPES.get(node["method"], node.where("method"), "method")
    for key in ("args", "train", "datasets"):
        if key in node and not isinstance(node[key], dict):
            raise UserError("expected a mapping", node.where(key), key)
    per = {}
    for ds, block in (node.get("datasets") or {}).items():
        DATASETS.get(ds, node["datasets"].where(ds), f"datasets.{ds}")
        per[ds] = parse(block, SETTINGS, f"datasets.{ds}")
    ref = {k: convert(node[k], spec, node.where(k), k) if k in node else "" for k, spec in PAPER.items()}
    check_url(ref["url"], node.where("url"), "url")
    return Card(name, str(path), node["method"], ref["paper"], dict(node.get("args") or {}),
                parse(node.get("train", {}), SETTINGS, "train"), per, ref["venue"], ref["url"])


def check_url(url: str | None, where: str, field: str) -> None:
    """A paper's address: http or https (the site links it, so never `javascript:` or a local file)."""
    if url and not URL.fullmatch(url):
        raise UserError(f"expected an http:// or https:// address, got {url!r}", where, field)


def _like(default) -> Field:
    """The Field an architecture argument's default implies: ints are sizes (>= 1), floats finite."""
    if isinstance(default, bool):
        return Field("bool")
    if isinstance(default, int):
        return Field("int", lo=1)
    return Field({float: "float", str: "str"}.get(type(default), "any"))


def arch_args(arch: str, given: dict, where: str, field: str, label: str = "") -> dict:
    """All the arguments of a registered architecture: ``given`` (names it takes, of its defaults' kinds), then
    its defaults."""
    known = arch_params(arch)
    for k in given:
        if k not in known:
            raise UserError(f"{label}architecture {arch!r} takes no argument {k!r}{did_you_mean(k, known)}",
                            where, field)
    return {**known, **{k: convert(v, _like(known[k]), where, f"{field}.{k}") for k, v in given.items()}}


def resolve_training(card: Card, overrides: dict, dataset: str, where: str) -> dict:
    """The full training config of a card (with a suite's ``overrides``, the entry at ``where``) on a dataset:
    settings with their defaults (``augment``: the dataset's), arch args, and the method's args."""
    info = DATASETS.get(dataset)
    s = card.settings(dataset, overrides, where)
    ARCHS.get(s["arch"], where, "arch")
    s["arch_args"] = arch_args(s["arch"], s["arch_args"], where, "arch_args")
    check_arch(s["arch"], info, s["arch_args"], where)
    s["optimizer"] = parse(s["optimizer"], OPTIMIZER, "optimizer", where)
    s["schedule"] = parse(s.get("schedule") or {}, SCHEDULE, "schedule", where)
    if s["schedule"]["name"] != "cyclic":  # only the cyclic schedule's config (and id) holds its peak
        s["schedule"].pop("peak")
    s["augment"] = s.get("augment") or info.augment
    crop = s.pop("crop", None)
    if crop:  # absent otherwise, so the ids of cells that keep the default crop stay as they were
        s["crop"] = parse(crop, CROP, "crop", where)
        side = min(info.shape[1:])
        if s["crop"]["mode"] == "reflect" and s["crop"]["pad"] >= side:
            raise UserError(f"reflect padding must be smaller than the {side}-pixel image, got {s['crop']['pad']}",
                            where, "crop.pad")
    norm = s.pop("normalize", None)
    if norm is not None:  # likewise
        s["normalize"] = normalization(norm, info.shape[0], where)
    recipe = RECIPES.get(card.method)
    s["args"] = recipe.resolve(s["args"], info, "args", where)
    return s


class _TooLarge(Exception):
    pass


_CHECKED: set = set()  # (arch, dataset, arguments) that check_arch built


def check_arch(arch: str, info, args: dict, where: str, field: str = "arch_args") -> None:
    """Build the net on the meta device (no memory, no init cost), so an argument the architecture refuses
    (a WideResNet depth that is not 6n+4, an unknown init) is one line here, not a traceback mid-run. The build
    stops as soon as the net has more than MAX_PARAMS parameters or MAX_MODULES layers (a WideResNet of depth
    10,000 is refused within its first blocks, not built for minutes)."""
    import torch

    from bench.nets import build

    key = (arch, info.name, canonical(args))
    if key in _CHECKED:
        return
    count = {"parameters": 0, "layers": 0}

    def add(what: str, n: int, limit: int):
        count[what] += n
        if count[what] > limit:
            raise _TooLarge(f"{arch} with {', '.join(f'{k} {v}' for k, v in args.items()) or 'its defaults'}: more "
                            f"than {limit:,} {what} (bench's limit)")

    hooks = torch.nn.modules.module
    handles = [hooks.register_module_parameter_registration_hook(
                   lambda _m, _n, p: add("parameters", p.numel() if p is not None else 0, MAX_PARAMS)),
               hooks.register_module_module_registration_hook(lambda _m, _n, _s: add("layers", 1, MAX_MODULES))]
    try:
        with torch.device("meta"):
            build(arch, info, **args)
    except (_TooLarge, ValueError) as e:
        raise UserError(str(e), where, field) from None
    except Exception:  # noqa: BLE001 - e.g. a plugin net that loads weights: it is checked when it is built
        return
    finally:
        for handle in handles:
            handle.remove()
    _CHECKED.add(key)


def normalization(value, channels: int, where: str) -> dict:
    """A card's ``normalize:`` as per-channel lists: ``none`` (raw [0,1] pixels: mean 0, std 1), or
    {mean, std} with one value or one per channel."""
    if value == "none":
        return {"mean": [0.0] * channels, "std": [1.0] * channels}
    if not isinstance(value, dict):
        raise UserError(f"expected none or {{mean: ..., std: ...}}, got {value!r}", where, "normalize")
    norm = parse(value, NORMALIZE, "normalize", where)
    out = {}
    for key in ("mean", "std"):
        values = [float(v) for v in norm[key]]
        if len(values) not in (1, channels):
            plural = "s" if channels > 1 else ""
            raise UserError(f"{len(values)} values for {channels} channel{plural}", where, f"normalize.{key}")
        out[key] = values * channels if len(values) == 1 else values
    return out

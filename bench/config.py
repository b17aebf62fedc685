"""Suite files and model cards -> validated, frozen config objects.

Every mistake is a UserError naming file:line and the field. See README "Suite format".
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS
from bench.external import NORMALIZE
from bench.nets import ARCHS, arch_params
from bench.recipes import RECIPES
from bench.registry import did_you_mean
from bench.yamlio import MAX_INT, Field, Node, Seq, convert, keys_known, load_yaml, parse, to_float

REPO_MODELS = Path(__file__).resolve().parents[1] / "models"

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
# Training settings: a card's `train:` block, each `datasets.<name>:` block, and a suite's recipe entry.
SETTINGS = {
    "arch": Field("str"),
    "arch_args": Field("map", {}),
    "epochs": Field("int", lo=0),
    "batch_size": Field("int", lo=1),
    "optimizer": Field("map"),
    "schedule": Field("map"),
    "augment": Field("str", choices=("none", "crop", "crop_flip")),
    "crop": Field("map", {}),  # the random crop's padding (CROP); only in the config when a card sets it
    "normalize": Field("any"),  # none, or {mean, std}: the net's input normalisation; absent: the dataset's
    "n_train": Field("int", lo=1),
    "args": Field("map", {}),
}


def canonical(obj) -> str:
    """Canonical JSON (sorted keys, no spaces) used for hashing and storing params."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(o):
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-able: {o!r}")


@dataclass(frozen=True)
class Card:
    """A model card (models/<name>.yaml): a method, its paper, its args, per-dataset training settings."""

    name: str
    file: str
    method: str
    paper: str
    node: Node  # the validated YAML, kept for per-dataset resolution with line numbers

    def settings(self, dataset: str, overrides: dict, where: str) -> dict:
        """Resolved training settings for a dataset: card `train:` <- card `datasets.<d>` <- overrides."""
        base = dict(parse(self.node.get("train", {}), SETTINGS, "train"))
        per = self.node.get("datasets", {})
        if dataset not in per:
            raise UserError(f"model card {self.name!r} ({self.file}) has no settings for dataset {dataset!r}; "
                            f"it has {', '.join(per) or 'none'}", where, "recipes")
        layers = [parse(per[dataset], SETTINGS, f"datasets.{dataset}"), overrides]
        args = dict(self.node.get("args", {}) or {})
        for layer in layers:
            for k, v in layer.items():
                if v is None or (k == "args"):
                    continue
                base[k] = v
            args.update(layer.get("args") or {})
        for key in ("arch", "epochs", "batch_size", "optimizer"):
            if base.get(key) is None:
                raise UserError(f"no {key!r} for dataset {dataset!r} in card {self.name!r}", where, key)
        base["args"] = args
        return base


def load_card(name: str, search: list[Path], where: str, field: str) -> Card:
    for folder in search:
        path = folder / f"{name}.yaml"
        if path.exists():
            break
    else:
        known = sorted({p.stem for folder in search if folder.is_dir() for p in folder.glob("*.yaml")})
        raise UserError(f"no model card {name!r} in {', '.join(map(str, search))}{did_you_mean(name, known)}",
                        where, field)
    node = load_yaml(path)
    keys_known(node, ("method", "paper", "args", "train", "datasets"))
    if "method" not in node:
        raise UserError("missing required key", node.where(), "method")
    RECIPES.get(node["method"], node.where("method"), "method")
    for key in ("args", "train", "datasets"):
        if key in node and not isinstance(node[key], dict):
            raise UserError("expected a mapping", node.where(key), key)
    parse(node.get("train", {}), SETTINGS, "train")
    for ds, block in (node.get("datasets") or {}).items():
        DATASETS.get(ds, node["datasets"].where(ds), f"datasets.{ds}")
        parse(block, SETTINGS, f"datasets.{ds}")
    return Card(name, str(path), node["method"], str(node.get("paper", "")), node)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    n_test: int
    download: bool
    n_train: int | None


@dataclass(frozen=True)
class RecipeSpec:
    label: str  # the name rows and tables show
    card: Card
    overrides_json: str  # training-setting overrides from the suite
    where: str

    @property
    def overrides(self) -> dict:
        return json.loads(self.overrides_json)


@dataclass(frozen=True)
class EvalSpec:
    kind: str
    name: str  # the evaluation's name in rows (before any sweep suffix) and in tables
    params_json: str
    where: str

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)


@dataclass(frozen=True)
class Suite:
    name: str
    file: str
    description: str
    datasets: tuple[DatasetSpec, ...]
    recipes: tuple[RecipeSpec, ...]
    seeds: tuple[int, ...]
    sample_seed: int
    batch_size: int
    evaluations_raw: tuple  # (kind, main, opts, label, where) per evaluation, resolved per dataset
    resources: tuple = ()  # (key, value) pairs of the `resources:` block, for the Ray executor
    models: tuple = ()  # bench.external.ExternalSpec per `models:` entry
    plugins: tuple = ()  # modules named by `plugins:` (imported by load_suite)

    def evaluations(self, dataset: str) -> tuple[EvalSpec, ...]:
        """Evaluations resolved against a dataset's budgets."""
        info = DATASETS.get(dataset)
        out, seen = [], {}
        for kind, main, opts, label, where in self.evaluations_raw:
            cls = EVALS.get(kind, where, "evaluations")
            name, params = cls.resolve(main, opts, info, where)
            name = display_name(name, label)
            if name in seen:
                raise UserError(f"two evaluations named {name!r} (the other at {seen[name]}); "
                                "give one a different `as:`", where, "as")
            seen[name] = where
            out.append(EvalSpec(kind, name, canonical(params), where))
        return tuple(out)


def display_name(default: str, label: str | None) -> str:
    """The evaluation's name: its `as:` label, kept under the kind's prefix (`as: PGD-20` on an attack is
    `attack:PGD-20`), so reports still know what kind of evaluation a renamed one is."""
    if not label:
        return default
    prefix = default.split(":")[0] + ":" if ":" in default else ""
    return label if label.startswith(prefix) else prefix + label


SUITE = {
    "name": Field("str"),
    "description": Field("str", ""),
    "datasets": Field("any", required=True),
    "recipes": Field("list"),
    "seeds": Field("list", [0]),
    "n_test": Field("int", 500, lo=1),
    "sample_seed": Field("int", 0, lo=0, hi=MAX_INT),
    "batch_size": Field("int", 256, lo=1),
    "evaluations": Field("list", required=True),
    "models": Field("any"),  # external models (bench.external)
    "cards": Field("str"),  # a folder of model cards
    "plugins": Field("list", []),  # modules whose registrations extend bench's registries (bench.plugins)
    "resources": Field("map", {}),
}
SEED = Field("int", lo=0, hi=MAX_INT)
# A suite name is a folder under results/: a plain label, no path separators, no leading dot.
NAME = re.compile(r"[^/\\\x00-\x1f.][^/\\\x00-\x1f]*")
# An evaluation's `as:` label: '@' and '[' start the suffixes sweeps add (attack:X@0.1, [kappa=..]).
RESERVED = "@["
# Per-task resources for `--executor ray` (the CLI's --gpus-per-task / --cpus-per-task win).
RESOURCES = {"gpus_per_task": Field("float", None, lo=0.0), "cpus_per_task": Field("float", None, lo=0.0, open_lo=True)}
DATASET_KEYS = {"n_test": Field("int", None, lo=1), "download": Field("bool", False), "n_train": Field("int", None, lo=1)}


def _datasets(node: Node, value, n_test: int) -> tuple[DatasetSpec, ...]:
    items = []
    if isinstance(value, Seq):
        for i, entry in enumerate(value):
            if not isinstance(entry, str):
                raise UserError("expected a dataset name", value.where(i), "datasets")
            items.append((entry, {}, value.where(i)))
    elif isinstance(value, Node):
        for name, block in value.items():
            items.append((name, block or {}, value.where(name)))
    else:
        raise UserError("expected a list of dataset names or a mapping", node.where("datasets"), "datasets")
    if not items:
        raise UserError("no datasets", node.where("datasets"), "datasets")
    out = []
    for name, block, where in items:
        DATASETS.get(name, where, "datasets")
        opts = parse(block, DATASET_KEYS, f"datasets.{name}", where)
        out.append(DatasetSpec(name, opts["n_test"] or n_test, opts["download"], opts["n_train"]))
    return tuple(out)


def _recipes(node: Node, value: Seq, search: list[Path], datasets) -> tuple[RecipeSpec, ...]:
    out, labels = [], {}
    if not value:
        raise UserError("no recipes", node.where("recipes"), "recipes")
    for i, entry in enumerate(value):
        where = value.where(i)
        if isinstance(entry, str):
            card_name, label, overrides = entry, entry, {}
        elif isinstance(entry, Node):
            keys_known(entry, ["card", "as", *SETTINGS], "recipes")
            if "card" not in entry:
                raise UserError("missing required key", entry.where(), "recipes.card")
            card_name = convert(entry["card"], Field("str"), entry.where("card"), "recipes.card")
            label = _label(entry, card_name)
            overrides = parse({k: v for k, v in entry.items() if k not in ("card", "as")}, SETTINGS, "recipes", where)
            overrides = {k: v for k, v in overrides.items() if v not in (None, {})}
        else:
            raise UserError("expected a card name or a mapping with `card:`", where, "recipes")
        if label in labels:
            raise UserError(f"recipe {label!r} listed twice (also at {labels[label]}); give one an `as:`", where, "recipes")
        labels[label] = where
        card = load_card(card_name, search, where, "recipes")
        spec = RecipeSpec(label, card, canonical(overrides), where)
        for ds in datasets:  # resolve now, so a mistake surfaces before anything runs
            resolve_training(spec, ds.name)
        out.append(spec)
    return tuple(out)


def _like(default) -> Field:
    """The Field an architecture argument's default implies: ints are sizes (>= 1), floats finite."""
    if isinstance(default, bool):
        return Field("bool")
    if isinstance(default, int):
        return Field("int", lo=1)
    return Field({float: "float", str: "str"}.get(type(default), "any"))


def _label(entry: Node, default: str | None) -> str | None:
    """An entry's `as:` label: a non-empty string."""
    if "as" not in entry:
        return default
    label = convert(entry["as"], Field("str"), entry.where("as"), "as")
    if not label.strip():
        raise UserError("expected a non-empty name", entry.where("as"), "as")
    return label


def distinct(value, field: str) -> None:
    """A list of values (a sweep, seeds) holds each value once; numbers compare as the names they make
    (``0.1`` and ``1/10``, or numbers equal to 6 digits, both name ``@0.1``)."""
    if not isinstance(value, Seq):
        return
    seen: dict = {}
    for i, v in enumerate(value):
        try:
            key = f"{to_float(v, value.where(i), field):g}"
        except UserError:  # not a number: compare as it is
            key = repr(v)
        if key in seen:
            raise UserError(f"{v!r} is listed twice (also at {seen[key]})", value.where(i), field)
        seen[key] = value.where(i)


def resolve_training(spec: RecipeSpec, dataset: str) -> dict:
    """The full training config of a recipe on a dataset: settings, arch args, and the method's args."""
    info = DATASETS.get(dataset)
    s = spec.card.settings(dataset, spec.overrides, spec.where)
    ARCHS.get(s["arch"], spec.where, "arch")
    known = arch_params(s["arch"])
    for k in s["arch_args"]:
        if k not in known:
            raise UserError(f"architecture {s['arch']!r} takes no argument {k!r}{did_you_mean(k, known)}",
                            spec.where, "arch_args")
    s["arch_args"] = {**known, **{k: convert(v, _like(known[k]), spec.where, f"arch_args.{k}")
                                  for k, v in s["arch_args"].items()}}
    check_arch(s["arch"], info, s["arch_args"], spec.where)
    s["optimizer"] = parse(s["optimizer"], OPTIMIZER, "optimizer", spec.where)
    s["schedule"] = parse(s.get("schedule") or {}, SCHEDULE, "schedule", spec.where)
    if s["schedule"]["name"] != "cyclic":  # only the cyclic schedule's config (and id) holds its peak
        s["schedule"].pop("peak")
    s["augment"] = s.get("augment") or info.augment
    crop = s.pop("crop", None)
    if crop:  # absent otherwise, so the ids of cells that keep the default crop stay as they were
        s["crop"] = parse(crop, CROP, "crop", spec.where)
        side = min(info.shape[1:])
        if s["crop"]["mode"] == "reflect" and s["crop"]["pad"] >= side:
            raise UserError(f"reflect padding must be smaller than the {side}-pixel image, got {s['crop']['pad']}",
                            spec.where, "crop.pad")
    norm = s.pop("normalize", None)
    if norm is not None:  # likewise
        s["normalize"] = normalization(norm, info.shape[0], spec.where)
    recipe = RECIPES.get(spec.card.method)
    s["args"] = recipe.resolve(s["args"], info, "args", spec.where)
    return s


def check_arch(arch: str, info, args: dict, where: str) -> None:
    """Build the net on the meta device (no memory, no init cost), so an argument the architecture refuses
    (a WideResNet depth that is not 6n+4, an unknown init) is one line here, not a traceback mid-run."""
    import torch

    from bench.nets import build

    try:
        with torch.device("meta"):
            build(arch, info, **args)
    except ValueError as e:
        raise UserError(str(e), where, "arch_args") from None
    except Exception:  # noqa: BLE001 - e.g. a plugin net that loads weights: it is checked when it is built
        pass


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


def load_suite(path: str | Path, text: str | None = None) -> Suite:
    node = load_yaml(path, text)
    opts = parse(node, SUITE)
    from bench import external, plugins

    plugins.load(opts["plugins"], node.where("plugins"))
    suite_dir = Path(path).resolve().parent
    search = [Path(opts["cards"]) if opts["cards"] and Path(opts["cards"]).is_absolute()
              else suite_dir / (opts["cards"] or "../models")]
    if not opts["cards"]:
        search.append(REPO_MODELS)
    datasets = _datasets(node, node["datasets"], opts["n_test"])
    at = node["seeds"].where if "seeds" in node else (lambda i: node.where())
    seeds = [convert(s, SEED, at(i), "seeds") for i, s in enumerate(opts["seeds"])]
    if not seeds:
        raise UserError("no seeds", node.where("seeds"), "seeds")
    distinct(opts["seeds"], "seeds")
    if "recipes" not in node and "models" not in node:
        raise UserError("a suite needs `recipes:`, `models:` or both", node.where(), "recipes")
    recipes = _recipes(node, node["recipes"], search, datasets) if "recipes" in node else ()
    models = external.parse_models(node, suite_dir, tuple(d.name for d in datasets), {r.label: r.where for r in recipes})
    evals = []
    value = node["evaluations"]
    if not value:
        raise UserError("no evaluations", node.where("evaluations"), "evaluations")
    for i, entry in enumerate(value):
        where = value.where(i)
        if isinstance(entry, str):
            kind, main, rest, label = entry, None, {}, None
        elif isinstance(entry, Node) and entry:
            kind = next(iter(entry))
            main = entry[kind]
            label = _label(entry, None)
            if label is not None and any(c in label for c in RESERVED):
                raise UserError(f"{label!r}: '@' and '[' are reserved for the names sweeps make (like "
                                "attack:FGSM@0.05)", entry.where("as"), "as")
            rest = Node({k: v for k, v in entry.items() if k not in (kind, "as")})
            rest.file, rest.line, rest.key_lines = entry.file, entry.line, entry.key_lines
        else:
            raise UserError("expected an evaluation name or a mapping like `attack: PGD`", where, "evaluations")
        cls = EVALS.get(kind, where, "evaluations")
        if cls.main is None and main is not None:
            raise UserError(f"{kind} takes no value (got {main!r})", where, kind)
        if cls.main is not None and main is None:
            raise UserError(f"{kind} needs a value, like `{kind}: ...`", where, kind)
        for key, items in rest.items():
            distinct(items, key)
        evals.append((kind, main, rest, label, where))
    name = opts["name"] if opts["name"] is not None else Path(path).stem
    if not NAME.fullmatch(name) or ".." in name:
        raise UserError(f"a suite name is a plain label (no '/', '\\', '..' or leading '.'), got {name!r}",
                        node.where("name"), "name")
    suite = Suite(
        name=name,
        file=str(path),
        description=opts["description"],
        datasets=datasets,
        recipes=recipes,
        seeds=tuple(seeds),
        sample_seed=opts["sample_seed"],
        batch_size=opts["batch_size"],
        evaluations_raw=tuple(evals),
        resources=tuple(parse(node.get("resources") or {}, RESOURCES, "resources", node.where("resources")).items()),
        models=models,
        plugins=tuple(opts["plugins"]),
    )
    for ds in datasets:  # resolve every evaluation now: mistakes surface before anything runs
        suite.evaluations(ds.name)
    return suite

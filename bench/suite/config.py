"""Suite files -> a validated, frozen ``Suite`` (model cards and training settings: bench.suite.cards;
external models: bench.suite.models).

Everything is resolved here, once, against every dataset of the suite, before anything runs: each
recipe's training config per dataset (``RecipeSpec.training``) and each evaluation's name and parameters
per dataset (``Suite.evaluations``). The plan (bench.plan.grid) only reads them. Every mistake is a
UserError naming file:line and the field. See README "Suite format".
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from bench.data import DATASETS
from bench.errors import UserError, shown
from bench.evals import EVALS
from bench.ids import canonical
from bench.suite import models, plugins
from bench.suite.cards import REPO_MODELS, SETTINGS, Card, load_card, resolve_training
from bench.suite.yamlio import MAX_INT, Field, Node, Seq, convert, keys_known, load_yaml, parse, to_float


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
    trainings_json: str  # {dataset: {"config": resolved training config, "n_train": int or null}}

    @property
    def overrides(self) -> dict:
        return json.loads(self.overrides_json)

    def training(self, dataset: str) -> tuple[dict, int | None]:
        """The resolved training config on a dataset and the size of its training subset (None: all)."""
        t = json.loads(self.trainings_json)[dataset]
        return t["config"], t["n_train"]


@dataclass(frozen=True)
class EvalSpec:
    kind: str
    name: str  # the evaluation's name in rows (before any sweep suffix) and in tables
    params_json: str
    where: str
    chunk: int | None = None  # the entry's `chunk:` (inputs per chunk; 0: one chunk); None: the suite's

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
    resolved_evaluations: tuple  # (dataset, (EvalSpec, ...)) per dataset
    resources: tuple = ()  # (key, value) pairs of the `resources:` block, for the Ray executor
    models: tuple = ()  # bench.suite.models.ExternalSpec per `models:` entry
    plugins: tuple = ()  # modules named by `plugins:` (imported by load_suite)
    chunk: int | None = None  # `chunk:` inputs per chunk of an eval cell (0: one chunk); None: bench's default
    threads: int | None = None  # torch's intra- and inter-op threads (`threads:`; bench.execute.settings)
    deterministic: bool = False  # deterministic algorithms and cuDNN settings (`deterministic:`)

    def evaluations(self, dataset: str) -> tuple[EvalSpec, ...]:
        """The evaluations resolved against a dataset's budgets."""
        return dict(self.resolved_evaluations)[dataset]


def resolve_evaluations(raw: list, dataset: str) -> tuple[EvalSpec, ...]:
    """Each (kind, main, opts, label, where) of the suite's list resolved against one dataset."""
    info = DATASETS.get(dataset)
    out, seen = [], {}
    for kind, main, opts, label, where, chunk in raw:
        cls = EVALS.get(kind, where, "evaluations")
        name, params = cls.resolve(main, opts, info, where)
        name = display_name(name, label)
        if name in seen:
            raise UserError(f"two evaluations named {name!r} (the other at {seen[name]}); "
                            "give one a different `as:`", where, "as")
        seen[name] = where
        out.append(EvalSpec(kind, name, canonical(params), where, chunk))
    return tuple(out)


def display_name(default: str, label: str | None) -> str:
    """The evaluation's name: its `as:` label, kept under the kind's prefix (`as: PGD-20` on an attack is
    `attack:PGD-20`), so reports still know what kind of evaluation a renamed one is."""
    if not label:
        return default
    prefix = default.split(":")[0] + ":" if ":" in default else ""
    return label if label.startswith(prefix) else prefix + label


SUITE = {
    "name": Field("label"),
    "description": Field("str", ""),
    "datasets": Field("any", required=True),
    "recipes": Field("list"),
    "seeds": Field("list", [0]),
    "n_test": Field("int", 500, lo=1),
    "sample_seed": Field("int", 0, lo=0, hi=MAX_INT),
    "batch_size": Field("int", 256, lo=1),
    "evaluations": Field("list", required=True),
    "models": Field("any"),  # external models (bench.suite.models)
    "cards": Field("str"),  # a folder of model cards
    "plugins": Field("list", []),  # modules whose registrations extend bench's registries (bench.suite.plugins)
    "resources": Field("map", {}),
    "chunk": Field("int", None, lo=0),  # inputs per chunk of an eval cell (bench.plan.cells.default_chunk)
    # execution settings, not part of any cell id: the numbers a suite's reference holds need them
    "threads": Field("int", None, lo=1, hi=1024),
    "deterministic": Field("bool", False),
}
SEED = Field("int", lo=0, hi=MAX_INT)
MAX_SEEDS = 10_000
MAX_ENTRIES = 500  # entries of `recipes:`, of `models:` and of `evaluations:` (paper suites list a dozen)
MAX_CELLS = 100_000  # model cells and eval cells of one suite's plan
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
    out, seen = [], {}
    for name, block, where in items:
        canon = DATASETS.get(name, where, "datasets").name
        if canon in seen:
            raise UserError(f"{shown(name)} is listed twice (also at {seen[canon]})", where, "datasets")
        seen[canon] = where
        opts = parse(block, DATASET_KEYS, f"datasets.{name}", where)
        out.append(DatasetSpec(name, opts["n_test"] or n_test, opts["download"], opts["n_train"]))
    return tuple(out)


def _recipes(node: Node, value: Seq, search: list[Path], datasets) -> tuple[RecipeSpec, ...]:
    out, labels, cards = [], {}, {}
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
        if card_name not in cards:  # each card read once
            cards[card_name] = load_card(card_name, search, where, "recipes")
        card = cards[card_name]
        trainings = {}
        for ds in datasets:
            cfg = resolve_training(card, overrides, ds.name, where)
            trainings[ds.name] = {"config": cfg, "n_train": cfg.pop("n_train", None) or ds.n_train}
        out.append(RecipeSpec(label, card, canonical(overrides), where, canonical(trainings)))
    return tuple(out)


def _label(entry: Node, default: str | None) -> str | None:
    """An entry's `as:` label: a non-empty string that shows on one line (bench.suite.yamlio.label)."""
    if "as" not in entry:
        return default
    return convert(entry["as"], Field("label"), entry.where("as"), "as")


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


def _plugins(node: Node) -> list[str]:
    """The suite's `plugins:`: module names (``pkg.module``), each once."""
    value = node.get("plugins") or []
    for i, module in enumerate(value):
        where = value.where(i) if isinstance(value, Seq) else node.where("plugins")
        if not isinstance(module, str) or not plugins.MODULE.fullmatch(module):
            raise UserError(f"expected a module name like mypkg.bench_plugins, got {shown(module)}", where, "plugins")
    distinct(value, "plugins")
    return list(value)


def _evaluations(node: Node) -> list[tuple]:
    """The suite's `evaluations:` list as (kind, main value, options, `as:` label, where, `chunk:`), checked
    against each kind's declaration; resolved per dataset by ``resolve_evaluations``."""
    evals = []
    value = node["evaluations"]
    if not value:
        raise UserError("no evaluations", node.where("evaluations"), "evaluations")
    for i, entry in enumerate(value):
        where = value.where(i)
        chunk = None
        if isinstance(entry, str):
            kind, main, rest, label = entry, None, {}, None
        elif isinstance(entry, Node) and entry:
            kind = next(iter(entry))
            main = entry[kind]
            label = _label(entry, None)
            if label is not None and any(c in label for c in RESERVED):
                raise UserError(f"{label!r}: '@' and '[' are reserved for the names sweeps make (like "
                                "attack:FGSM@0.05)", entry.where("as"), "as")
            if "chunk" in entry:
                chunk = convert(entry["chunk"], SUITE["chunk"], entry.where("chunk"), "chunk")
            rest = Node({k: v for k, v in entry.items() if k not in (kind, "as", "chunk")})
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
        evals.append((kind, main, rest, label, where, chunk))
    return evals


def load_suite(path: str | Path, text: str | None = None) -> Suite:
    """A suite file (or ``text`` under that name) -> a validated ``Suite``; its folder is on the import path
    meanwhile (bench.suite.plugins.importable)."""
    node = load_yaml(path, text)
    opts = parse(node, SUITE)
    for key, most in (("recipes", MAX_ENTRIES), ("models", MAX_ENTRIES), ("evaluations", MAX_ENTRIES),
                      ("seeds", MAX_SEEDS)):
        if isinstance(node.get(key), list) and len(node[key]) > most:
            raise UserError(f"{len(node[key]):,} entries, more than {most:,}", node.where(key), key)
    modules = _plugins(node)
    suite_dir = Path(path).resolve().parent
    with plugins.importable(suite_dir):  # plugins and `module:` builders beside the suite
        plugins.load(modules, node.where("plugins"))
        return _suite(path, node, opts, suite_dir, modules)


def _suite(path, node: Node, opts: dict, suite_dir: Path, modules: list) -> Suite:
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
    external = models.parse_models(node, suite_dir, tuple(d.name for d in datasets), {r.label: r.where for r in recipes})
    evals = _evaluations(node)
    name = opts["name"] if opts["name"] is not None else convert(Path(path).stem, Field("label"), node.where(), "name")
    if not NAME.fullmatch(name) or ".." in name:
        raise UserError(f"a suite name is a plain label (no '/', '\\', '..' or leading '.'), got {name!r}",
                        node.where("name"), "name")
    resolved = tuple((ds.name, resolve_evaluations(evals, ds.name)) for ds in datasets)
    _bounded(node, datasets, recipes, len(seeds), external, dict(resolved))
    return Suite(
        name=name,
        file=str(path),
        description=opts["description"],
        datasets=datasets,
        recipes=recipes,
        seeds=tuple(seeds),
        sample_seed=opts["sample_seed"],
        batch_size=opts["batch_size"],
        resolved_evaluations=resolved,
        resources=tuple(parse(node.get("resources") or {}, RESOURCES, "resources", node.where("resources")).items()),
        models=external,
        plugins=tuple(modules),
        threads=opts["threads"],
        deterministic=opts["deterministic"],
        chunk=opts["chunk"],
    )


def _bounded(node: Node, datasets, recipes, seeds: int, external, evaluations: dict) -> None:
    """At most MAX_CELLS cells in the plan (bench.plan.grid): per dataset, each model cell and each of its
    evaluations."""
    cells = 0
    for ds in datasets:
        trained = len(recipes) * seeds + sum(ds.name in m.datasets for m in external)
        cells += trained * (1 + len(evaluations[ds.name]))
    if cells > MAX_CELLS:
        raise UserError(f"the plan has {cells:,} cells, more than {MAX_CELLS:,} (datasets x (recipes x seeds + "
                        "models) x (1 + evaluations)); split the suite", node.where(), "suite")

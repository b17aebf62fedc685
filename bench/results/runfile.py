"""OUT/run.json: what a results folder's last run planned. One writer (``record`` + ``write``) for `bench run`
and ``bench.evaluate``, one validating reader (``read``) for the results, the report, the site and the
merge. Torch-free.

`bench run` writes it before any cell runs, so a report knows the current cells, done or not, and again at
the end with the run's seconds and counts. ``bench.evaluate(out=DIR)`` merges each call's cells into the
folder's file (``merge``): a model re-evaluated under the same label, dataset and evaluation replaces its
earlier cells. The file is data: reading it runs no code and never leaves the folder, since every cell id
must be ``ID_LENGTH`` hex digits (a file name inside OUT/samples or OUT/models), and a file that does not
hold the schema below is one line naming the file and the field.

    schema        1
    suite, suite_file, description
    datasets      [{name, n_test, download, n_train}]
    recipes       {label: {card, method, paper, venue, url}} (older files: no venue, url)
    models        {label: the external model's settings, and ``meta``: its `meta:` (paper, venue, url,
                  extra_data, date, architecture), when the entry has one}
    plugins       [module]: the suite's `plugins:` (`bench report` imports them for their metric declarations)
    train_cells   [{id, dataset, recipe, method, seed, config, versions}]
    eval_cells    [{id, train_cell, recipe, dataset, evaluation, kind, params, versions}]
    order         {datasets, recipes, evaluations}: the suite's order, which tables keep
    device, executor, versions, git_commit; after the run: seconds, counts
    threads, interop_threads, deterministic: the execution settings in effect (bench.execute.settings; optional)
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from bench.errors import UserError
from bench.ids import ID_LENGTH
from bench.results import atomic, locks
from bench.results.provenance import git_commit, versions
from bench.suite.plugins import MODULE

SCHEMA = 1
SETTINGS = {"threads": int, "interop_threads": int, "deterministic": bool}  # optional; bench check compares them
NAME = "run.json"
CELL_ID = re.compile(f"[0-9a-f]{{{ID_LENGTH}}}")


def record(suite, trains, evals, device: str, executor: str = "local", settings: dict | None = None) -> dict:
    """run.json of a suite's plan (``trains``: model cells, ``evals``: eval cells, bench.plan.cells) and the
    execution settings in effect (``settings``: threads, interop_threads, deterministic; bench.execute.settings)."""
    return {
        "schema": SCHEMA, "suite": suite.name, "suite_file": str(suite.file), "description": suite.description,
        "datasets": [vars(d) for d in suite.datasets],
        "recipes": {r.label: {"card": r.card.name, "method": r.card.method, "paper": r.card.paper,
                              "venue": r.card.venue, "url": r.card.url} for r in suite.recipes},
        "models": {m.label: {**m.settings, **({"meta": m.meta} if m.meta else {})} for m in suite.models},
        "plugins": list(suite.plugins),
        "train_cells": [c.record() for c in trains],
        "eval_cells": [c.record() for c in evals],
        "order": {"datasets": [d.name for d in suite.datasets],
                  "recipes": [r.label for r in suite.recipes] + [m.label for m in suite.models],
                  "evaluations": list(dict.fromkeys(c.name for c in evals))},
        "device": device, "executor": executor, "versions": versions(), "git_commit": git_commit(),
        **{k: v for k, v in (settings or {}).items() if k in SETTINGS},
    }


def merge(old: dict | None, new: dict) -> dict:
    """``new`` (one ``bench.evaluate`` call's record) added to a folder's earlier run.json: the calls' datasets,
    models and evaluations accumulate; this call's cells replace an earlier call's for the same model label,
    dataset and evaluation, so a re-evaluated model is not read twice."""
    if old is None:
        return new
    out = dict(old)
    seen = {d["name"] for d in out["datasets"]}
    out["datasets"] = out["datasets"] + [d for d in new["datasets"] if d["name"] not in seen]
    out["models"] = {**out.get("models", {}), **new["models"]}
    out["plugins"] = list(dict.fromkeys([*out.get("plugins", []), *new["plugins"]]))
    out["order"] = {k: list(dict.fromkeys([*out["order"].get(k, []), *new["order"][k]])) for k in new["order"]}
    mine = {(c["recipe"], c["dataset"], c["evaluation"]) for c in new["eval_cells"]}
    out["eval_cells"] = [c for c in out["eval_cells"] if (c["recipe"], c["dataset"], c["evaluation"]) not in mine] \
        + new["eval_cells"]
    ids = {c["id"] for c in new["train_cells"]}
    out["train_cells"] = [c for c in out["train_cells"] if c["id"] not in ids] + new["train_cells"]
    out.update({k: new[k] for k in ("device", "executor", "versions", "git_commit", *SETTINGS) if k in new})
    return out


def write(out: Path, info: dict) -> None:
    """Write OUT/run.json atomically, under the folder's run lock (several processes may write it)."""
    with locks.cell_lock(out, "run"):
        atomic.write_json(Path(out) / NAME, info, root=out)


def read(results_dir: str | Path) -> dict:
    """The folder's run.json, checked against the schema; one line naming the file and the field if not."""
    folder = Path(results_dir)
    path = folder / NAME
    if not folder.is_dir():
        raise UserError(f"{results_dir}: no such results folder")
    if path.is_symlink():
        raise UserError(f"{path}: a symbolic link; a results folder's files are its own")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no results in {results_dir}: no run.json (run `bench run SUITE --out {results_dir}` first)") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    check(info, str(path))
    return info


def _fail(where: str, field: str, message: str):
    raise UserError(f"{where}: {field}: {message}; re-run `bench run` into this folder to rewrite it")


def _ok(value, kind) -> bool:
    """Whether ``value`` is of ``kind``: a type (an int is no bool; a float may be an int), "id" (``ID_LENGTH``
    hex digits: a file name inside the folder), "names" (a list of strings) or "module" (a dotted module name)."""
    if kind == "id":
        return isinstance(value, str) and CELL_ID.fullmatch(value) is not None
    if kind == "names":
        return isinstance(value, list) and all(isinstance(s, str) for s in value)
    if kind == "module":
        return isinstance(value, str) and MODULE.fullmatch(value) is not None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _expect(where: str, field: str, value, kind) -> None:
    if not _ok(value, kind):
        what = {"id": f"{ID_LENGTH} hex digits", "names": "a list of names", "module": "a module name", dict: "a mapping",
                list: "a list", bool: "true or false", float: "a number"}.get(kind, getattr(kind, "__name__", kind))
        got = repr(value)[:40] if isinstance(value, (str, int, float)) else type(value).__name__
        _fail(where, field, f"expected {what}, got {got}")


def _fields(where: str, at: str, node, required: dict, optional: dict) -> None:
    """``node`` is a mapping with the ``required`` fields and, where present and not null, the ``optional`` ones."""
    _expect(where, at, node, dict)
    for name, kind in {**required, **optional}.items():
        if name in required and name not in node:
            _fail(where, f"{at}.{name}" if at else name, "missing")
        if node.get(name) is not None or name in required:
            _expect(where, f"{at}.{name}" if at else name, node.get(name), kind)


# The fields reports read, and their kinds: run.json's top level, each cell, each dataset and recipe entry.
TOP = {"schema": int, "suite": str, "suite_file": str, "description": str, "datasets": list, "recipes": dict,
       "models": dict, "plugins": list, "train_cells": list, "order": dict, "device": str, "executor": str,
       "versions": dict, "git_commit": str, "seconds": float, "counts": dict, **SETTINGS}
CELL = {"dataset": str, "recipe": str, "method": str, "seed": int, "config": dict, "versions": dict}
EVAL_CELL = {"train_cell": "id", "dataset": str, "recipe": str, "kind": str, "params": dict, "versions": dict}


def _references(info: dict, where: str) -> None:
    """Each recipe's and external model's description (the site shows them): mappings; paper, venue and url
    strings; a model's ``meta`` a mapping of strings and, for extra_data, a boolean. Files written before
    these fields existed have none of them."""
    for key in ("recipes", "models"):
        for label, value in (info.get(key) or {}).items():
            if not isinstance(value, dict):
                _fail(where, f"{key}.{label}", "expected a mapping")
            meta = value.get("meta", {}) if key == "models" else value
            if not isinstance(meta, dict):
                _fail(where, f"{key}.{label}.meta", "expected a mapping")
            for field in ("paper", "venue", "url", "date", "architecture", "extra_data"):
                kind = bool if field == "extra_data" else str
                if meta.get(field) is not None and not isinstance(meta[field], kind):
                    _fail(where, f"{key}.{label}{'.meta' if key == 'models' else ''}.{field}",
                          f"expected {'true or false' if kind is bool else 'a string'}")


def check(info, where: str) -> None:
    """The checks ``read`` makes: the kinds of the fields reports read (TOP, CELL, EVAL_CELL), cell ids as file
    names inside the folder, plugins as module names."""
    if not isinstance(info, dict):
        raise UserError(f"{where}: expected a JSON object")
    if "eval_cells" not in info:
        _fail(where, "eval_cells", "missing (the file lists no eval cells)")
    _fields(where, "", info, {"eval_cells": list}, TOP)
    for key, required, optional in (("train_cells", {"id": "id"}, CELL),
                                    ("eval_cells", {"id": "id", "evaluation": str}, EVAL_CELL)):
        for i, cell in enumerate(info.get(key) or []):
            _fields(where, f"{key}[{i}]", cell, required, optional)
    for i, d in enumerate(info.get("datasets") or []):
        _fields(where, f"datasets[{i}]", d, {"name": str}, {"n_test": int, "n_train": int, "download": bool})
    for label, r in (info.get("recipes") or {}).items():
        _fields(where, f"recipes.{label}", r, {}, {"card": str, "method": str, "paper": str})
    for label, m in (info.get("models") or {}).items():
        _expect(where, f"models.{label}", m, dict)
    for k, v in (info.get("order") or {}).items():
        _expect(where, f"order.{k}", v, "names")
    for i, m in enumerate(info.get("plugins") or []):
        _expect(where, f"plugins[{i}]", m, "module")
    _references(info, where)

"""An entry page's content for the leaderboard site (bench.report.site): the model's description, every
evaluation with its interval, the training settings and each evaluation's parameters as tables (only the fields
that act: an Adam optimizer shows lr, betas and weight_decay, not SGD's momentum), AutoAttack's checks, and the
cells and files (ids and hashes, shown collapsed). Paths go through the site's ``Paths`` (never absolute)."""
from __future__ import annotations

import json

import pandas as pd

from bench.report import ordered
from bench.report.board import wilson_dict

# The fields each optimizer and schedule of bench.execute.train uses (tests/test_site_pages.py checks them
# against the engine): the others are defaults the config carries but nothing reads.
OPTIMIZER_FIELDS = {"sgd": ("lr", "momentum", "weight_decay", "nesterov"), "adam": ("lr", "betas", "weight_decay"),
                    "adadelta": ("lr", "rho", "weight_decay")}
SCHEDULE_FIELDS = {"none": (), "multistep": ("milestones", "gamma"), "cosine": (), "cyclic": ("peak",)}
PATH_KEYS = ("checkpoint", "torchscript", "model_dir")  # settings that hold a file or folder


def text(value) -> str:
    """A setting as a table cell: lists joined, mappings as key=value, None as 'none'."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items()) if value else "(none)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def flat(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(key, value) rows of a parameter mapping, nested mappings as dotted keys (an attack's own ``params``
    without the prefix: its steps, eps, alpha)."""
    out = []
    for k, v in params.items():
        if isinstance(v, dict) and v:
            out += flat(v, "" if (prefix, k) == ("", "params") else f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", text(v)))
    return out


def settings_rows(config: dict, paths) -> list[tuple[str, str]]:
    """A model's settings as (field, value) rows: a trained model's config with only its optimizer's and its
    schedule's own fields (and the method's args); an external model's source settings, paths shown by ``paths``."""
    if not config:
        return []
    rows = []
    for key, value in config.items():
        if key == "optimizer" and isinstance(value, dict):
            keep = OPTIMIZER_FIELDS.get(value.get("name"), tuple(value))
            rows += [("optimizer", text(value.get("name")))] + [(f"optimizer.{k}", text(value[k])) for k in keep
                                                                  if k in value]
        elif key == "schedule" and isinstance(value, dict):
            keep = SCHEDULE_FIELDS.get(value.get("name"), tuple(value))
            rows += [("schedule", text(value.get("name")))] + [(f"schedule.{k}", text(value[k])) for k in keep
                                                                 if k in value]
        elif key in ("args", "arch_args") and isinstance(value, dict):
            rows += [(f"{key}.{k}", v) for k, v in flat(value)] or [(key, "(none)")]
        elif key in PATH_KEYS and isinstance(value, str):
            rows.append((key, paths.show(value)))
        else:
            rows.append((key, text(value)))
    return rows


def entry_view(rows: pd.DataFrame, run: dict, paths, plots: list) -> dict:
    """What site_entry.html shows for one entry's rows."""
    evals = []
    for ev in ordered(rows["evaluation"].unique(), ["clean", *run.get("order", {}).get("evaluations", [])]):
        g = rows[rows["evaluation"] == ev]
        cell = g["cell"].iloc[0]
        info = (run.get("cells") or {}).get(cell, {})
        meta = info.get("meta", {})
        params = meta.get("params", json.loads(g["params"].iloc[0] or "{}"))
        correct = g["correct"].fillna(False).astype(bool)
        notes = meta.get("notes") or {}
        evals.append({"name": ev, "acc": wilson_dict(int(correct.sum()), int(len(correct))), "cell": cell,
                      "eps": None if g["eps"].isna().all() else float(g["eps"].iloc[0]),
                      "params": flat(params if isinstance(params, dict) else {"params": params})
                      + [(k, text(meta[k])) for k in ("n_test", "sample_seed") if meta.get(k) is not None],
                      "checks": (notes.get("autoattack") or {}).get("checks"),
                      "notes": json.dumps(notes, indent=2, sort_keys=True) if notes else "",
                      "file": paths.show(info.get("file", ""))})
    models = [m for c in rows["cell"].unique() if (m := (run.get("cells") or {}).get(c, {}).get("model"))]
    model = models[0] if models else {}
    settings = model.get("external") or model.get("config") or {}
    files, digests = model.get("files") or {}, model.get("sha256") or {}
    listed = [(k, paths.show(files[k]) if k in files else "(in memory)", digests.get(k, ""))
              for k in dict.fromkeys([*files, *digests])]
    return {"evaluations": evals, "train_cells": list(rows["train_cell"].dropna().unique()),
            "settings": settings_rows(settings, paths), "files": listed, "method": model.get("method", ""),
            "plots": plots}

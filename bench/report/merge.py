"""Several results folders (one per submission) as one set of rows, for `bench report DIR [DIR ...]`.

Rows are identified by (dataset, label, seed, evaluation). Two folders that hold the same key with other
settings (another model, sample subset or attack parameters, so another eval cell id; or another bench
version) are refused with one line naming both folders. The same cell under the same bench version in two
folders (a copied folder, an identical resubmission) is read once.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from bench.errors import UserError
from bench.report import load_run

KEY = ["dataset", "recipe", "seed", "evaluation"]


def cell_files(folder: Path) -> dict[str, tuple[Path, dict]]:
    """Eval cell id -> (its parquet file, its metadata: params, n_test, sample_seed, seconds, notes), for the
    cells of the folder's current suite (bench.results; stale files are not read). Rows are
    read as a pandas DataFrame, which bench.report's layouts and plots take as they take a folder's rows."""
    from bench.report.data import cell_files as current

    out = {}
    for f in current(folder):
        meta = json.loads((pq.read_schema(f).metadata or {}).get(b"bench", b"{}"))
        out[meta.get("cell", f.stem)] = (f, meta)
    return out


def _version(run: dict) -> str | None:
    return (run.get("versions") or {}).get("bench")


def _why(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """What differs between two blocks of rows that share a key."""
    if _version(a.attrs) != _version(b.attrs):
        return f"bench {_version(a.attrs)} vs {_version(b.attrs)}"
    if a["params"].iloc[0] != b["params"].iloc[0]:
        return f"parameters {a['params'].iloc[0]} vs {b['params'].iloc[0]}"
    if sorted(a["index"]) != sorted(b["index"]):
        return f"another sample subset ({len(a)} vs {len(b)} rows)"
    if a["train_cell"].iloc[0] != b["train_cell"].iloc[0]:
        return f"another model (train cell {a['train_cell'].iloc[0]} vs {b['train_cell'].iloc[0]})"
    return f"eval cell {a['cell'].iloc[0]} vs {b['cell'].iloc[0]}"


def load_many(folders) -> tuple[pd.DataFrame, dict]:
    """The rows of every folder (duplicates read once) and one run dict: datasets, recipes, models and
    order merged in folder order, timings merged, plus ``sources`` (label -> folders) and ``cells``
    (eval cell id -> folder, file, metadata) for the leaderboard site."""
    parts, seen, run = [], {}, {"suite": " + ".join(Path(f).name for f in folders), "datasets": [], "recipes": {},
                                "models": {}, "order": {}, "timings": {"train": {}, "eval": {}}, "sources": {},
                                "cells": {}, "folders": [str(f) for f in folders], "runs": {}}
    for folder in map(Path, folders):
        files, info = cell_files(folder), load_run(folder)
        if not files:
            raise UserError(f"no results in {folder}: run `bench run SUITE --out {folder}` first")
        rows = pd.concat([pd.read_parquet(path) for path, _ in files.values()], ignore_index=True)
        run["runs"][str(folder)] = {k: info.get(k) for k in ("suite", "suite_file", "device", "git_commit", "versions")}
        keep = []
        for cell, block in rows.groupby("cell", sort=False):
            key = tuple(block[KEY].iloc[0])
            block.attrs = {"versions": info.get("versions")}
            for sub_key, sub in block.groupby("evaluation", sort=False):
                k = (*key[:3], sub_key)
                sub.attrs = block.attrs
                if k in seen:
                    other, where = seen[k]
                    if other["cell"].iloc[0] == cell and _version(other.attrs) == _version(block.attrs):
                        continue  # the same cell again: read once
                    raise UserError(f"{where} and {folder} both hold {k[0]} / {k[1]} / seed {k[2]} / {k[3]} with "
                                    f"different settings ({_why(other, sub)}); report them separately or "
                                    "relabel one")
                seen[k] = (sub, folder)
                keep.append(sub)
            if cell in files:
                path, meta = files[cell]
                run["cells"].setdefault(cell, {"folder": str(folder), "file": str(path), "meta": meta,
                                               "model": _model_meta(folder, meta.get("train_cell"))})
        if keep:
            parts.append(pd.concat(keep))
        for label in rows["recipe"].unique():
            run["sources"].setdefault(label, [])
            if str(folder) not in run["sources"][label]:
                run["sources"][label].append(str(folder))
        _merge_info(run, info)
    return pd.concat(parts, ignore_index=True), run


def _model_meta(folder: Path, train_cell: str | None) -> dict:
    path = folder / "models" / f"{train_cell}.json"
    return json.loads(path.read_text()) if train_cell and path.exists() else {}


def _merge_info(run: dict, info: dict) -> None:
    for d in info.get("datasets", []):
        if all(d.get("name") != x.get("name") for x in run["datasets"]):
            run["datasets"].append(d)
    for key in ("recipes", "models"):
        for label, value in (info.get(key) or {}).items():
            run[key].setdefault(label, value)
    for key, values in (info.get("order") or {}).items():
        run["order"][key] = list(dict.fromkeys([*run["order"].get(key, []), *values]))
    for key in ("train", "eval"):
        run["timings"][key].update((info.get("timings") or {}).get(key, {}))
    run.setdefault("versions", info.get("versions"))


def report_many(args) -> int:
    """`bench report DIR [DIR ...] [--site SITE]`: tables over every folder, to --out or stdout."""
    import sys

    from bench.report.build import render, tables_for

    if args.compare_paper:
        raise UserError("--compare-paper reads one results folder")
    folders = [args.results, *args.more]
    rows, run = load_many(folders)
    if args.site:
        from bench.report.site import write_site

        n = write_site(Path(args.site), rows, run)
        print(f"wrote {n} pages to {args.site} (open {Path(args.site) / 'index.html'})")
        if not (args.out or args.format):
            return 0
    tables = tables_for(rows, run, args.table)
    title = f"bench report: {run['suite']}"
    fmt = args.format or {".html": "html", ".tex": "latex"}.get(Path(args.out).suffix if args.out else "", "md")
    text = render(fmt, tables, title, rows, run, args.ci)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0

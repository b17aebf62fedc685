"""Several results folders (one per submission) as one set of rows, for `bench report DIR [DIR ...]`.

Rows are identified by (dataset, label, seed, evaluation). Two folders that hold the same key with other
settings (another model, sample subset or attack parameters, so another eval cell id; or another bench
version) are refused with one line naming both folders. The same cell under the same bench version in two
folders (a copied folder, an identical resubmission) is read once.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from bench.errors import UserError
from bench.report import load_run
from bench.report.data import Rows, _sql


def cells_with_meta(folder: Path) -> dict[str, tuple[Path, dict]]:
    """Eval cell id -> (its parquet file, its metadata: params, n_test, sample_seed, seconds, notes), for the
    cells of the folder's current suite (bench.results.folder; stale files are not read)."""
    from bench.results.folder import cell_files, cell_meta

    out = {}
    for f in cell_files(folder, check=True):
        meta = cell_meta(f)
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


def _keys(con, files: list[Path]) -> dict[str, list[tuple]]:
    """File -> the (dataset, label, seed, evaluation) keys its rows hold, from one scan of those columns."""
    if not files:
        return {}
    out: dict[str, list[tuple]] = {}
    for src, *key in con.execute(
            f"SELECT DISTINCT filename, dataset, recipe, seed, evaluation FROM read_parquet("
            f"[{', '.join(_sql(f) for f in files)}], union_by_name=true, filename=true)").fetchall():
        out.setdefault(src, []).append(tuple(key))
    return out


def _block(path: Path, evaluation: str, info: dict) -> pd.DataFrame:
    """One evaluation's rows of one file, with its folder's versions (for _why, when two folders clash)."""
    block = pd.read_parquet(path, filters=[("evaluation", "==", evaluation)])
    block.attrs = {"versions": info.get("versions")}
    return block


def load_many(folders) -> tuple[Rows, dict]:
    """The rows of every folder (duplicates read once) as one bench.report.data.Rows over the kept files, and
    one run dict: datasets, recipes, models and order merged in folder order, timings merged, plus
    ``sources`` (label -> folders) and ``cells`` (eval cell id -> folder, file, metadata) for the leaderboard
    site. Only the key columns are scanned here; the metrics are computed on the files as for one folder."""
    run = {"suite": " + ".join(Path(f).name for f in folders), "datasets": [], "recipes": {}, "models": {},
           "order": {}, "timings": {"train": {}, "eval": {}}, "sources": {}, "cells": {},
           "folders": [str(f) for f in folders], "runs": {}}
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    seen: dict[tuple, tuple[str, Path, Path, dict]] = {}  # key -> (cell, file, folder, run.json)
    owners: dict[str, str | None] = {}  # eval cell id -> the bench version of the folder it was kept from
    kept: list[Path] = []
    for folder in map(Path, folders):
        files, info = cells_with_meta(folder), load_run(folder)
        if not files:
            raise UserError(f"no results in {folder}: run `bench run SUITE --out {folder}` first")
        run["runs"][str(folder)] = {k: info.get(k) for k in ("suite", "suite_file", "device", "git_commit", "versions")}
        keys = _keys(con, [path for path, _ in files.values()])
        for cell, (path, meta) in files.items():
            mine = keys.get(str(path), [])
            for key in mine:
                run["sources"].setdefault(key[1], [])
                if str(folder) not in run["sources"][key[1]]:
                    run["sources"][key[1]].append(str(folder))
            if cell in owners and owners[cell] == _version(info):
                continue  # the same cell again: read once
            for key in mine:
                if key in seen:
                    other, where, there, their = seen[key]
                    why = _why(_block(where, key[3], their), _block(path, key[3], info))
                    raise UserError(f"{there} and {folder} both hold {key[0]} / {key[1]} / seed {key[2]} / {key[3]} "
                                    f"with different settings ({why}); report them separately or relabel one")
            for key in mine:
                seen[key] = (cell, path, folder, info)
            owners[cell] = _version(info)
            kept.append(path)
            run["cells"].setdefault(cell, {"folder": str(folder), "file": str(path), "meta": meta,
                                           "model": _model_meta(folder, meta.get("train_cell"))})
        _merge_info(run, info)
    con.close()
    return Rows.from_files(kept), run


def _model_meta(folder: Path, train_cell: str | None) -> dict:
    """The model cell's record, when it verifies (bench.results.folder.model_record)."""
    from bench.results.folder import model_record

    return (model_record(folder, train_cell) if isinstance(train_cell, str) else None) or {}


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

        n = write_site(Path(args.site), rows, run, args.source_label)
        print(f"wrote {n} pages to {args.site} (open {Path(args.site) / 'index.html'})")
    if args.plots:
        from bench.report.plots import write_plots

        write_plots(Path(args.plots), rows, run)
    if args.site and not (args.out or args.format):
        return 0
    tables = tables_for(rows, run, args.table)
    title = f"bench report: {run['suite']}"
    fmt = args.format or {".html": "html", ".tex": "latex"}.get(Path(args.out).suffix if args.out else "", "md")
    text = render(fmt, tables, title, rows, run, args.ci)
    if args.out:
        from bench.results import atomic

        atomic.write_text(Path(args.out), text, root=Path(args.results))
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0

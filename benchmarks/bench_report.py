"""`bench report` at leaderboard scale against a bare DuckDB group-by of the same rows.

Generates a results folder synthetically (bench.results.schema rows with bench.results.names columns, one parquet file per
eval cell, as bench.results.store writes them): MODELS recipes x INPUTS test inputs x 10 evaluations (clean, six
attacks of which two are eps sweep points, PR, certification, smoothing). Then, each in its own process
(for its peak memory) and in alternating rounds, side by side:

- report: what `bench report` / `bench check` do with the rows: read every cell (bench.report.data.load),
  every declared metric of every block (the values `bench check` compares), the leaderboard (every
  evaluation's headline metric with Wilson intervals and McNemar against each column's best), and the
  per-sample any-attack AND over the six attacks;
- bare: one DuckDB query reading the same files, per (recipe, evaluation, seed) accuracy and count;
- many (with --folders K): the same rows split over K results folders, read as `bench report DIR DIR ...`
  reads them (bench.report.merge.load_many: each folder's current cells, clashes refused, copies read once),
  every declared metric and the leaderboard;
- site (with --folders K): the static leaderboard site over those folders (bench.report.site.write_site).

Prints seconds (median over rounds) and peak resident memory of each, and their ratio.

    PYTHONPATH=. python benchmarks/bench_report.py [--models 10] [--inputs 10000] [--rounds 3] [--dir /tmp/x] [--folders 5]

By file count (--files): the same total rows (--rows) spread over each number of cell files (10 evaluations
per recipe, FILES/10 recipes of ROWS/FILES inputs each), report and bare side by side per file count, in
interleaved rounds; prints each side's median seconds with and without its imports and the ratio of both.

    PYTHONPATH=. python benchmarks/bench_report.py --files 60,600,3000 [--rows 300000] [--rounds 5] [--dir /tmp/x]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ATTACKS = [("attack:PGD", None, 0.1), ("attack:FGSM", None, 0.1), ("attack:CWinf", None, 0.1),
           ("attack:AutoAttack", None, 0.1), ("attack:PGD", 0.05, 0.05), ("attack:PGD", 0.2, 0.2)]


def generate(outs: list[Path], models: int, inputs: int) -> int:
    """Write the synthetic results (model m into folder m mod len(outs)), each folder with the run.json and
    file metadata bench.results.store writes; returns the number of rows."""
    # only in the generating process, not the timed ones (store imports torch; a --baseline checkout has its
    # own layout)
    from bench.ids import ID_LENGTH
    from bench.results import names
    from bench.results.store import write_rows

    rng = np.random.default_rng(0)
    cells: dict[Path, list[dict]] = {out: [] for out in outs}
    index = np.arange(inputs)
    label = rng.integers(0, 10, inputs)
    total = 0
    for m in range(models):
        out = outs[m % len(outs)]
        recipe = f"model{m:03d}"
        skill = 0.5 + 0.45 * rng.random()
        clean = rng.random(inputs) < skill
        blocks = [(names.block(inputs, "clean", "clean"), {"correct": clean})]
        for name, sweep, eps in ATTACKS:
            cols = names.block(inputs, "attack", name, sweep, eps=eps, norm="linf")
            blocks.append((cols, {"correct": clean & (rng.random(inputs) < skill * (1 - eps * 2)),
                                  "in_budget": np.ones(inputs, bool), "linf": np.full(inputs, eps)}))
        pr = np.clip(rng.beta(8 * skill, 1.5, inputs), 0, 1)
        blocks.append((names.block(inputs, "pr", "pr:linf", 0.1, eps=0.1),
                       {"correct": clean, "pr": pr, "n": np.full(inputs, 100), "agree": (pr * 100).astype(np.int64)}))
        certified = rng.random(inputs) < skill * 0.8
        blocks.append((names.block(inputs, "certify", "certify:linf", 0.1, kappa=0.01, alpha=0.01, eps=0.1),
                       {"correct": clean, "decision": np.where(certified, "certified", "not_certified"),
                        "samples": rng.integers(100, 10000, inputs)}))
        blocks.append((names.block(inputs, "smooth", "smooth", 0.25, sigma=0.25),
                       {"correct": clean, "radius": np.where(clean, rng.random(inputs), 0.0)}))
        for i, (name_cols, cols) in enumerate(blocks):
            cell = hashlib.sha256(f"{recipe}-{i}".encode()).hexdigest()[:ID_LENGTH]  # ids are hex (run.json's schema)
            data = {**name_cols, **cols, "dataset": np.full(inputs, "cifar10", object),
                    "recipe": np.full(inputs, recipe, object), "arch": np.full(inputs, "wrn", object),
                    "seed": np.zeros(inputs, np.int64), "index": index, "label": label,
                    "pred": np.where(cols["correct"], label, (label + 1) % 10),
                    "cell": np.full(inputs, cell, object), "train_cell": np.full(inputs, recipe, object)}
            write_rows(out, cell, data, {"cell": cell, "train_cell": recipe, "seconds": 1.0})
            cells[out].append({"id": cell, "evaluation": str(name_cols["evaluation"][0])})
            total += inputs
    for out, listed in cells.items():
        (out / "run.json").write_text(json.dumps({"suite": "bench_report", "eval_cells": listed, "train_cells": []}))
    return total


def imports_report() -> None:
    import bench.report.build  # noqa: F401 (and through it bench.report.data, the layouts, pandas, DuckDB, jinja2)


def imports_bare() -> None:
    import duckdb  # noqa: F401


def side_report(results: str) -> str:
    from bench.report import load_run
    from bench.report.build import tables_for
    from bench.report.data import load

    rows = load(results)
    load_run(results)  # run.json and every cell's seconds (the cost table), as `bench report` reads them
    values = rows.values
    board = tables_for(rows, {}, ["leaderboard"])[0]
    worst = rows.any_attack("cifar10", [e for e in dict.fromkeys(rows.blocks["evaluation"])
                                        if e.startswith("attack:")])
    return f"{len(values)} metrics, leaderboard {len(board.rows)}x{len(board.header)}, any-attack {len(worst)} recipes"


def side_many(results: str) -> str:
    """The same rows split over the folders of ``results``/parts, as `bench report DIR DIR ...` reads them."""
    from bench.report.build import tables_for
    from bench.report.merge import load_many

    rows, run = load_many(sorted((Path(results) / "parts").iterdir()))
    values = rows.values
    board = tables_for(rows, run, ["leaderboard"])[0]
    return f"{len(values)} metrics, leaderboard {len(board.rows)}x{len(board.header)}"


def side_site(results: str) -> str:
    """The leaderboard site (`bench report DIR DIR ... --site`) over the same folders as side_many."""
    from bench.report.merge import load_many
    from bench.report.site import write_site

    rows, run = load_many(sorted((Path(results) / "parts").iterdir()))
    with tempfile.TemporaryDirectory() as site:
        return f"{write_site(Path(site), rows, run)} pages"


def side_bare(results: str) -> str:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    out = con.execute(f"SELECT recipe, evaluation, seed, avg(correct::INT) AS acc, count(*) AS n "
                      f"FROM read_parquet('{results}/samples/*.parquet') GROUP BY ALL").fetchall()
    return f"{len(out)} groups"


def child(side: str, results: str) -> None:
    start = time.perf_counter()
    (imports_bare if side == "bare" else imports_report)()
    imported = time.perf_counter() - start
    what = {"report": side_report, "bare": side_bare, "many": side_many, "site": side_site}[side](results)
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report the parent's peak
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"seconds": seconds, "import": imported, "peak_mib": peak, "what": what}))


def run_child(side: str, results: Path, checkout: str | None = None) -> dict:
    """One side in its own process; ``checkout``: import bench from that source tree instead (a baseline)."""
    env = {**os.environ, "PYTHONPATH": checkout} if checkout else None
    done = subprocess.run([sys.executable, __file__, "--child", side, str(results)], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def by_files(base: Path, counts: list[int], rows: int, rounds: int, baseline: str | None = None) -> None:
    """report vs bare on the same total rows spread over each number of files (see the module docstring); with
    ``baseline`` (another checkout) also that checkout's report side, in the same rounds."""
    folders = {}
    for files in counts:
        if files % 10 or rows % files:
            raise SystemExit(f"--files {files}: needs a multiple of 10 that divides --rows {rows}")
        out = folders[files] = base / f"files{files}"
        if len(list((out / "samples").glob("*.parquet"))) != files:
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            generate([out], files // 10, rows // files)
            print(f"generated {rows:,} rows in {files} files ({time.perf_counter() - t:.1f} s)", flush=True)
    sides = ["report", "bare"] + (["baseline"] if baseline else [])
    load = os.getloadavg()
    runs: dict[tuple, list[dict]] = {}
    for i in range(rounds):
        for files in counts:
            for side in (sides if (i + files) % 2 == 0 else sides[::-1]):
                runs.setdefault((files, side), []).append(
                    run_child("report" if side == "baseline" else side, folders[files],
                              baseline if side == "baseline" else None))
    print(f"{rounds} interleaved rounds, medians; seconds with imports (without: after each side's imports); "
          f"load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
    head = ["files", "rows/file", "report s", "report s w/o import", "bare s", "bare s w/o import", "ratio",
            "ratio w/o import", "peak MiB report / bare"]
    if baseline:
        head += ["baseline report s", "w/o import", "baseline ratio", "w/o import", "baseline peak MiB"]
    print("| " + " | ".join(head) + " |\n|" + "---:|" * len(head))
    for files in counts:
        med = {}
        for side in sides:
            r = runs[(files, side)]
            med[side] = (statistics.median(x["seconds"] for x in r),
                         statistics.median(x["seconds"] - x["import"] for x in r), max(x["peak_mib"] for x in r))
        (rs, rw, rm), (bs, bw, bm) = med["report"], med["bare"]
        line = (f"| {files} | {rows // files} | {rs:.2f} | {rw:.2f} | {bs:.2f} | {bw:.2f} | {rs / bs:.1f}x | "
                f"{rw / bw:.1f}x | {rm:.0f} / {bm:.0f} |")
        if baseline:
            os_, ow, om = med["baseline"]
            line += f" {os_:.2f} | {ow:.2f} | {os_ / bs:.1f}x | {ow / bw:.1f}x | {om:.0f} |"
        print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10, help="recipes (100 x 10000 inputs = 10M rows)")
    ap.add_argument("--inputs", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="results folder to (re)use; default a temporary one")
    ap.add_argument("--folders", type=int, default=0,
                    help="also split the same rows over this many folders (DIR/parts/*) and time `bench report` "
                         "over all of them (bench.report.merge) beside the one folder")
    ap.add_argument("--files", default=None,
                    help="comma-separated file counts (e.g. 60,600,3000): the same --rows spread over each, report "
                         "vs bare per file count (folders DIR/files<N>)")
    ap.add_argument("--rows", type=int, default=300000, help="total rows with --files")
    ap.add_argument("--baseline", default=None,
                    help="with --files: also time the report side of another checkout of bench (its root folder), in "
                         "the same rounds")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    with tempfile.TemporaryDirectory() as tmp:
        if a.files:
            return by_files(Path(a.dir or tmp), [int(n) for n in a.files.split(",")], a.rows, a.rounds,
                            a.baseline)
        out = Path(a.dir or tmp)
        if not (out / "samples").is_dir():
            t = time.perf_counter()
            n = generate([out], a.models, a.inputs)
            print(f"generated {n:,} rows in {len(list((out / 'samples').glob('*.parquet')))} files "
                  f"({time.perf_counter() - t:.1f} s)")
        sides = ["report", "bare"]
        if a.folders:
            parts = out / "parts"
            if not parts.is_dir() or len(list(parts.iterdir())) != a.folders:
                shutil.rmtree(parts, ignore_errors=True)
                generate([parts / f"part{k:02d}" for k in range(a.folders)], a.models, a.inputs)
            sides += ["many", "site"]
        runs: dict[str, list[dict]] = {s: [] for s in sides}
        for i in range(a.rounds):
            for side in (sides if i % 2 == 0 else sides[::-1]):
                runs[side].append(run_child(side, out))
        med = {s: (statistics.median(r["seconds"] for r in v), max(r["peak_mib"] for r in v)) for s, v in runs.items()}
        for s in sides:
            print(f"{s:6s}: {med[s][0]:7.2f} s  peak {med[s][1]:7.0f} MiB   ({runs[s][0]['what']})")
        print(f"ratio report/bare: {med['report'][0] / med['bare'][0]:.1f}x time, "
              f"{med['report'][1] / med['bare'][1]:.1f}x peak memory")
        if a.folders:
            print(f"ratio many ({a.folders} folders)/report (one folder): {med['many'][0] / med['report'][0]:.2f}x time, "
                  f"{med['many'][1] / med['report'][1]:.2f}x peak memory")


if __name__ == "__main__":
    main()

"""`bench report` at leaderboard scale against a bare DuckDB group-by of the same rows.

Generates a results folder synthetically (bench.schema rows with bench.names columns, one parquet file per
eval cell, as bench.store writes them): MODELS recipes x INPUTS test inputs x 10 evaluations (clean, six
attacks of which two are eps sweep points, PR, certification, smoothing). Then, each in its own process
(for its peak memory) and in alternating rounds, side by side:

- report: what `bench report` / `bench check` do with the rows: read every cell (bench.report.data.load),
  every declared metric of every block (the values `bench check` compares), the leaderboard (every
  evaluation's headline metric with Wilson intervals and McNemar against each column's best), and the
  per-sample any-attack AND over the six attacks;
- bare: one DuckDB query reading the same files, per (recipe, evaluation, seed) accuracy and count.

Prints seconds (median over rounds) and peak resident memory of each, and their ratio.

    PYTHONPATH=. python benchmarks/bench_report.py [--models 10] [--inputs 10000] [--rounds 3] [--dir /tmp/x]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import names
from bench.schema import ROW_SCHEMA

ATTACKS = [("attack:PGD", None, 0.1), ("attack:FGSM", None, 0.1), ("attack:CWinf", None, 0.1),
           ("attack:AutoAttack", None, 0.1), ("attack:PGD", 0.05, 0.05), ("attack:PGD", 0.2, 0.2)]


def generate(out: Path, models: int, inputs: int) -> int:
    """Write the synthetic results folder; returns the number of rows."""
    rng = np.random.default_rng(0)
    samples = out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    index = np.arange(inputs)
    label = rng.integers(0, 10, inputs)
    total = 0
    for m in range(models):
        recipe = f"model{m:03d}"
        skill = 0.5 + 0.45 * rng.random()
        clean = rng.random(inputs) < skill
        blocks = [(names.block(inputs, "clean", "clean"), {"correct": clean})]
        for name, sweep, eps in ATTACKS:
            cols = names.block(inputs, "attack", name, sweep, eps=eps)
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
            cell = f"{recipe}-{i}"
            data = {**name_cols, **cols, "dataset": np.full(inputs, "cifar10", object),
                    "recipe": np.full(inputs, recipe, object), "arch": np.full(inputs, "wrn", object),
                    "seed": np.zeros(inputs, np.int64), "index": index, "label": label,
                    "pred": np.where(cols["correct"], label, (label + 1) % 10),
                    "cell": np.full(inputs, cell, object), "train_cell": np.full(inputs, recipe, object)}
            arrays = [pa.array(data[f.name], f.type) if f.name in data else pa.nulls(inputs, f.type)
                      for f in ROW_SCHEMA]
            pq.write_table(pa.Table.from_arrays(arrays, schema=ROW_SCHEMA), samples / f"{cell}.parquet")
            total += inputs
    (out / "run.json").write_text(json.dumps({"suite": "bench_report"}))
    return total


def side_report(results: str) -> str:
    from bench.report.build import tables_for
    from bench.report.data import load

    rows = load(results)
    values = rows.values
    board = tables_for(rows, {}, ["leaderboard"])[0]
    worst = rows.any_attack("cifar10", [e for e in dict.fromkeys(rows.blocks["evaluation"])
                                        if e.startswith("attack:")])
    return f"{len(values)} metrics, leaderboard {len(board.rows)}x{len(board.header)}, any-attack {len(worst)} recipes"


def side_bare(results: str) -> str:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    out = con.execute(f"SELECT recipe, evaluation, seed, avg(correct::INT) AS acc, count(*) AS n "
                      f"FROM read_parquet('{results}/samples/*.parquet') GROUP BY ALL").fetchall()
    return f"{len(out)} groups"


def child(side: str, results: str) -> None:
    start = time.perf_counter()
    what = {"report": side_report, "bare": side_bare}[side](results)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    print(json.dumps({"seconds": seconds, "peak_mib": peak, "what": what}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=10, help="recipes (100 x 10000 inputs = 10M rows)")
    ap.add_argument("--inputs", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="results folder to (re)use; default a temporary one")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.dir or tmp)
        if not (out / "samples").is_dir():
            t = time.perf_counter()
            n = generate(out, a.models, a.inputs)
            print(f"generated {n:,} rows in {len(list((out / 'samples').glob('*.parquet')))} files "
                  f"({time.perf_counter() - t:.1f} s)")
        runs: dict[str, list[dict]] = {"report": [], "bare": []}
        for i in range(a.rounds):
            for side in (("report", "bare") if i % 2 == 0 else ("bare", "report")):
                done = subprocess.run([sys.executable, __file__, "--child", side, str(out)], capture_output=True,
                                      text=True, check=True)
                runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
        med = {s: (statistics.median(r["seconds"] for r in v), max(r["peak_mib"] for r in v)) for s, v in runs.items()}
        for s in ("report", "bare"):
            print(f"{s:6s}: {med[s][0]:7.2f} s  peak {med[s][1]:7.0f} MiB   ({runs[s][0]['what']})")
        print(f"ratio report/bare: {med['report'][0] / med['bare'][0]:.1f}x time, "
              f"{med['report'][1] / med['bare'][1]:.1f}x peak memory")


if __name__ == "__main__":
    main()

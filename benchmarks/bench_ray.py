"""Ray executor vs local executor: wall time of a 4-train-cell grid, with identical rows.

The grid: digits x {erm, pgdt} x seeds {0, 1} (4 train cells, 8 eval cells: clean and PGD), from the
repository's model cards with ``--epochs`` epochs each. Timed side by side in one process, in interleaved
rounds (the order alternates), each run into a fresh results folder:

- local: ``bench.grid.run_local`` (cells in order in this process) with torch's default thread count
  (the number of cores), as ``bench run`` runs it; and local-1t, the same with one torch thread (on a
  busy machine several OpenMP threads per process can be much slower than one, so both are shown);
- ray: ``bench.execute.cluster.run_ray`` on a local Ray instance with ``--workers`` CPUs and one CPU per
  task (so ``--workers`` cells run at once, one torch thread each). Ray's start (``ray.init``) is timed
  apart and reported, not counted in the ratio; the workers' own start-up (importing torch and bench)
  happens inside the first timed Ray run, and later rounds reuse the warm workers.

Every Ray run's rows must equal the local-1t run's, which uses the same one torch thread per cell
(checked). Runs with a different thread count agree on every prediction, but torch's multi-threaded CPU
reductions can round PGD gradients differently, so a few perturbation norms (l2, l0) may differ: the
script counts those rows. Usage:

    PYTHONPATH=. python benchmarks/bench_ray.py [--workers 2] [--epochs 3] [--n-test 200] [--rounds 2]
        [--out /tmp/bench_ray]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from bench.suite.config import load_suite
from bench.execute.local import run_local
from bench.plan.grid import plan
from bench.execute.cluster import Resources, run_ray

REPO = Path(__file__).resolve().parents[1]
SUITE = """\
name: bench_ray
models: {models}
datasets:
  digits: {{n_test: {n_test}}}
recipes:
  - {{card: erm, epochs: {epochs}}}
  - {{card: pgdt, epochs: {epochs}}}
seeds: [0, 1]
evaluations:
  - clean
  - attack: PGD
"""


def rows(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "samples").sort_values(["cell", "evaluation", "index"]).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench_ray")
    args = ap.parse_args()
    import ray

    base = Path(args.out)
    base.mkdir(parents=True, exist_ok=True)
    suite_file = Path(tempfile.mkdtemp(dir=base)) / "bench_ray.yaml"
    suite_file.write_text(SUITE.format(models=REPO / "models", epochs=args.epochs, n_test=args.n_test))
    trains, evals = plan(load_suite(suite_file))
    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start
    threads = torch.get_num_threads()
    sides = ("local", "local-1t", "ray")
    times = {side: [] for side in sides}
    identical, pred_diff, norm_diff = [], 0, 0
    quiet = lambda s: None  # noqa: E731
    got = {}
    for r in range(args.rounds):
        for side in sides[r % 3:] + sides[:r % 3]:
            out = base / f"{side}{r}"
            shutil.rmtree(out, ignore_errors=True)
            torch.set_num_threads(1 if side == "local-1t" else threads)
            start = time.perf_counter()
            if side == "ray":
                run_ray(trains, evals, out, "cpu", None, Resources(cpus=1), log=quiet)
            else:
                run_local(trains, evals, out, "cpu", None, show_bars=False, log=quiet)
            times[side].append(time.perf_counter() - start)
            got[side] = rows(out)
        identical.append(got["ray"].equals(got["local-1t"]))
        a, b = got["local"], got["local-1t"]
        same = (a == b) | (a.isna() & b.isna())
        pred_diff += int((~same[["pred", "adv_pred", "correct"]].all(axis=1)).sum())
        norm_diff += int((~same.all(axis=1)).sum())
        print(f"round {r + 1}: " + ", ".join(f"{s} {times[s][-1]:.1f}s" for s in sides)
              + f"; ray/local {times['ray'][-1] / times['local'][-1]:.3f}x, "
              f"ray/local-1t {times['ray'][-1] / times['local-1t'][-1]:.3f}x", flush=True)
    ray.shutdown()
    med = {s: statistics.median(times[s]) for s in sides}
    print(f"grid: {len(trains)} train cells ({args.epochs} epochs each) + {len(evals)} eval cells on digits "
          f"({args.n_test} test samples); {args.workers} Ray workers x 1 CPU vs the local executor "
          f"({threads} torch threads, and 1); ray.init {ray_start:.1f}s (not counted)")
    print("  medians: " + ", ".join(f"{s} {med[s]:.1f}s" for s in sides)
          + f"; ray rows identical to local-1t rows in every round: {all(identical)}")
    print(f"  local ({threads} threads) vs local-1t, over all rounds: {pred_diff} rows differ in a prediction, "
          f"{norm_diff} rows in any value (float rounding of norms)")
    print(f"ray / local wall-time ratio: {med['ray'] / med['local']:.3f}x (target <= 0.65x); "
          f"ray / local-1t: {med['ray'] / med['local-1t']:.3f}x")
    floor = med["local-1t"] / args.workers  # every worker busy all the time, no overhead at all
    print(f"  floor: {args.workers} one-thread workers with perfect scaling take local-1t / {args.workers} = {floor:.1f}s, "
          f"{floor / med['local']:.3f}x the local executor, whose {threads} torch threads already run "
          f"{med['local-1t'] / med['local']:.2f}x faster than one; ray reaches {floor / med['ray']:.0%} of that floor")
    if args.rounds > 1:  # the first Ray run also starts the workers (imports torch and bench)
        warm = statistics.median(times["ray"][1:])
        print(f"  with warm Ray workers (rounds 2+): ray {warm:.1f}s; ray / local {warm / med['local']:.3f}x, "
              f"ray / local-1t {warm / med['local-1t']:.3f}x")


if __name__ == "__main__":
    main()

"""Ray executor vs local executor: wall time of a 4-train-cell grid, with identical rows.

The grid: digits x {erm, pgdt} x seeds {0, 1} (4 train cells, 8 eval cells: clean and PGD), from the
repository's model cards with ``--epochs`` epochs each. Timed side by side in one process, in interleaved
rounds (the order alternates), each run into a fresh results folder:

- local: ``bench.grid.run_local`` (cells in order in this process, torch's default thread count);
- ray: ``bench.ray_executor.run_ray`` on a local Ray instance with ``--workers`` CPUs and one CPU per
  task (so ``--workers`` cells run at once, one torch thread each). Ray's start (``ray.init``) is timed
  apart and reported, not counted in the ratio; the workers' own start-up (importing torch and bench)
  happens inside the first timed Ray run, and later rounds reuse the warm workers.

Each Ray run's rows must equal the local run's (checked). Usage:

    PYTHONPATH=. python benchmarks/bench_ray.py [--workers 2] [--epochs 5] [--rounds 2] [--out /tmp/bench_ray]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.config import load_suite
from bench.grid import plan, run_local
from bench.ray_executor import Resources, run_ray

REPO = Path(__file__).resolve().parents[1]
SUITE = """\
name: bench_ray
models: {models}
datasets:
  digits: {{n_test: 500}}
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
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench_ray")
    args = ap.parse_args()
    import ray

    base = Path(args.out)
    base.mkdir(parents=True, exist_ok=True)
    suite_file = Path(tempfile.mkdtemp(dir=base)) / "bench_ray.yaml"
    suite_file.write_text(SUITE.format(models=REPO / "models", epochs=args.epochs))
    trains, evals = plan(load_suite(suite_file))
    start = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start
    times = {"local": [], "ray": []}
    identical = []
    quiet = lambda s: None  # noqa: E731
    for r in range(args.rounds):
        want = None
        for side in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
            out = base / f"{side}{r}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            if side == "local":
                run_local(trains, evals, out, "cpu", None, progress=False, log=quiet)
            else:
                run_ray(trains, evals, out, "cpu", None, Resources(cpus=1), log=quiet)
            times[side].append(time.perf_counter() - start)
            got = rows(out)
            if want is None:
                want = got
            else:
                identical.append(got.equals(want))
        print(f"round {r + 1}: local {times['local'][-1]:.1f}s, ray {times['ray'][-1]:.1f}s, "
              f"ratio {times['ray'][-1] / times['local'][-1]:.3f}x, rows identical: {identical[-1]}")
    ray.shutdown()
    loc, ry = statistics.median(times["local"]), statistics.median(times["ray"])
    print(f"grid: {len(trains)} train cells ({args.epochs} epochs each) + {len(evals)} eval cells on digits; "
          f"{args.workers} Ray workers x 1 CPU vs the local executor; ray.init {ray_start:.1f}s (not counted)")
    print(f"  local median {loc:.1f}s, ray median {ry:.1f}s; rows identical in every round: {all(identical)}")
    print(f"ray / local wall-time ratio: {ry / loc:.3f}x (target <= 0.65x)")


if __name__ == "__main__":
    main()

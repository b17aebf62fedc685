"""Scale-out of eval cells in chunks (bench.execute.chunks): three ratios, each side measured in this one
run, in interleaved rounds (the order alternates), medians.

1. Chunk overhead: a PGD-40 cell of 500 digits inputs on a trained small CNN computed in 10 chunks (each
   chunk written to OUT/.chunks, then assembled into the cell's file) against the same cell unchunked
   (``chunk: 0``), one worker, through ``compute`` as `bench run` calls it. Goal <= 1.05x.
2. Resume: the chunked cell killed at 50% (its first 5 chunks written by ``compute_chunk``, untimed) and
   resumed by ``compute`` (loads the model, reads the kept chunks, computes the 5 missing ones, assembles,
   writes), against the half it had left: half the unchunked cell's time. Goal <= 1.10x.
3. Ray throughput: a clean cell of the 500 digits inputs in 20 chunks on a model whose forward is a fixed
   ``--wait`` of sleep per batch (it stands in for a GPU-bound model: this machine has 2 cores, and a
   sleeping worker leaves them free), run by ``run_ray`` with 1, 2 and 4 tasks at once (one Ray instance
   of 4 logical CPUs; 4, 2 and 1 CPUs per task). Throughput relative to one worker; goal >= 0.85 x N.
   Every run's rows must equal the local executor's (checked). Ray's start and its workers' start-up
   (importing torch and bench) happen in an untimed warm-up run, and Ray's reaping of idle workers is
   turned off: otherwise a run with one worker lets Ray end the three idle ones, and the next run with
   four pays their start again (about 5 s each here), which a grid whose workers stay busy does not.

Usage:

    PYTHONPATH=. python benchmarks/bench_chunks.py [--rounds 3] [--wait 0.2] [--out /tmp/bench_chunks]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from torch import nn

from bench.execute.chunks import compute_chunk
from bench.execute.cluster import Resources, run_ray
from bench.execute.compute import compute
from bench.execute.local import run_local
from bench.plan.cells import ModelCell
from bench.plan.grid import eval_cells
from bench.results import store
from bench.suite.config import load_suite

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _model import digits_model  # noqa: E402


class Sleepy(nn.Module):
    """A linear model on 8x8 digits whose every forward first sleeps ``wait`` seconds (a stand-in for a
    model whose time is spent on a GPU)."""

    def __init__(self, wait: float):
        super().__init__()
        self.wait = wait
        torch.manual_seed(0)
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        time.sleep(self.wait)
        return self.linear(x.flatten(1))


def cell_of(net, evaluation: dict, batch_size: int, chunk: int):
    """The eval cell of ``evaluation`` on 500 digits inputs of a model object, in chunks of ``chunk``."""
    doc = {"name": "bench_chunks", "datasets": {"digits": {"n_test": 500}}, "batch_size": batch_size, "models": [],
           "chunk": chunk, "evaluations": [evaluation]}
    model = ModelCell.of(net, "digits", type(net).__name__)
    return model, eval_cells(load_suite("bench_chunks", yaml.safe_dump(doc)), [model])[0]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rows(out: Path, cell) -> pd.DataFrame:
    return pd.read_parquet(store.samples_path(out, cell.id)).drop(columns="cell").sort_values("index").reset_index(drop=True)


def overhead_and_resume(base: Path, rounds: int) -> dict:
    net, _, _ = digits_model()
    pgd = {"attack": "PGD", "params": {"steps": 40}}
    _, whole = cell_of(net, pgd, 50, 0)
    _, chunked = cell_of(net, pgd, 50, 50)
    assert whole.n_chunks == 1 and chunked.n_chunks == 10
    times = {"unchunked": [], "10 chunks": [], "resume": []}
    for r in range(rounds + 1):  # round 0 warms up and is not counted
        for side in list(times)[r % 3:] + list(times)[:r % 3]:
            out = base / f"{side.replace(' ', '')}{r}"
            shutil.rmtree(out, ignore_errors=True)
            cell = whole if side == "unchunked" else chunked
            if side == "resume":  # killed at 50%: its first half of chunks are written
                for k in range(chunked.n_chunks // 2):
                    compute_chunk(chunked, k, out, "cpu", None)
            seconds = timed(lambda: compute(cell, out, "cpu"))
            if r:
                times[side].append(seconds)
    same = all(rows(base / f"resume{r}", chunked).equals(rows(base / f"10chunks{r}", chunked)) for r in range(rounds + 1))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"times": times, "medians": med, "overhead": med["10 chunks"] / med["unchunked"],
            "resume": med["resume"] / (med["unchunked"] / 2), "resumed_rows_identical": same}


def ray_scaling(base: Path, rounds: int, wait: float) -> dict:
    import ray

    net = Sleepy(wait)
    model, cell = cell_of(net, "clean", 5, 25)
    assert cell.n_chunks == 20
    local = base / "local"
    shutil.rmtree(local, ignore_errors=True)
    run_local([model], [cell], local, "cpu", None, show_bars=False, log=lambda s: None)
    want = rows(local, cell)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False,
             _system_config={"kill_idle_workers_interval_ms": 0})
    try:
        quiet = lambda s: None  # noqa: E731
        for n in (4, 1):  # warm-up: start every worker (imports torch and bench)
            shutil.rmtree(base / "warm", ignore_errors=True)
            run_ray([model], [cell], base / "warm", "cpu", None, Resources(cpus=4 / n), log=quiet)
        times, same = {1: [], 2: [], 4: []}, True
        for r in range(rounds):
            for n in ((1, 2, 4) if r % 2 == 0 else (4, 2, 1)):
                out = base / f"ray{n}-{r}"
                shutil.rmtree(out, ignore_errors=True)
                times[n].append(timed(lambda: run_ray([model], [cell], out, "cpu", None, Resources(cpus=4 / n),
                                                      log=quiet)))
                same &= rows(out, cell).equals(want)
    finally:
        ray.shutdown()
    med = {n: statistics.median(v) for n, v in times.items()}
    return {"times": times, "medians": med, "speedup": {n: med[1] / med[n] for n in med},
            "rows_identical_to_local": same, "sequential_wait_s": 500 / 5 * wait}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--wait", type=float, default=0.2, help="seconds each forward of the Ray model sleeps")
    ap.add_argument("--out", default="/tmp/bench_chunks")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = Path(args.out)
    base.mkdir(parents=True, exist_ok=True)
    res = overhead_and_resume(base, args.rounds)
    m = res["medians"]
    print(f"PGD-40 cell, 500 digits inputs, batch 50, one worker ({args.rounds} rounds, medians): unchunked "
          f"{m['unchunked']:.2f}s, 10 chunks {m['10 chunks']:.2f}s, resumed second half {m['resume']:.2f}s")
    print(f"chunk overhead (10 chunks / unchunked): {res['overhead']:.3f}x (goal <= 1.05x)")
    print(f"resume (second half after a kill at 50% / half the unchunked cell): {res['resume']:.3f}x (goal <= 1.10x); "
          f"resumed rows identical to the uninterrupted chunked cell's: {res['resumed_rows_identical']}")
    ray_res = ray_scaling(base, args.rounds, args.wait)
    m = ray_res["medians"]
    print(f"Ray, clean cell of 500 inputs in 20 chunks, {args.wait:g} s sleep per batch of 5 "
          f"({ray_res['sequential_wait_s']:.0f} s of sleep in all): " + ", ".join(f"{n} workers {m[n]:.2f}s" for n in m)
          + f"; rows identical to the local executor's: {ray_res['rows_identical_to_local']}")
    print("throughput vs 1 worker: " + ", ".join(
        f"{n} workers {s:.2f}x ({s / n:.2f} x N; goal >= 0.85 x N)" for n, s in ray_res["speedup"].items()))


if __name__ == "__main__":
    main()

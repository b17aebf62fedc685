"""Harness overhead: one PGD eval cell through bench vs a bare loop calling torchattacks.PGD.

Both sides use the same checkpoint, the same test samples, the same batch size, the same attack
parameters and the same seed, in the same process, timed side by side in interleaved rounds (the order
alternates each round); the ratio is of the median times.

- harness: ``bench.execute.compute.compute`` on the suite's ``attack:PGD`` eval cell (what ``bench run``
  calls per cell, here in-process so Python and torch start-up are not timed). Timed: reading the
  checkpoint, the fixed test subset, the clean pass, PGD on the clean-correct samples, the per-sample
  norms, assembling the rows and writing the parquet file. The test split itself is cached in the
  process, as it is across the cells of a run.
- bare: the model already loaded and the samples already in tensors; a loop over batches doing the
  minimum that yields the same robust accuracy: a clean forward pass, torchattacks.PGD on the
  clean-correct samples, a forward pass on the adversarial inputs.

The two must agree on every adversarial prediction (checked). Usage:

    PYTHONPATH=. python benchmarks/bench_overhead.py [--suite suites/quickstart.yaml] [--recipe erm]
        [--device cpu|cuda] [--rounds 5] [--threads 1] [--out /tmp/bench_overhead]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torchattacks

from bench.data import splits, subset
from bench.execute.compute import compute
from bench.plan.grid import plan
from bench.results import store
from bench.suite.config import load_suite

REPO = Path(__file__).resolve().parents[1]


def pick_cells(suite_path: str, recipe: str, evaluation: str = "attack:PGD"):
    """The train cell of ``recipe`` (first dataset, first seed) and its eval cell named ``evaluation``."""
    trains, evals = plan(load_suite(suite_path))
    train = next(t for t in trains if t.recipe == recipe)
    ev = next(e for e in evals if e.train.id == train.id and e.name == evaluation)
    return train, ev


def bare_pgd(model, x, y, params: dict, batch_size: int, device, seed: int) -> torch.Tensor:
    """The bare loop: clean pass, torchattacks.PGD on the clean-correct samples, adversarial pass.
    Returns the adversarial predictions (the clean prediction where the sample was not attacked)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)])
    adv_pred = pred.clone()
    todo = torch.nonzero(pred == y).flatten()
    attack = torchattacks.PGD(model, **params)
    for i in range(0, len(todo), batch_size):
        idx = todo[i:i + batch_size]
        adv = attack(x[idx].to(device), y[idx].to(device))
        with torch.no_grad():
            adv_pred[idx] = model(adv).argmax(1).cpu()
    return adv_pred


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def measure(train, ev, out: Path, device: str, rounds: int) -> dict:
    """Interleaved rounds of harness vs bare on ``ev``; returns the times and the checks."""
    _, test = splits(train.dataset, None, train.download)
    _, sub = subset(test, ev.n_test, ev.sample_seed)
    model = train.load(out, device)
    params = dict(ev.params["params"])
    times = {"harness": [], "bare": []}
    path = store.samples_path(out, ev.id)
    for r in range(rounds + 1):  # round 0 warms both up and is not counted
        order = ("harness", "bare") if r % 2 else ("bare", "harness")
        for side in order:
            if side == "harness":
                path.unlink(missing_ok=True)
                seconds, _ = timed(lambda: compute(ev, out, device))
            else:
                seconds, adv_pred = timed(lambda: bare_pgd(model, sub.x, sub.y, params, ev.batch_size, device,
                                                           ev.sample_seed))
            if r:
                times[side].append(seconds)
    import pandas as pd

    rows = pd.read_parquet(path)
    same = bool((rows["adv_pred"].to_numpy() == adv_pred.numpy()).all())
    return {"times": times, "same_adv_pred": same, "n": len(sub.y),
            "robust_acc": float(rows["correct"].mean()), "params": params}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default=str(REPO / "suites" / "quickstart.yaml"))
    ap.add_argument("--recipe", default="erm")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", default="/tmp/bench_overhead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    train, ev = pick_cells(args.suite, args.recipe)
    if not store.model_done(out, train.id):
        print(f"training the checkpoint ({train.dataset} {train.recipe}, {train.arch}) once ...")
        compute(train, out, args.device, progress=False)
    res = measure(train, ev, out, args.device, args.rounds)
    h, b = statistics.median(res["times"]["harness"]), statistics.median(res["times"]["bare"])
    print(f"PGD eval cell: {train.dataset} {train.recipe} ({train.arch}), {res['n']} samples, batch {ev.batch_size}, "
          f"params {res['params']}, device {args.device}, {args.threads} thread(s), {args.rounds} interleaved rounds")
    print(f"  harness (compute) median {h:.3f}s  runs {['%.3f' % t for t in res['times']['harness']]}")
    print(f"  bare torchattacks loop  median {b:.3f}s  runs {['%.3f' % t for t in res['times']['bare']]}")
    print(f"  same adversarial predictions: {res['same_adv_pred']}; robust accuracy {res['robust_acc']:.3f}")
    print(f"harness overhead ratio: {h / b:.3f}x (target <= 1.05x); {1000 * (h - b):.0f} ms more per cell")


if __name__ == "__main__":
    main()

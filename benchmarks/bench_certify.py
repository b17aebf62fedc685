"""Certification wall time: the batched engine (bench.certify.engine) against Algorithm 2 one sample at a
time (bench.certify.rules.repeated_binomial.algorithm2: one forward and two scipy binomial tests per
sample), same model,
inputs and random streams; decisions must be identical. Then the kappa/alpha sweep of Tables 11/12 (kappa
0.001, 0.01, 0.1 at alpha 0.01; alpha 0.05, 0.001 at kappa 0.01) with every point replayed on one stream
of predictions (certify_many) against one batched run per point; results must be identical. Also the
simulated false-certification rates.

    PYTHONPATH=. python benchmarks/bench_certify.py [--inputs 40] [--device cpu] [--threads 1] [--sweep-cap 2000]
"""
import argparse
import time

import numpy as np
import torch

from _model import digits_model
from bench.certify.engine import Streams, certify, certify_many
from bench.certify.rules import make_rule, simulate
from bench.certify.rules.repeated_binomial import algorithm2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cap", type=int, default=2000)
    ap.add_argument("--sweep-cap", type=int, default=2000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, info, test = digits_model(device=a.device)
    x = test.x[:a.inputs]
    kappa = alpha = 0.01
    rule = make_rule("paper", kappa, alpha, a.cap, 0)

    t = time.perf_counter()
    out = certify(model, x, rule, "linf", 0.1, info.num_classes, seed=7, chunk=64, batch_size=4096, device=a.device)
    if a.device != "cpu":
        torch.cuda.synchronize()
    batched = time.perf_counter() - t

    streams = Streams(x, "linf", 0.1, 7, a.device)
    t = time.perf_counter()
    ref = [algorithm2(model, lambda i=i: streams.one(i), kappa, alpha, a.cap) for i in range(len(x))]
    single = time.perf_counter() - t
    rows = zip(ref, out["pred"].tolist(), out["decision"], out["samples"].tolist())
    same = all(r == (p, d, s) for r, p, d, s in rows)
    drawn = int(sum(r[2] for r in ref))

    bare = torch.rand(drawn, *x.shape[1:], device=a.device)
    t = time.perf_counter()
    with torch.no_grad():
        for j in range(0, drawn, 4096):
            model(bare[j:j + 4096])
    forward = time.perf_counter() - t

    decisions = dict(zip(*np.unique(out["decision"], return_counts=True)))
    print(f"inputs {len(x)}, samples to decide {drawn}, decisions {decisions}")
    print(f"one-at-a-time Algorithm 2: {single:.2f} s; batched: {batched:.2f} s; ratio {single / batched:.1f}x; "
          f"identical decisions: {same}")
    print(f"a bare batched forward of the same {drawn} samples: {forward:.2f} s "
          f"(the floor of any batched method; engine overhead {1e6 * (batched - forward) / drawn:.1f} us/sample)")

    points = [(0.001, 0.01), (0.01, 0.01), (0.1, 0.01), (0.01, 0.05), (0.01, 0.001)]
    common = dict(seed=7, batch_size=4096, device=a.device)
    for name in ("sprt", "paper"):
        rules = [make_rule(name, k, al, a.sweep_cap, 0) for k, al in points]
        t = time.perf_counter()
        separate = [certify(model, x, r, "linf", 0.1, info.num_classes, **common) for r in rules]
        t_separate = time.perf_counter() - t
        t = time.perf_counter()
        shared = certify_many(model, x, rules, "linf", 0.1, info.num_classes, **common)
        t_shared = time.perf_counter() - t
        same = all(np.array_equal(o[k], p[k]) for o, p in zip(shared, separate) for k in o)
        print(f"Tables 11/12 sweep, {name}, {len(points)} points, cap {a.sweep_cap}: one batched run per point "
              f"{t_separate:.2f} s; every point on one stream {t_shared:.2f} s; ratio {t_separate / t_shared:.2f}x; "
              f"identical results: {same}")
    for name in ("sprt", "paper"):
        r = simulate(make_rule(name, kappa, alpha, 10_000, 0), 0.9899, 10_000, seed=11)
        print(f"simulated false-certification rate, {name}, p = 0.9899, 10^4 runs, cap 10^4: {r['certified']:.4f}")


if __name__ == "__main__":
    main()

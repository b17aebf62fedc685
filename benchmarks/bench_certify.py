"""Certification wall time: the batched engine (bench.certify.engine) against Algorithm 2 one sample at a
time (bench.certify.rules.repeated_binomial.algorithm2: one forward and two scipy binomial tests per
sample), same model,
inputs and random streams; decisions must be identical. Then the kappa/alpha sweep of Tables 11/12 (kappa
0.001, 0.01, 0.1 at alpha 0.01; alpha 0.05, 0.001 at kappa 0.01) with every point replayed on one stream
of predictions (certify_many) against one batched run per point; results must be identical.

Then the certifiers' sample cost and error through the same engine (bench.certify.engine.at_share: inputs
whose vicinity samples agree with their class with probability p): per certifier and per p, mean samples
(the selection samples included), the ratio to Wald's bound log(1/alpha) / KL(p || p0) (the fewest any
level-alpha test needs on average), the exact mean by dynamic programming (bench.certify.rules.exact) and
the share certified, which for p <= p0 is the false-certification rate.

    PYTHONPATH=. python benchmarks/bench_certify.py [--inputs 40] [--device cpu] [--threads 1] [--sweep-cap 2000]
        [--share-inputs 2000]
"""
import argparse
import time

import numpy as np
import torch

from _model import digits_model
from bench.certify.engine import Streams, at_share, certify, certify_many
from bench.certify.rules import exact, make_rule, wald_bound
from bench.certify.rules.repeated_binomial import algorithm2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cap", type=int, default=2000)
    ap.add_argument("--sweep-cap", type=int, default=2000)
    ap.add_argument("--share-inputs", type=int, default=2000)
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
    for name in ("spike", "paper"):
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
    sample_costs(a.share_inputs)


def _num(x: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if np.isnan(x) else f"{x:{width}.{digits}f}"


def sample_costs(inputs: int, cap: int = 10_000):
    """Mean samples against Wald's bound and false certification, measured through the engine; at
    p <= p0 on at least 10^4 inputs (a binomial std of 0.001 at alpha = 0.01). exact: the rule's own
    numbers by dynamic programming (rules with a selected class)."""
    names = ("spike", "sprt", "paper")
    print(f"\nsample cost through the engine, cap {cap} (certified at p <= p0: the false-certification rate)")
    print(f"{'kappa':>6} {'alpha':>6} {'p':>7} {'inputs':>6} {'certifier':>9} {'mean':>7} {'exact':>7} {'Wald':>7} "
          f"{'ratio':>6} {'certified':>9} {'exact':>7}")
    for kappa, alpha, ps in ((0.01, 0.01, (1.0, 0.999, 0.995, 0.993, 0.99, 0.989)), (0.001, 0.01, (1.0, 0.9999))):
        p0 = 1 - kappa
        rules = [make_rule(name, kappa, alpha, cap, 0) for name in names]
        for p in ps:
            n = inputs if p > p0 else max(inputs, 10_000)
            t = time.perf_counter()
            outs = at_share(rules, p, n, seed=5)
            took = time.perf_counter() - t
            wald = wald_bound(p, p0, alpha) if p > p0 else float("nan")
            for name, rule, out in zip(names, rules, outs):
                mean = out["samples"].mean()
                ex = exact(rule, p) if rule.n0 else {"mean_samples": float("nan"), "certified": float("nan")}
                print(f"{kappa:6g} {alpha:6g} {p:7g} {n:6d} {name:>9} {mean:7.0f} {_num(ex['mean_samples'], 7, 0)} "
                      f"{_num(wald, 7, 0)} {_num(mean / wald, 6, 3)} {(out['decision'] == 'certified').mean():9.4f} "
                      f"{_num(ex['certified'], 7, 4)}")
            print(f"{'':>37}({took:.1f} s for the {len(names)} certifiers on one stream)")


if __name__ == "__main__":
    main()

"""PR-estimate throughput (bench.pr.estimate.agree_counts: sampling + forward + counting) against a
bare batched forward of the same number of pre-drawn inputs, same model and batch size.

    PYTHONPATH=. python benchmarks/bench_pr.py [--inputs 500] [--n 100] [--device cpu] [--threads 1]
"""
import argparse
import time

import torch

from _model import digits_model
from bench.pr.estimate import agree_counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=500)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, info, test = digits_model(device=a.device)
    x, y = test.x[:a.inputs], test.y[:a.inputs]
    bare = torch.rand(a.inputs * a.n, *x.shape[1:], device=a.device)

    def run_bare():
        with torch.no_grad():
            for j in range(0, len(bare), a.batch):
                model(bare[j:j + a.batch]).argmax(1)

    def run_pr():
        agree_counts(model, x, y, "linf", 0.1, a.n, a.batch, a.device)

    times = {}
    for name, fn in (("bare", run_bare), ("pr", run_pr)) * a.repeat:
        t = time.perf_counter()
        fn()
        if a.device != "cpu":
            torch.cuda.synchronize()
        times[name] = min(times.get(name, float("inf")), time.perf_counter() - t)
    total = a.inputs * a.n
    print(f"{total} samples: bare forward {times['bare']:.2f} s ({total / times['bare']:.0f}/s), "
          f"PR estimate {times['pr']:.2f} s ({total / times['pr']:.0f}/s); "
          f"throughput ratio {times['bare'] / times['pr']:.2f}x")


if __name__ == "__main__":
    main()

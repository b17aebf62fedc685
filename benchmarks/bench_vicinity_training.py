"""Benchmark: a VMT and a PRL training step with n vicinity samples per input, batched (one forward pass of
B x n inputs, as bench.recipes.vmt/prl do) against the loops of the reference implementations, measured
side by side in one run:

- loop over samples: n forward passes of the batch (advbench's CVaR_SGD loops over its M samples so);
- loop over inputs and samples: B x n forward passes of one input (Algorithm 1 of the certified-PR paper,
  written literally).

Both compute the same loss from the same samples (checked). Usage:
    PYTHONPATH=. python benchmarks/bench_vicinity_training.py [--arch small_cnn] [--dataset digits]
        [--batch 64] [--samples 50] [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from bench.data import DATASETS
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes.prl import cvar
from bench.recipes.vmt import vmt_objective
from bench.pr.vicinity import sample


def looped_losses(model, t: torch.Tensor, y: torch.Tensor, n: int, per_input: bool) -> torch.Tensor:
    """Per-sample CE (B, n) from the same samples t (rows b*n + j), computed with Python loops."""
    b = len(y)
    if per_input:
        return torch.stack([torch.stack([F.cross_entropy(model(t[i * n + j:i * n + j + 1]), y[i:i + 1])
                                         for j in range(n)]) for i in range(b)])
    cols = [F.cross_entropy(model(t[j::n]), y, reduction="none") for j in range(n)]
    return torch.stack(cols, dim=1)


def timed(fn, repeats: int, sync) -> tuple[float, torch.Tensor]:
    fn()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    sync()
    return (time.perf_counter() - start) / repeats, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    info = DATASETS.get(a.dataset)
    if a.dataset == "digits":
        x, y = info.load()[0].x[:a.batch], info.load()[0].y[:a.batch]
    else:  # random tensors of the dataset's shape: timings do not depend on the pixels
        x, y = torch.rand(a.batch, *info.shape), torch.randint(0, info.num_classes, (a.batch,))
    x, y = x.to(dev), y.to(dev)
    torch.manual_seed(0)
    model = build(a.arch, info).to(dev).train()
    n, eps = a.samples, info.eps["linf"]
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: every repeat sees the same weights
    ctx = TrainContext(info=info, epochs=1, steps_per_epoch=1, device=dev)
    t = sample("linf", x, n, eps)
    print(f"{a.dataset} {a.arch} batch {a.batch} x {n} samples on {dev}")
    for name, objective in (("vmt", lambda u: vmt_objective(u, 1.0)),
                            ("prl", lambda u: cvar(u, torch.ones(len(u), device=dev), 0.5))):
        recipe = RECIPES.get(name)(RECIPES.get(name).resolve({"samples": n, "t_steps": 0} if name == "prl"
                                                             else {"samples": n}, info), ctx)

        def batched():
            loss, _ = recipe.loss(model, x, y, StepState(0, 0, ctx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.detach()

        def looped(per_input: bool):
            def step():
                loss = objective(looped_losses(model, t, y, n, per_input))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                return loss.detach()
            return step

        with torch.no_grad():  # same samples, same loss: the batched view equals both loops
            u = F.cross_entropy(model(t), y.repeat_interleave(n), reduction="none").view(len(y), n)
            assert torch.allclose(u, looped_losses(model, t, y, n, False), rtol=1e-4, atol=1e-5)
        tb, _ = timed(batched, a.repeats, sync)
        ts, _ = timed(looped(False), a.repeats, sync)
        ti, _ = timed(looped(True), 1, sync)
        print(f"  {name}: batched {tb * 1e3:8.1f} ms/step | loop over samples {ts * 1e3:8.1f} ms ({ts / tb:5.1f}x) "
              f"| loop over inputs and samples {ti * 1e3:9.1f} ms ({ti / tb:6.1f}x)")


if __name__ == "__main__":
    main()

"""GPU check: the CUDA path of training (AMP + channels_last + pinned batches) and of evaluation, timed.

Run on a machine with a CUDA device (nothing is downloaded; digits is embedded, the ResNet-18 timing
uses random CIFAR-shaped tensors):

    PYTHONPATH=. python benchmarks/gpu_check.py [--n 8192] [--batch 128] [--out /tmp/gpu_check]

1. ResNet-18 training throughput on 3x32x32 inputs (crop_flip augmentation, SGD), one epoch each after
   a warm-up: erm with mixed precision (the default on CUDA), erm in float32 (amp off), pgdt
   (10-step PGD adversarial training) with mixed precision. All in channels_last.
2. A real cell on CUDA: the quickstart's erm digits cell trained with ``--device cuda`` (checks the
   checkpoint's metadata says amp and channels_last, and its test accuracy), its clean accuracy on CUDA
   vs CPU (evaluation runs in float32), and the harness-overhead ratio of its PGD eval cell vs a bare
   torchattacks loop on CUDA (benchmarks/bench_overhead.py's measurement).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from bench.data import DATASETS, Split, splits
from bench.execute.compute import compute
from bench.nets import build
from bench.recipes import RECIPES
from bench.execute.train import train
from bench.results import store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import REPO, measure, pick_cells  # noqa: E402


def throughput(recipe: str, amp: bool, split: Split, batch: int, args: dict) -> tuple[float, dict]:
    info = DATASETS.get("cifar10")
    settings = {"batch_size": batch, "epochs": 1, "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9,
                "weight_decay": 5e-4}, "schedule": {"name": "none"}, "augment": "crop_flip", "args": args}
    cls = RECIPES.get(recipe)
    saved = cls.amp
    cls.amp = amp
    try:
        warm = Split(split.x[:4 * batch], split.y[:4 * batch])
        train(build("resnet18", info), recipe, settings, warm, info, 0, torch.device("cuda"), show_bar=False)
        torch.cuda.synchronize()
        meta = train(build("resnet18", info), recipe, settings, split, info, 0, torch.device("cuda"),
                     show_bar=False)
        torch.cuda.synchronize()
    finally:
        cls.amp = saved
    return len(split) / meta["train_seconds"], meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8192, help="random training images for the ResNet-18 timing")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="/tmp/gpu_check")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device on this machine")
    torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")

    gen = torch.Generator().manual_seed(0)
    split = Split(torch.rand(args.n, 3, 32, 32, generator=gen), torch.randint(0, 10, (args.n,), generator=gen))
    pgd_args = RECIPES.get("pgdt").resolve({"alpha": 2 / 255}, DATASETS.get("cifar10"))
    results = {}
    for label, recipe, amp, rargs in (("erm amp", "erm", True, {}), ("erm fp32", "erm", False, {}),
                                      ("pgdt amp", "pgdt", True, pgd_args), ("pgdt fp32", "pgdt", False, pgd_args)):
        ips, meta = throughput(recipe, amp, split, args.batch, rargs)
        assert meta["amp"] is amp and meta["channels_last"] is True, meta
        results[label] = ips
        print(f"resnet18 {label:9s}: {ips:9.0f} images/s ({meta['steps']} steps, amp={meta['amp']}, "
              f"channels_last={meta['channels_last']})")
    print(f"AMP speed-up: erm {results['erm amp'] / results['erm fp32']:.2f}x, "
          f"pgdt {results['pgdt amp'] / results['pgdt fp32']:.2f}x")

    out = Path(args.out)
    train_cell, ev = pick_cells(str(REPO / "suites" / "quickstart.yaml"), "erm")
    start = time.perf_counter()
    compute(train_cell, out, "cuda", progress=False)
    meta = store.model_meta(out, train_cell.id)
    print(f"quickstart erm digits cell on cuda: {time.perf_counter() - start:.1f}s, amp={meta['amp']}, "
          f"channels_last={meta['channels_last']}, train acc {meta['final_train_accuracy']:.3f}")
    _, test = splits("digits")
    accs = {}
    for device in ("cuda", "cpu"):
        model = train_cell.load(out, device)
        with torch.no_grad():
            accs[device] = (model(test.x.to(device)).argmax(1).cpu() == test.y).float().mean().item()
    print(f"clean test accuracy: cuda {accs['cuda']:.4f}, cpu {accs['cpu']:.4f}")
    res = measure(train_cell, ev, out, "cuda", args.rounds)
    h, b = statistics.median(res["times"]["harness"]), statistics.median(res["times"]["bare"])
    print(f"PGD eval cell on cuda: harness {h:.3f}s, bare torchattacks loop {b:.3f}s, "
          f"same adversarial predictions: {res['same_adv_pred']}; overhead ratio {h / b:.3f}x")


if __name__ == "__main__":
    main()

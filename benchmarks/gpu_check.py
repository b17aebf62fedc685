"""GPU check: every GPU figure bench needs, from one command (`make gpu-check`), into one JSON file.

On a machine with one CUDA device it runs in a few minutes (goal: at most 8) and measures:

1. training throughput (images/s) of ResNet-18 under erm and pgdt (10-step PGD adversarial training), each
   with and without mixed precision, one epoch of CIFAR-shaped images after a warm-up epoch, through
   bench's training engine (channels_last, pinned batches);
2. attack throughput on that ResNet-18 (the erm model, in float32 as evaluations run, on inputs labelled
   with its own predictions so that every input is attacked): PGD-10 and the standard AutoAttack, each as inputs/s and as the ratio of its seconds per input to the model's own
   forward + backward floor (one forward and one input-gradient backward per input, batched), with the
   model passes per input it made (so ratio / passes is the harness's and the attack's overhead per pass);
3. a chunked AutoAttack cell (``autoattack: standard``, chunks of 250) on 1,000 CIFAR-shaped inputs of a
   small CNN, through ``bench.evaluate`` exactly as `bench run` computes a cell: its seconds on the GPU
   and on the CPU, and how far their rows agree (same adversarial prediction, same correctness, the same
   perturbation norms bit for bit): float arithmetic differs between the devices, so an input near the
   boundary may fall differently, and AutoAttack's random draws come from each device's own generator;
4. peak GPU memory (torch.cuda.max_memory_allocated over the whole check);
5. the quickstart's erm digits cell trained with ``--device cuda`` (amp and channels_last recorded), its
   clean accuracy on CUDA vs CPU, and the harness overhead of its PGD eval cell against a bare
   torchattacks loop on CUDA (benchmarks/bench_overhead.py's measurement).

The images are synthetic (nothing is downloaded: the GPU machine may have no network): a registered
dataset ``synthetic-cifar`` of 3x32x32 images, each one of ten fixed smooth random templates in strong
noise, so a model learns it in an epoch or two and is not robust (as an undefended CIFAR model is not):
attacks have something to break, and AutoAttack does not spend its whole cascade on every input.

Without CUDA (or with ``--quick``) the same code runs on the CPU at sizes that take under two minutes (a
small CNN in place of ResNet-18, fewer images, one torch thread; mixed precision is CUDA-only, so both of
a pair run in float32 there), and the cross-device comparison is replaced by a second CPU run of the cell (which must
be identical). tests/test_gpu_check.py runs that. Usage:

    PYTHONPATH=. python benchmarks/gpu_check.py [--quick] [--device auto|cuda|cpu]
        [--out results/gpu-check/gpu_check.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import bench
from bench.attacks.run import run_attack
from bench.data import DATASETS, DatasetInfo, Split, splits
from bench.evals import EVALS, EvalContext
from bench.execute.compute import compute
from bench.execute.train import train
from bench.nets import build
from bench.recipes import RECIPES
from bench.results import store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_overhead import REPO, measure, pick_cells  # noqa: E402

SYNTH = "synthetic-cifar"
FULL = {"arch": ("resnet18", {}), "train_n": 8192, "batch": 128, "attack_n": 1024, "aa_n": 500,
        "cell_n": 1000, "cell_chunk": 250, "cell_arch": ("cnn7", {"width": 16, "linear": 128}), "cell_epochs": 2}
QUICK = {"arch": ("cnn7", {"width": 8, "linear": 64}), "train_n": 512, "batch": 32, "attack_n": 64, "aa_n": 8,
         "cell_n": 48, "cell_chunk": 16, "cell_arch": ("cnn7", {"width": 8, "linear": 64}), "cell_epochs": 2}


def synthetic(n_train: int, n_test: int = 2000, seed: int = 0):
    """The loader of ``synthetic-cifar``: ten smooth random templates, each image 0.3 of one plus 0.7 noise."""
    def load(root=None, download=False):
        gen = torch.Generator().manual_seed(seed)
        coarse = torch.rand(10, 3, 4, 4, generator=gen)  # smooth templates: a few convolutions tell them apart
        templates = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)

        def split(n):  # a weak signal in strong noise: learnt in an epoch, and a PGD-10 at 8/255 breaks ~90%
            y = torch.randint(0, 10, (n,), generator=gen)
            noise = torch.rand(n, 3, 32, 32, generator=gen)
            return Split((0.5 + 0.3 * (templates[y] - 0.5) + 0.7 * (noise - 0.5)).clamp(0, 1), y)

        return split(n_train), split(n_test)

    return load


def register(n_train: int) -> None:
    if SYNTH not in DATASETS:
        DATASETS.add(SYNTH, DatasetInfo(SYNTH, (3, 32, 32), 10, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25),
                                        {"linf": 8 / 255, "l2": 0.5}, synthetic(n_train), "crop_flip",
                                        "benchmarks/gpu_check.py"))


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def settings(recipe: str, batch: int, epochs: int = 1) -> dict:
    args = RECIPES.get(recipe).resolve({"alpha": 2 / 255} if recipe == "pgdt" else {}, DATASETS.get(SYNTH))
    return {"batch_size": batch, "epochs": epochs, "augment": "crop_flip", "args": args,
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
            "schedule": {"name": "none"}}


def net(arch) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(arch[0], DATASETS.get(SYNTH), **arch[1])


def train_throughput(arch, recipe: str, amp: bool, data: Split, batch: int, device: str):
    """Images/s of one training epoch after a warm-up epoch on 4 batches; and the trained model."""
    info, cls = DATASETS.get(SYNTH), RECIPES.get(recipe)
    saved, cls.amp = cls.amp, amp
    try:
        warm = Split(data.x[:4 * batch], data.y[:4 * batch])
        train(net(arch), recipe, settings(recipe, batch), warm, info, 0, torch.device(device), show_bar=False)
        model = net(arch)
        seconds, meta = timed(lambda: train(model, recipe, settings(recipe, batch), data, info, 0,
                                            torch.device(device), show_bar=False), device)
    finally:
        cls.amp = saved
    return {"images_per_s": len(data) / seconds, "seconds": seconds, "amp": meta["amp"],
            "channels_last": meta["channels_last"], "final_train_accuracy": meta["final_train_accuracy"]}, model


class Passes:
    """Counts the inputs that go through the model (outermost module calls only) inside the block."""

    def __enter__(self):
        self.n, depth = 0, [0]

        def pre(module, args):
            depth[0] += 1

        def post(module, args, output):
            depth[0] -= 1
            if depth[0] == 0 and args and isinstance(args[0], torch.Tensor):
                self.n += len(args[0])

        self.handles = [torch.nn.modules.module.register_module_forward_pre_hook(pre),
                        torch.nn.modules.module.register_module_forward_hook(post, always_call=True)]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


def floor(model, x, y, batch: int, device: str) -> float:
    """Seconds per input of one forward and one backward to the input (the least any gradient attack does
    per step), batched; the median of 3 timed passes over x after one warm-up pass."""
    def one():
        for i in range(0, len(x), batch):
            xb = x[i:i + batch].to(device).requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(xb), y[i:i + batch].to(device))
            torch.autograd.grad(loss, xb)

    one()
    return statistics.median(timed(one, device)[0] for _ in range(3)) / len(x)


def attack_throughput(model, data: Split, n_pgd: int, n_aa: int, batch: int, device: str) -> dict:
    """PGD-10 and the standard AutoAttack on the model: inputs/s, seconds per input over the floor, passes."""
    model = model.to(device).eval()
    x = data.x[:n_pgd]
    with torch.no_grad():  # labelled with the model's own predictions: every input is attacked
        y = torch.cat([model(x[i:i + batch].to(device)).argmax(1).cpu() for i in range(0, len(x), batch)])
    acc = float((y == data.y[:n_pgd]).float().mean())
    base = floor(model, x, y, batch, device)
    out = {"floor_seconds_per_input": base, "clean_accuracy": acc}
    info = DATASETS.get(SYNTH)
    name, params = EVALS.get("autoattack").resolve("standard", {}, info, None)
    aa = EVALS.get("autoattack")(name, params)
    runs = {"pgd10": (n_pgd, lambda xs, ys: run_attack(model, "PGD", {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10,
                                                                      "random_start": True}, xs, ys, batch, device)),
            "autoattack": (n_aa, lambda xs, ys: aa.run(model, xs, ys, EvalContext(info, torch.device(device), batch,
                                                                                   0, {})))}
    for key, (n, fn) in runs.items():
        torch.manual_seed(0)
        with Passes() as passes:
            seconds, cols = timed(lambda: fn(x[:n], y[:n]), device)
        per, yn = seconds / n, y[:n].numpy()
        out[key] = {"inputs": n, "seconds": seconds, "inputs_per_s": n / seconds, "ratio_to_floor": per / base,
                    "passes_per_input": passes.n / n,
                    "robust_accuracy": float(np.mean((cols["pred"] == yn) & (cols["adv_pred"] == yn)))}
    return out


def chunked_cell(model, n: int, chunk: int, batch: int, device: str) -> dict:
    """The chunked AutoAttack cell through bench.evaluate on ``device`` and on the CPU (on the CPU alone:
    twice), seconds each, and how far the rows agree."""
    runs = {}
    for side in (device, "cpu") if device != "cpu" else ("cpu", "cpu again"):
        dev = side.split()[0]
        seconds, rows = timed(lambda: bench.evaluate(copy.deepcopy(model), dataset=SYNTH, n_test=n, device=dev,
                                                     batch_size=batch, label="gpu-check", normalize="none",
                                                     progress=False,
                                                     evaluations=[{"autoattack": "standard", "chunk": chunk}]), dev)
        runs[side] = (seconds, rows.sort_values("index").reset_index(drop=True))
    (a_side, (a_s, a)), (b_side, (b_s, b)) = runs.items()
    same = {col: float((a[col].to_numpy() == b[col].to_numpy()).mean()) for col in ("pred", "adv_pred", "correct")}
    norms = {col: float((a[col].to_numpy() == b[col].to_numpy()).mean()) for col in ("linf", "l2")}
    return {"inputs": n, "chunk": chunk, "chunks": -(-n // chunk), "seconds": {a_side: a_s, b_side: b_s},
            "robust_accuracy": {a_side: float(a["correct"].mean()), b_side: float(b["correct"].mean())},
            "rows_identical": bool(a.drop(columns="cell").equals(b.drop(columns="cell"))),
            "share_equal": same, "norms_bit_equal": norms}


def quickstart(out: Path, rounds: int) -> dict:
    """The quickstart's erm digits cell trained on CUDA, its accuracy on CUDA and CPU, the PGD cell's overhead."""
    train_cell, ev = pick_cells(str(REPO / "suites" / "quickstart.yaml"), "erm")
    seconds, _ = timed(lambda: compute(train_cell, out, "cuda", progress=False), "cuda")
    meta = store.model_meta(out, train_cell.id)
    _, test = splits("digits")
    accs = {}
    for device in ("cuda", "cpu"):
        model = train_cell.load(out, device)
        with torch.no_grad():
            accs[device] = float((model(test.x.to(device)).argmax(1).cpu() == test.y).float().mean())
    res = measure(train_cell, ev, out, "cuda", rounds)
    h, b = statistics.median(res["times"]["harness"]), statistics.median(res["times"]["bare"])
    return {"train_seconds": seconds, "amp": meta["amp"], "channels_last": meta["channels_last"],
            "clean_accuracy": accs, "pgd_cell": {"harness_s": h, "bare_s": b, "overhead": h / b,
                                                 "same_adv_pred": res["same_adv_pred"]}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (the CPU check; implied without CUDA)")
    ap.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the quickstart PGD cell's overhead timing")
    ap.add_argument("--out", default=str(REPO / "results" / "gpu-check" / "gpu_check.json"))
    args = ap.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: --device cuda, but no CUDA device is available")
    quick = args.quick or device == "cpu"
    if device == "cpu" and not args.quick:
        print("gpu_check: no CUDA device; running the CPU check (--quick)", file=sys.stderr)
    size = QUICK if quick else FULL
    if quick:  # small models gain nothing from more threads; on a shared CPU competing ones make them crawl
        torch.set_num_threads(1)
    start = time.perf_counter()
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    register(size["train_n"])
    data, _ = splits(SYNTH)
    report = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "quick": quick,
              "torch": torch.__version__, "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
              "arch": size["arch"][0], "training": {}}
    models = {}
    for recipe in ("erm", "pgdt"):
        for amp in (True, False):
            label = f"{recipe} {'amp' if amp else 'fp32'}"
            report["training"][label], models[label] = train_throughput(size["arch"], recipe, amp, data,
                                                                         size["batch"], device)
            print(f"train {label}: {report['training'][label]['images_per_s']:.0f} images/s", flush=True)
    report["attacks"] = attack_throughput(models["erm fp32"], data, size["attack_n"], size["aa_n"], size["batch"],
                                          device)
    print(f"attacks: {json.dumps(report['attacks'])}", flush=True)
    cell_model = net(size["cell_arch"])
    train(cell_model, "erm", settings("erm", 32, size["cell_epochs"]), data, DATASETS.get(SYNTH), 0,
          torch.device("cpu"), show_bar=False)  # trained on the CPU: the same weights for both devices
    report["chunked_autoattack_cell"] = chunked_cell(cell_model.eval(), size["cell_n"], size["cell_chunk"],
                                                     size["batch"], device)
    print(f"chunked cell: {json.dumps(report['chunked_autoattack_cell'])}", flush=True)
    if device == "cuda" and not quick:
        report["quickstart"] = quickstart(Path(args.out).parent / "quickstart", args.rounds)
    report["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    report["seconds"] = time.perf_counter() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"gpu_check: {report['seconds']:.0f}s on {report['device']} -> {args.out}")
    return report


if __name__ == "__main__":
    main()

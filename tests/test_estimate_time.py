"""`bench run --estimate` (bench.plan.estimate): the arithmetic with fixed timings, and a real run on CPU."""
from __future__ import annotations

import re

import pytest

from bench.suite.config import load_suite
from bench.plan.estimate import estimate, render

SUITE = """\
    name: est
    datasets:
      digits: {n_test: 40}
      fashion-mnist: {n_test: 20000, n_train: 1000}
    recipes: [erm, pgdt]
    seeds: [0, 1]
    evaluations:
      - clean
      - attack: PGD
        params: {steps: 3}
    """


def test_estimate_arithmetic_with_fixed_timings(tiny_suite, tmp_path):
    card = (tmp_path / "models" / "erm.yaml").read_text()
    fashion = "  fashion-mnist: {arch: small_cnn, epochs: 3, batch_size: 300, optimizer: {name: adam, lr: 1.0e-3}}\n"
    for name in ("erm", "pgdt"):
        path = tmp_path / "models" / f"{name}.yaml"
        path.write_text(path.read_text() + fashion)
    assert card  # the tiny cards: digits 1 epoch at batch 128
    from bench.plan.grid import plan

    trains, evals = plan(load_suite(tiny_suite(SUITE)))
    calls = {"train": [], "eval": []}

    def train_step(method, cfg, info, device, steps_per_epoch):
        calls["train"].append((info.name, method, steps_per_epoch))
        return {"erm": 0.5, "pgdt": 2.0}[method] * (10 if info.name == "fashion-mnist" else 1)

    def eval_input(cell, info, device):
        calls["eval"].append((info.name, cell.name))
        return 0.01 if cell.kind == "clean" else 0.3

    rows = estimate(trains, evals, "cpu", train_step=train_step, eval_input=eval_input,
                    done=lambda kind, c: kind == "train" and c.dataset == "digits" and c.recipe == "erm" and c.seed == 1)
    # each distinct setting is timed once: seeds share it
    assert sorted(calls["train"]) == [("digits", "erm", 11), ("digits", "pgdt", 11),
                                      ("fashion-mnist", "erm", 4), ("fashion-mnist", "pgdt", 4)]
    assert len(calls["eval"]) == 4  # {digits, fashion} x {clean, PGD}; recipes and seeds share the arch
    by = {r["label"]: r for r in rows}
    assert "digits erm seed 1" not in by and len(rows) == 7 + 16  # 7 train cells to run, 16 eval cells
    # digits: 1297 images / batch 128 = 11 steps an epoch, 1 epoch
    assert by["digits erm seed 0"]["units"] == 11 and by["digits erm seed 0"]["hours"] == pytest.approx(11 * 0.5 / 3600)
    assert by["digits pgdt seed 1"]["hours"] == pytest.approx(11 * 2.0 / 3600)
    # fashion: n_train 1000 / batch 300 = 4 steps an epoch, 3 epochs, 20 s a pgdt step
    assert by["fashion-mnist pgdt seed 0"]["units"] == 12
    assert by["fashion-mnist pgdt seed 0"]["hours"] == pytest.approx(12 * 20.0 / 3600)
    # evaluation: n_test 40 on digits; fashion's 20000 is capped at its 10000 test images
    assert by["digits erm seed 0 attack:PGD"]["hours"] == pytest.approx(40 * 0.3 / 3600)
    assert by["fashion-mnist pgdt seed 1 clean"]["units"] == 10000
    assert by["fashion-mnist pgdt seed 1 clean"]["hours"] == pytest.approx(10000 * 0.01 / 3600)
    train = 11 * 0.5 + 2 * 11 * 2.0 + 2 * 12 * 5.0 + 2 * 12 * 20.0
    ev = 4 * (40 * 0.01 + 40 * 0.3) + 4 * (10000 * 0.01 + 10000 * 0.3)
    text = render(rows, "cpu")
    assert f"total: {(train + ev) / 3600:.2f} h ({train / 3600:.2f} h training, {ev / 3600:.2f} h evaluation)" in text
    assert re.search(r"train digits erm seed 0 +11 steps +x 0\.5 s = 0\.002 h", text)


def test_bench_run_estimate_times_real_steps(tiny_suite, cli, tmp_path):
    out = tmp_path / "res"
    code, stdout, err = cli("run", tiny_suite(), "--out", out, "--device", "cpu", "--estimate")
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith("estimate on cpu:") and lines[-1].startswith("total: ")
    cells = [line for line in lines if re.match(r"\s+(train|eval) ", line)]
    assert len(cells) == 2 + 4
    hours = [float(m) for m in re.findall(r"= ([0-9.]+) h", "\n".join(cells))]
    seconds = [float(m) for m in re.findall(r"x ([0-9.e-]+) s =", "\n".join(cells))]
    assert all(s > 0 for s in seconds)
    assert float(re.search(r"total: ([0-9.]+) h", lines[-1]).group(1)) == pytest.approx(sum(hours), abs=0.006)
    assert not out.exists()  # writes nothing


def test_estimate_times_an_external_model_itself(tmp_path, cli):
    """An external model is loaded, not trained (no train line); its evaluations are timed on the model."""
    import torch

    from bench.data import DATASETS
    from bench.nets import build

    torch.manual_seed(0)
    torch.save(build("small_cnn", DATASETS.get("digits"), width=8).state_dict(), tmp_path / "net.pt")
    suite = tmp_path / "ext.yaml"
    suite.write_text("name: ext\ndatasets: {digits: {n_test: 40}}\n"
                     "models:\n  - {as: mine, arch: small_cnn, arch_args: {width: 8}, checkpoint: net.pt, normalize: none}\n"
                     "evaluations: [clean, {attack: PGD, params: {steps: 3}}]\n")
    code, stdout, err = cli("run", suite, "--out", tmp_path / "res", "--device", "cpu", "--estimate")
    assert code == 0, err
    cells = [line.split() for line in stdout.splitlines() if re.match(r"\s+(train|eval) ", line)]
    assert [c[:5] for c in cells] == [["eval", "digits", "mine", "seed", "0"]] * 2
    assert [c[5] for c in cells] == ["clean", "attack:PGD"] and all(c[6] == "40" for c in cells)
    assert not (tmp_path / "res").exists()


def test_estimate_spreads_chunks_over_workers_flags_long_cells_and_says_what_it_times(tiny_suite):
    from bench.plan.estimate import spread
    from bench.plan.grid import plan

    trains, evals = plan(load_suite(tiny_suite("""\
        name: est
        datasets:
          digits: {n_test: 400}
        recipes: [erm]
        chunk: 100
        evaluations:
          - clean
          - attack: PGD
        """)))
    said = []
    rows = estimate(trains, evals, "cpu", train_step=lambda *a: 600.0, eval_input=lambda c, i, d: 0.1 if c.kind == "clean" else 36.0,
                    say=said.append)
    # one line before and after each of the 3 timings (a training step, clean, PGD)
    assert len(said) == 6 and said[0].startswith("timing 1/3: a training step of digits erm") and said[1].endswith(")")
    by = {r["label"]: r for r in rows}
    pgd = by["digits erm seed 0 attack:PGD"]
    assert pgd["chunks"] == 4 and pgd["hours"] == pytest.approx(4.0)  # 400 inputs x 36 s
    # training: 11 steps x 600 s = 1.83 h on one worker; then PGD's 4 chunks of 1 h and clean's 4 short ones
    assert spread(rows, 1) == pytest.approx(11 * 600 / 3600 + 4.0 + 400 * 0.1 / 3600)
    assert spread(rows, 4) == pytest.approx(11 * 600 / 3600 + 1.0 + 100 * 0.1 / 3600)
    text = render(rows, "cpu", workers=4)
    assert re.search(r"attack:PGD +400 inputs x 36 s = 4\.000 h in 4 chunks, 1\.000 h on 4 workers  ! over 1 h", text)
    assert "on 4 workers: about 2.84 h" in text and "2 cells over an hour (marked !)" in text
    assert "on 4 workers" not in render(rows, "cpu")


def test_workers_needs_estimate(tiny_suite, cli, tmp_path):
    code, _, err = cli("run", tiny_suite(), "--out", tmp_path, "--workers", "2")
    assert code == 2 and "--workers applies to --estimate only" in err
    code, _, err = cli("run", tiny_suite(), "--out", tmp_path, "--workers", "0", "--estimate")
    assert code == 2 and "--workers must be at least 1" in err

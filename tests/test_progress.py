"""Progress lines a batch job can read (bench.execute.progress), and `bench run --log`."""
from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.execute import progress
from bench.execute.progress import Board, duration

ROOT = Path(__file__).resolve().parents[1]


def _train(recipe, epochs):
    return SimpleNamespace(label=f"d/{recipe}/s0", epochs=epochs)


def _board():
    stream = io.StringIO()
    return Board(lines=True, stream=stream), stream


def test_duration():
    assert [duration(s) for s in (4.4, 59.6, 187, 3600 * 2 + 300)] == ["4s", "1m00s", "3m07s", "2h05m"]


def test_epoch_lines_and_eta_arithmetic():
    board, stream = _board()
    a, b = _train("a", 4), _train("b", 2)
    done = _train("c", 9)
    board.begin([a, b, done], ["e1", "e2", "e3"], lambda c: c is done, lambda e: e == "e3")
    board.epoch("d/a/s0", 1, 4, 0.5, 0.25, elapsed=10.0)
    # 10 s an epoch; cell: 3 epochs left = 30 s; run: (3 + 2) epochs x 10 s, two evals not yet timed
    board.epoch("d/a/s0", 2, 4, 0.4, 0.5, elapsed=30.0)
    # epochs took 10 and 20 s (mean 15); cell: 30 s / 2 epochs x 2 left = 30 s; run: (2 + 2) x 15 = 60 s
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("run: 2 model cells and 2 eval cells to run")
    assert lines[1].endswith("epoch 1/4 d/a/s0: loss 0.5000 acc 0.2500 10.0s | cell ETA 30s | run ETA 50s + 2 evals")
    assert lines[2].endswith("epoch 2/4 d/a/s0: loss 0.4000 acc 0.5000 20.0s | cell ETA 30s | run ETA 1m00s + 2 evals")
    board.epoch("d/a/s0", 4, 4, 0.3, 0.6, elapsed=60.0)  # epochs 3-4 in one report: 30 s; mean (10+20+30)/3
    board.cell_done("train", "d/a/s0", 1, 3, 61.0, "train acc 0.600")
    # b's 2 epochs x 20 s = 40 s, evals still untimed
    assert stream.getvalue().splitlines()[-1].endswith("done train 1/3 d/a/s0 in 61.0s (train acc 0.600) | run ETA 40s + 2 evals")
    board.epoch("d/b/s0", 1, 2, 0.9, 0.1, elapsed=200.0)
    # b runs at its own 200 s an epoch: its ETA (200 s), not the mean epoch (65 s), is the run's training part
    assert stream.getvalue().splitlines()[-1].endswith("200.0s | cell ETA 3m20s | run ETA 3m20s + 2 evals")
    board.epoch("d/b/s0", 2, 2, 0.8, 0.2, elapsed=400.0)
    board.cell_done("train", "d/b/s0", 2, 3, 401.0)
    board.cell_done("eval", "d/b/s0 clean", 1, 3, 5.0)
    # no training left; 1 eval left x 5 s
    assert stream.getvalue().splitlines()[-1].endswith("done eval 1/3 d/b/s0 clean in 5.0s | run ETA 5s")


def test_evaluating_counts_outermost_forwards_and_forwards_autoattack_log():
    now = [0.0]
    stream = io.StringIO()
    board = Board(lines=True, stream=stream, clock=lambda: now[0])
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with board.evaluating("d/a/s0 certify:linf", interval=30):
        model(torch.zeros(5, 3))       # t = 0: no line yet
        now[0] = 31.0
        model(torch.zeros(7, 3))       # 12 inputs (not 36: the submodules' calls are not counted)
        now[0] = 40.0
        model(torch.zeros(1, 3))       # 9 s since the last line: quiet
        logging.getLogger("auto-attack").debug("robust accuracy after APGD-CE: 61.20%")
    model(torch.zeros(2, 3))           # hooks removed
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("eval d/a/s0 certify:linf: 31s, 12 inputs through the model")
    assert lines[1].endswith("eval d/a/s0 certify:linf: robust accuracy after APGD-CE: 61.20%")
    assert logging.getLogger("auto-attack").level == logging.NOTSET
    assert not torch.nn.modules.module._global_forward_hooks


def test_board_writes_lines_and_warnings_to_the_log_file(tmp_path):
    log = tmp_path / "run.log"
    with progress.board(lines=False, log_file=log):
        progress.epoch("d/a/s0", 1, 2, 1.0, 0.5, 3.0)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("something odd", RuntimeWarning)
    progress.epoch("d/a/s0", 2, 2, 1.0, 0.5, 6.0)  # no board: a no-op
    text = log.read_text()
    assert "epoch 1/2 d/a/s0: loss 1.0000 acc 0.5000 3.0s | cell ETA 3s" in text
    assert "warning: " in text and "RuntimeWarning: something odd" in text
    assert "epoch 2/2" not in text and progress.active() is None


@pytest.mark.slow  # a subprocess: imports torch and trains (about 30 s on a loaded 2-core machine)
def test_bench_run_to_a_file_prints_epoch_lines(tiny_suite, tmp_path):
    suite = tiny_suite("name: tiny\ndatasets: {digits: {n_test: 40}}\nrecipes: [{card: erm, epochs: 2}]\n"
                       "evaluations: [clean]\n")
    out = tmp_path / "res"
    err = tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with open(err, "w") as f:
        proc = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--out", str(out), "--device", "cpu",
                               "--log", "run.log"], stdout=subprocess.PIPE, stderr=f, text=True, env=env, timeout=300)
    text = err.read_text()
    assert proc.returncode == 0, text
    epochs = [line for line in text.splitlines() if " epoch " in line]
    assert len(epochs) == 2, text
    assert "epoch 1/2 digits/erm/s0: loss " in epochs[0] and "| cell ETA " in epochs[0] and "| run ETA " in epochs[0]
    assert "epoch 2/2 digits/erm/s0: loss " in epochs[1] and "cell ETA 0s" in epochs[1]
    assert "done train 1/1 digits/erm/s0 in " in text and "done eval 1/1 digits/erm/s0 clean in " in text
    assert "\r" not in text  # no tqdm bar when stderr is a file
    meta = json.loads(next((out / "models").glob("*.json")).read_text())
    assert f"acc {meta['final_train_accuracy']:.4f}" in epochs[1]
    assert (out / "run.log").read_text().count(" epoch ") == 2

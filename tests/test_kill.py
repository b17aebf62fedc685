"""A run killed at 10 random moments (half of them between a temporary file's write and its rename, half
at random times) and resumed each time ends with the rows of an uninterrupted run and no `.tmp` left."""
from __future__ import annotations

import os
import random
import signal
import time

import pandas as pd

from bench import results
from bench.results import store
from bench.cli import main
from bench.suite.config import load_suite
from bench.plan.grid import plan

SUITE = """\
name: kill
datasets:
  digits: {n_test: 30}
recipes:
  - erm
  - {card: erm, as: erm-2, epochs: 2}
evaluations:
  - clean
  - attack: FGSM
"""


def _child(argv: list[str], kill_at_rename: int | None) -> int:
    """Fork a `bench run`; with ``kill_at_rename`` it SIGKILLs itself just before that os.replace (the
    temporary file is written, the rename not done)."""
    pid = os.fork()
    if pid:
        return pid
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        if kill_at_rename is not None:
            real, calls = os.replace, [0]

            def replace(src, dst):
                calls[0] += 1
                if calls[0] == kill_at_rename:
                    os.kill(os.getpid(), signal.SIGKILL)
                real(src, dst)

            os.replace = replace
        code = main(argv)
    except BaseException:
        code = 99
    os._exit(code)


def _rows(out) -> pd.DataFrame:
    return results.read_rows(out).sort_values(["cell", "index"]).reset_index(drop=True)


def test_killed_runs_resume_to_the_same_rows(tiny_suite, tmp_path, capsys):
    path = tiny_suite(SUITE)
    assert main(["run", str(path), "--out", str(tmp_path / "whole"), "--device", "cpu", "--quiet"]) == 0
    start = time.perf_counter()
    assert main(["run", str(path), "--out", str(tmp_path / "timing"), "--device", "cpu", "--quiet"]) == 0
    seconds = time.perf_counter() - start
    capsys.readouterr()

    trains, evals = plan(load_suite(path))
    rng = random.Random(12)
    out = tmp_path / "killed"
    argv = ["run", str(path), "--out", str(out), "--device", "cpu", "--quiet"]
    killed = {"rename": 0, "time": 0}
    for moment in range(10):
        # a resumed run renames run.json twice, each missing model's .json and .pt, each missing parquet
        left = sum(2 * (not store.model_done(out, c.id)) for c in trains) + sum(
            not store.eval_done(out, c.id) for c in evals)
        how = "rename" if moment % 2 == 0 else "time"
        pid = _child(argv, rng.randint(1, 2 + left) if how == "rename" else None)
        if how == "time":
            time.sleep(rng.uniform(0.1, 0.9) * seconds * left / (2 * len(trains) + len(evals)))
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed[how] += os.WIFSIGNALED(status)
        assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, status
    assert killed["rename"] == 5 and killed["time"] >= 3, killed  # the moments fell inside runs
    assert main(argv) == 0
    pd.testing.assert_frame_equal(_rows(out), _rows(tmp_path / "whole"))
    assert not list(out.rglob("*.tmp"))

"""The Ray executor on a local 2-CPU Ray instance: the same rows as the local executor, a worker killed
mid-cell is retried, a failing cell is reported while the others finish, resource checks."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.results import store
from bench.suite.config import load_suite
from bench.errors import UserError
from bench.execute.local import run_local
from bench.plan.grid import plan
from bench.execute.cluster import Resources, resolve


def _children() -> set[int]:
    """Live descendants of this process (read from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, todo = set(), [os.getpid()]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found.update(kids)
        todo.extend(kids)
    return found


def _titled(prefix: str) -> list[int]:
    """Pids of processes whose title (cmdline) starts with prefix: Ray names a busy worker ray::<task>."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(prefix.encode()):
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    before = _children()
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    deadline = time.time() + 20
    while _children() - before and time.time() < deadline:
        time.sleep(0.2)
    assert not _children() - before, "Ray processes left behind after ray.shutdown()"


def _rows(out: Path) -> pd.DataFrame:
    df = pd.read_parquet(out / "samples")
    return df.sort_values(["cell", "evaluation", "index"]).reset_index(drop=True)


def _local_rows(suite_path: Path, out: Path) -> pd.DataFrame:
    """The local executor's rows, with one torch thread like each Ray task (cpus_per_task 1): torch's
    multi-threaded CPU reductions may round a PGD gradient differently, changing a perturbation norm."""
    trains, evals = plan(load_suite(suite_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_local(trains, evals, out, "cpu", None, show_bars=False, log=lambda s: None)
    finally:
        torch.set_num_threads(threads)
    return _rows(out)


@pytest.mark.slow
def test_ray_rows_equal_local(local_ray, tiny_suite, cli, tmp_path):
    suite = tiny_suite()
    left = tmp_path / "ray" / "samples" / ".0123456789abcdef.parquet.4242.deadbeef.tmp"  # a killed run's
    left.parent.mkdir(parents=True)
    left.write_bytes(b"partial")
    code, out, err = cli("run", suite, "--out", tmp_path / "ray", "--executor", "ray", "--quiet",
                         "--log", tmp_path / "run.log")
    assert code == 0, err
    assert "trained 2 (skipped 0), evaluated 4 (skipped 0)" in out
    assert out.count("on ") >= 6  # every cell's log line names its node
    assert not left.exists() and f"removed {left}" in out
    log = (tmp_path / "run.log").read_text()
    assert "run: 2 model cells and 4 eval cells to run" in log
    assert log.count("] done train ") == 2 and log.count("] done eval ") == 4 and "0 cells left" in log
    got = _rows(tmp_path / "ray")
    want = _local_rows(suite, tmp_path / "local")
    assert len(got) == 2 * 2 * 40
    pd.testing.assert_frame_equal(got, want)
    # a second run skips every cell
    code, out, _ = cli("run", suite, "--out", tmp_path / "ray", "--executor", "ray", "--quiet")
    assert code == 0 and "trained 0 (skipped 2), evaluated 0 (skipped 4)" in out


@pytest.mark.slow
def test_worker_killed_mid_cell_is_retried(local_ray, tiny_suite, tmp_path):
    from bench.execute.cluster import run_ray

    suite = tiny_suite("""\
        name: kill
        datasets:
          digits: {n_test: 40}
        recipes:
          - {card: erm, epochs: 30}
        evaluations: [clean]
        """)
    trains, evals = plan(load_suite(suite))
    out = tmp_path / "ray"
    result, lines = {}, []

    def go():
        try:
            result["counts"] = run_ray(trains, evals, out, "cpu", None, Resources(), log=lines.append)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = e

    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.time() + 40
    victims = []
    while not victims and time.time() < deadline:
        victims = _titled("ray::bench-train")
        time.sleep(0.05)
    assert victims, "no worker ran the train cell"
    time.sleep(0.3)  # inside the cell (it trains for seconds)
    assert not store.model_done(out, trains[0].id)
    os.kill(victims[0], signal.SIGKILL)
    thread.join(240)  # a restarted worker imports torch and retrains: slow on a loaded 2-core machine
    assert not thread.is_alive(), "the run did not finish within 240 s of the kill"
    assert "error" not in result, result.get("error")
    assert result["counts"]["trained"] == 1 and result["counts"]["evaluated"] == 1
    assert store.model_done(out, trains[0].id)
    pd.testing.assert_frame_equal(_rows(out), _local_rows(suite, tmp_path / "local"))


@pytest.mark.slow
def test_failed_cell_reported_others_finish(local_ray, tiny_suite, cli, tmp_path):
    # mnist's files are there but damaged (a missing dataset is refused before the run, by bench.data.check_installed):
    # its cells fail, digits' cells complete
    raw = tmp_path / "baddata" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not an idx file")
    (tmp_path / "models" / "erm.yaml").write_text(
        "method: erm\npaper: test card\ndatasets:\n"
        "  digits: {arch: small_cnn, arch_args: {width: 8}, epochs: 1, batch_size: 128, optimizer: {name: adam, lr: 0.003}}\n"
        "  mnist: {arch: small_cnn, arch_args: {width: 8}, epochs: 1, batch_size: 128, optimizer: {name: adam, lr: 0.003}}\n")
    suite = tiny_suite("""\
        name: partial
        datasets: [digits, mnist]
        n_test: 20
        recipes: [erm]
        evaluations: [clean]
        """)
    code, out, err = cli("run", suite, "--out", tmp_path / "ray", "--executor", "ray", "--quiet",
                         "--data-root", tmp_path / "baddata")
    assert code == 2
    assert err.startswith("bench: error: 2 cells failed: train ") and "mnist erm seed 0" in err
    assert "Traceback" not in err
    assert "not an IDX file" in out  # the cause, on the failed cell's log line
    assert set(_rows(tmp_path / "ray").dataset) == {"digits"}


def test_resource_checks(local_ray, tiny_suite, cli, tmp_path):
    code, _, err = cli("run", tiny_suite(), "--out", tmp_path, "--executor", "ray", "--gpus-per-task", "1")
    assert code == 2 and "asks for 1 GPUs but the Ray cluster has 0" in err
    code, _, err = cli("run", tiny_suite(), "--out", tmp_path, "--executor", "ray", "--cpus-per-task", "3")
    assert code == 2 and "asks for 3 CPUs but the Ray cluster has 2" in err


def test_resolve_device_and_resources():
    assert resolve("auto", None, None) == ("cpu", Resources(1.0, 0.0))
    assert resolve("auto", 0.5, 2) == ("cuda", Resources(2.0, 0.5))
    assert resolve("cuda", None, None) == ("cuda", Resources(1.0, 1.0))
    with pytest.raises(UserError, match="needs --gpus-per-task above 0"):
        resolve("cuda", 0, None)
    with pytest.raises(UserError, match="would hold GPUs it never uses"):
        resolve("cpu", 1, None)


def test_cli_flags(tiny_suite, cli, tmp_path):
    code, _, err = cli("run", tiny_suite(), "--out", tmp_path, "--address", "auto")
    assert code == 2 and "--address applies to --executor ray only" in err
    code, _, err = cli("run", tiny_suite("""\
        name: r
        datasets: [digits]
        recipes: [erm]
        evaluations: [clean]
        resources: {gpus_per_tsk: 1}
        """), "--out", tmp_path, "--executor", "ray")
    assert code == 2 and "gpus_per_tsk" in err and "gpus_per_task" in err


CHUNKED = """\
    name: chunked
    datasets:
      digits: {n_test: 48}
    recipes: [erm]
    batch_size: 8
    chunk: 8
    evaluations:
      - attack: PGD
        params: {steps: 3}
      - pr: linf
        n: 8
    """


@pytest.mark.slow
@pytest.mark.parametrize("cpus", [1.5, 1.0, 0.6])  # on 2 CPUs: 1, 2 and 3 tasks at once, one torch thread each
def test_chunks_spread_over_workers_rows_equal_local(local_ray, tiny_suite, tmp_path, cpus):
    from bench.execute.cluster import run_ray

    suite = tiny_suite(CHUNKED)
    trains, evals = plan(load_suite(suite))
    assert [c.n_chunks for c in evals] == [6, 6]
    lines = []
    counts = run_ray(trains, evals, tmp_path / "ray", "cpu", None, Resources(cpus=cpus), log=lines.append)
    assert counts["evaluated"] == 2 and not list((tmp_path / "ray").glob(".chunks/*"))
    pd.testing.assert_frame_equal(_rows(tmp_path / "ray"), _local_rows(suite, tmp_path / "local"))


@pytest.mark.slow
def test_chunk_workers_killed_at_random_moments(local_ray, tiny_suite, tmp_path):
    """Chunk tasks' workers SIGKILLed at random moments: Ray re-runs those chunks, the rest are kept, and
    the rows are the local executor's."""
    import random

    from bench.execute.cluster import run_ray

    suite = tiny_suite(CHUNKED.replace("n: 8", "n: 64"))
    trains, evals = plan(load_suite(suite))
    out = tmp_path / "ray"
    result = {}

    def go():
        try:
            result["counts"] = run_ray(trains, evals, out, "cpu", None, Resources(max_retries=5), log=lambda s: None)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = e

    thread = threading.Thread(target=go)
    thread.start()
    rng, killed = random.Random(4), 0
    deadline = time.time() + 120
    while killed < 3 and thread.is_alive() and time.time() < deadline:
        victims = _titled("ray::bench-chunk")
        if victims:
            time.sleep(rng.uniform(0.0, 0.5))
            try:
                os.kill(rng.choice(victims), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    thread.join(300)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    assert killed >= 1, "no chunk worker was killed"
    pd.testing.assert_frame_equal(_rows(out), _local_rows(suite, tmp_path / "local"))

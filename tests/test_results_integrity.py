"""Results integrity (issue 12): reports read exactly the current suite's cells, ids hash code versions,
damaged files are recomputed, result files honour the umask, cells are locked, a failed write leaves
nothing behind."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from bench import results
from bench.results import atomic, locks, runfile
from bench.results import folder, store
from bench.attacks import ATTACKS
from bench.suite.config import load_suite
from bench.evals import EVALS
from bench.plan.grid import plan
from bench.recipes import RECIPES

SUITE = """\
    name: tiny
    datasets:
      digits: {{n_test: {n_test}}}
    recipes:
      - {{card: erm, epochs: {epochs}}}
    evaluations:
      - clean
      - attack: FGSM
    sample_seed: {sample_seed}
    """


def suite(tiny_suite, epochs=1, n_test=20, sample_seed=0):
    return tiny_suite(SUITE.format(epochs=epochs, n_test=n_test, sample_seed=sample_seed))


def rows(out: Path) -> pd.DataFrame:
    return results.read_rows(out).sort_values(["cell", "index"]).reset_index(drop=True)


def test_report_and_check_read_only_the_current_suites_cells(tiny_suite, cli, tmp_path):
    out = tmp_path / "res"
    assert cli("run", suite(tiny_suite, epochs=1), "--out", out)[0] == 0
    first = set(rows(out)["cell"])
    assert cli("run", suite(tiny_suite, epochs=2, n_test=30), "--out", out)[0] == 0
    current = rows(out)
    assert len(current) == 2 * 30 and not first & set(current["cell"])  # only the second run's rows
    assert len(list((out / "samples").glob("*.parquet"))) == 4  # the old files are still there ...
    assert {p.stem for p in results.cell_files(out, stale=True)} == first  # ... and listed as stale
    code, _, err = cli("check", out, "--reference", tmp_path / "ref.csv", "--write")
    assert code == 0 and "ignoring 2 stale cell files" in err
    ref = pd.read_csv(tmp_path / "ref.csv")
    assert (ref["n"] == 30).all()  # not 50 (30 + the old run's 20)
    code, _, err = cli("check", out, "--reference", tmp_path / "ref.csv", "--stale")
    assert code == 0 and err.count("stale: ") == 4  # 2 parquet files, the old model's .pt and .json: what gc removes
    assert err.count(f"stale: {out / 'models'}") == 2
    code, stdout, err = cli("report", out, "--format", "md")
    assert code == 0 and "stale" in err
    locks.lock_path(out, "0123456789abcdef").write_text("1 host\n")  # left by a killed run
    code, stdout, _ = cli("gc", out)
    assert code == 0 and "removed 5 files" in stdout  # 2 parquet, the old model's .pt and .json, the lock
    assert results.cell_files(out, stale=True) == [] and len(list((out / "models").glob("*"))) == 2
    pd.testing.assert_frame_equal(rows(out), current)


def test_cells_not_yet_done_are_said_so(tiny_suite, cli, tmp_path):
    out = tmp_path / "res"
    assert cli("run", suite(tiny_suite), "--out", out)[0] == 0
    info = runfile.read(out)
    assert [c["evaluation"] for c in info["eval_cells"]] == ["clean", "attack:FGSM"]
    fgsm = store.samples_path(out, info["eval_cells"][1]["id"])
    fgsm.unlink()  # as if the run had been killed before this cell
    assert [c["id"] for c in results.pending_cells(out)] == [fgsm.stem]
    assert results.cell_files(out) == [store.samples_path(out, info["eval_cells"][0]["id"])]
    code, _, err = cli("report", out, "--format", "md")
    assert code == 0 and "1 eval cells of this suite are not done yet (attack:FGSM)" in err


def test_run_json_lists_the_cells_before_anything_runs(tiny_suite, cli, tmp_path, monkeypatch):
    import bench.execute.local

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.execute.local, "run_local", killed)
    out = tmp_path / "res"
    assert cli("run", suite(tiny_suite), "--out", out)[0] == 130
    assert len(results.pending_cells(out)) == 2 and results.cell_files(out) == []


def test_results_module_needs_no_torch():
    code = "import sys, bench.results.folder; assert 'torch' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_a_version_bump_reruns_exactly_the_cells_it_touches(tiny_suite, cli, tmp_path, monkeypatch):
    path = suite(tiny_suite)
    out = tmp_path / "res"
    assert cli("run", path, "--out", out)[0] == 0
    trains, evals = plan(load_suite(path))
    info = runfile.read(out)
    assert info["train_cells"][0]["versions"] == {"recipe:erm": 1}
    assert info["eval_cells"][1]["versions"] == {"evaluation:attack": 1, "attack:FGSM": 1}
    assert info["versions"]["bench"] and "git_commit" in info
    meta = json.loads((out / "models" / f"{trains[0].id}.json").read_text())
    assert meta["code_versions"] == {"recipe:erm": 1} and "git_commit" in meta
    cell = folder.cell_meta(store.samples_path(out, evals[1].id))
    assert cell["code_versions"] == {"evaluation:attack": 1, "attack:FGSM": 1} and cell["bench"]

    monkeypatch.setitem(ATTACKS._items, "FGSM", dataclasses.replace(ATTACKS.get("FGSM"), version=2))
    code, stdout, _ = cli("run", path, "--out", out)
    assert code == 0 and "trained 0 (skipped 1), evaluated 1 (skipped 1)" in stdout
    monkeypatch.setattr(EVALS.get("clean"), "version", 2)
    code, stdout, _ = cli("run", path, "--out", out)
    assert code == 0 and "trained 0 (skipped 1), evaluated 1 (skipped 1)" in stdout
    monkeypatch.setattr(RECIPES.get("erm"), "version", 2)  # a fixed loss: the model and every eval re-run
    code, stdout, _ = cli("run", path, "--out", out)
    assert code == 0 and "trained 1 (skipped 0), evaluated 2 (skipped 0)" in stdout


def test_sample_seed_is_part_of_the_eval_cell_id(tiny_suite):
    (ta, ea), (tb, eb) = (plan(load_suite(suite(tiny_suite, sample_seed=s))) for s in (0, 1))
    assert [t.id for t in ta] == [t.id for t in tb]
    assert not {e.id for e in ea} & {e.id for e in eb}


def test_damaged_files_are_reported_and_recomputed(tiny_suite, cli, tmp_path):
    path = suite(tiny_suite)
    out = tmp_path / "res"
    assert cli("run", path, "--out", out)[0] == 0
    before = rows(out)
    trains, evals = plan(load_suite(path))
    clean = store.samples_path(out, evals[0].id)
    clean.write_bytes(clean.read_bytes()[:-100])  # truncated
    pq.write_table(pa.table({"x": [1, 2]}), store.samples_path(out, evals[1].id))  # foreign
    pt = out / "models" / f"{trains[0].id}.pt"
    pt.write_bytes(pt.read_bytes()[:200])
    leftover = out / "samples" / f".{evals[0].id}.parquet.123.abcd.tmp"
    leftover.write_bytes(b"partial")
    code, stdout, _ = cli("run", path, "--out", out)
    assert code == 0 and "trained 1 (skipped 0), evaluated 2 (skipped 0)" in stdout
    said = [line for line in stdout.splitlines() if line.endswith("; recomputing it")]  # one line per cell
    assert said == [f"{pt}: its bytes do not match the checkpoint_sha256 of its record (damaged, or another cell's)"
                    "; recomputing it",
                    f"{clean}: not a whole parquet file (truncated, or not parquet); recomputing it",
                    f"{store.samples_path(out, evals[1].id)}: records no content hash (damaged, or written before "
                    "bench checked content); recomputing it"], stdout
    assert f"removed {leftover}" in stdout and not leftover.exists()
    pd.testing.assert_frame_equal(rows(out), before)


def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path):
    from bench.errors import UserError

    store.save_model(tmp_path, "x", {"w": torch.ones(3)}, {"train_seconds": 1.0})
    assert store.model_done(tmp_path, "x") and store.load_state(tmp_path, "x")["w"].tolist() == [1, 1, 1]
    (tmp_path / "models" / "x.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(UserError, match=r"models/x\.pt: its bytes do not match the checkpoint_sha256"):
        store.load_state(tmp_path, "x")
    assert not store.model_done(tmp_path, "x")
    (tmp_path / "models" / "x.pt").unlink()
    with pytest.raises(UserError, match=r"models/x\.pt: no such checkpoint"):
        store.load_state(tmp_path, "x")


def test_a_write_that_fails_half_way_leaves_no_file_and_the_cell_reruns(tmp_path, monkeypatch):
    def half(self, data):
        open(self, "wb").write(b"PAR1" + b"\0" * 64)  # the first bytes of a parquet file, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half)
    with pytest.raises(OSError):
        store.write_rows(tmp_path, "c0", {"index": np.arange(3)}, {})
    assert list((tmp_path / "samples").iterdir()) == []
    assert not store.eval_done(tmp_path, "c0")
    monkeypatch.undo()
    store.write_rows(tmp_path, "c0", {"index": np.arange(3)}, {})
    assert store.eval_done(tmp_path, "c0")


def test_result_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        store.write_rows(tmp_path, "c0", {"index": np.arange(3)}, {})
        atomic.write_json(tmp_path / "run.json", {})
    finally:
        os.umask(old)
    for path in (store.samples_path(tmp_path, "c0"), tmp_path / "run.json"):
        assert path.stat().st_mode & 0o777 == 0o644


def test_a_stale_lock_of_a_dead_process_is_taken_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = locks.lock_path(tmp_path, "c0")
    path.parent.mkdir(parents=True)
    path.write_text(f"{dead.stdout.strip()} {os.uname().nodename}\n")
    assert not locks.locked(tmp_path, "c0")
    with locks.cell_lock(tmp_path, "c0", wait=False) as held:
        assert held and path.read_text().split()[0] == str(os.getpid())
    assert not path.exists()


HOLD = """\
import sys, time
from pathlib import Path
from bench.results import locks
with locks.cell_lock(Path(sys.argv[1]), "c0"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_live_lock_is_skipped_or_waited_for(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "1.0"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout.readline().strip() == "held"
        start = time.monotonic()
        assert locks.locked(tmp_path, "c0") and f"pid {proc.pid}" in locks.holder(locks.lock_path(tmp_path, "c0"))
        with locks.cell_lock(tmp_path, "c0", wait=False) as held:
            assert not held
        with locks.cell_lock(tmp_path, "c0") as held:  # waits until the holder lets go
            assert held and time.monotonic() - start > 0.9
    finally:
        proc.wait()


@pytest.mark.slow
def test_two_runs_on_one_folder_compute_each_cell_once(tiny_suite, tmp_path):
    path = tiny_suite(textwrap.dedent(SUITE.format(epochs=1, n_test=20, sample_seed=0)).replace(
        "  - {card: erm, epochs: 1}", "  - {card: erm, epochs: 1}\n  - {card: erm, as: erm2, epochs: 2}"))
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    def cmd(out):
        return [sys.executable, "-m", "bench", "run", str(path), "--out", str(tmp_path / out), "--device", "cpu"]

    procs = [subprocess.Popen(cmd("both"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    done = [line for o, _ in outs for line in o.splitlines() if line.startswith("done")]
    trained = sum(int(line.split("trained ")[1].split()[0]) for line in done)
    evaluated = sum(int(line.split("evaluated ")[1].split()[0]) for line in done)
    assert (trained, evaluated) == (2, 4), outs  # each cell once, between the two processes
    alone = subprocess.run(cmd("one"), env=env, capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr
    pd.testing.assert_frame_equal(rows(tmp_path / "both"), rows(tmp_path / "one"))


# Issue 23, item 4: a hand-edited run.json is one line naming the file and the field; the report reads nothing
# outside the folder and writes nothing.
def _edited(tmp_path, edit):
    from report_results import write_results

    out = write_results(tmp_path / "r", n=20, seeds=(0,), extra=False)
    info = json.loads((out / "run.json").read_text())
    info["train_cells"] = [{"id": "a" * 16, "dataset": "digits", "recipe": "erm", "method": "erm", "seed": 0,
                            "config": {}, "versions": {}}]
    info["datasets"] = [{"name": "digits", "n_test": 20, "download": False, "n_train": None}]
    edit(info)
    (out / "run.json").write_text(json.dumps(info))
    return out


OTHER = "0" * 16
RUN_JSON_EDITS = [
    (lambda i: i["eval_cells"][0].update(id=f"../../other/samples/{OTHER}"), "eval_cells[0].id", "16 hex digits"),
    (lambda i: i["eval_cells"][0].update(id="/etc/passwd"), "eval_cells[0].id", "16 hex digits"),
    (lambda i: i["eval_cells"][0].pop("id"), "eval_cells[0].id", "missing"),
    (lambda i: i.update(eval_cells=[1, 2]), "eval_cells[0]", "expected a mapping"),
    (lambda i: i.update(eval_cells={"a": 1}), "eval_cells", "expected a list"),
    (lambda i: i.pop("eval_cells"), "eval_cells", "missing"),
    (lambda i: i["eval_cells"][0].update(evaluation=["clean"]), "eval_cells[0].evaluation", "expected str"),
    (lambda i: i["eval_cells"][0].update(train_cell="../x"), "eval_cells[0].train_cell", "16 hex digits"),
    (lambda i: i["eval_cells"][0].update(params="x"), "eval_cells[0].params", "expected a mapping"),
    (lambda i: i["train_cells"][0].update(id="a" * 15 + "/"), "train_cells[0].id", "16 hex digits"),
    (lambda i: i["train_cells"][0].update(seed=True), "train_cells[0].seed", "expected int"),
    (lambda i: i.update(train_cells="x"), "train_cells", "expected a list"),
    (lambda i: i.update(datasets=[1]), "datasets[0]", "expected a mapping"),
    (lambda i: i.update(datasets=[{"n_test": 3}]), "datasets[0].name", "missing"),
    (lambda i: i.update(recipes={"erm": "x"}), "recipes.erm", "expected a mapping"),
    (lambda i: i.update(recipes={"erm": {"method": ["erm"]}}), "recipes.erm.method", "expected str"),
    (lambda i: i.update(models={"m": 1}), "models.m", "expected a mapping"),
    (lambda i: i.update(order={"recipes": "erm"}), "order.recipes", "expected a list of names"),
    (lambda i: i.update(plugins=["os; rm -rf"]), "plugins[0]", "expected a module name"),
    (lambda i: i.update(suite=["x"]), "suite", "expected str"),
    (lambda i: i.update(versions="x"), "versions", "expected a mapping"),
    (lambda i: i.update(threads="1"), "threads", "expected int"),
    (lambda i: i.update(deterministic="yes"), "deterministic", "expected true or false"),
]


@pytest.mark.parametrize("edit,field,message", RUN_JSON_EDITS)
def test_a_hand_edited_run_json_is_one_line(tmp_path, capsys, edit, field, message):
    from bench.cli import main

    out = _edited(tmp_path, edit)
    other = tmp_path / "other" / "samples"  # what a path id would have read
    other.mkdir(parents=True)
    (other / f"{OTHER}.parquet").write_bytes((out / "samples" / f"{OTHER}.parquet").read_bytes())
    before = sorted(p for p in tmp_path.rglob("*"))
    for args in (["report", out], ["report", out, "--format", "html"], ["check", out, "--reference", tmp_path / "x.csv",
                                                                         "--write"]):
        capsys.readouterr()
        assert main([str(a) for a in args]) == 2
        out_text, err = capsys.readouterr()
        assert err == f"bench: error: {out / 'run.json'}: {field}: " + err.split(f"{field}: ", 1)[1], err
        assert message in err and len(err.splitlines()) == 1 and out_text == "", err
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written


def test_the_edited_run_json_fixture_reads(tmp_path, cli):
    code, _, err = cli("report", _edited(tmp_path, lambda info: None))
    assert code == 0, err


HOLD_AND_FINISH = """\
import sys, time
from pathlib import Path
from bench.results import locks
out = Path(sys.argv[1])
with locks.cell_lock(out, "c0"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    (out / "c0.done").write_text("finished by the holder")
"""


class _Cell:
    """A cell that is done once the process holding its lock wrote its file; computing it is a failure."""

    id = "c0"

    def __init__(self):
        self.looked, self.produced = [], 0

    def done(self, out):
        self.looked.append(time.monotonic())
        return (out / "c0.done").exists()

    def files(self, out):
        return [out / "c0.done"]

    def produce(self, *args, **kwargs):
        self.produced += 1


def test_compute_waits_for_the_cell_lock_and_never_computes_a_cell_another_process_finished(tmp_path):
    """Mutation testing: `compute` without its lock computed the cell a second time."""
    from bench.execute.compute import compute

    proc = subprocess.Popen([sys.executable, "-c", HOLD_AND_FINISH, str(tmp_path), "1.0"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout.readline().strip() == "held"
        start, cell = time.monotonic(), _Cell()
        assert compute(cell, tmp_path, "cpu", log=lambda line: None) is False
        assert cell.produced == 0 and cell.looked and cell.looked[0] - start > 0.8  # looked only after waiting
        assert (tmp_path / "c0.done").read_text() == "finished by the holder"
    finally:
        proc.wait()

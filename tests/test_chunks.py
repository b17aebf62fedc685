"""Eval cells in chunks (bench.execute.chunks): the rows of a chunked cell are the same whatever the order
its chunks are computed in and whatever kills interrupt it; evaluations that draw nothing shared between
inputs give the unchunked cell's rows; the chunk size is in a cell's id exactly when it changes the numbers;
the attacks declared deterministic draw nothing; progress lines; `chunk:` in suites; `bench gc`."""
from __future__ import annotations

import dataclasses
import io
import os
import random
import signal
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from bench.attacks import ATTACKS
from bench.attacks.torchattacks_registry import DETERMINISTIC, RANDOM_START
from bench.cli import main
from bench.errors import UserError
from bench.evals import chunk_seed
from bench.execute import chunks, progress
from bench.execute.compute import compute
from bench.execute.local import run_local
from bench.plan.cells import default_chunk
from bench.plan.grid import plan
from bench.results import partial, runfile
from bench.suite.config import load_suite

SUITE = """\
    name: chunked
    datasets:
      digits: {n_test: 48}
    recipes: [erm]
    batch_size: 16
    %s
    evaluations:
      - clean
      - attack: PGD
        params: {steps: 2}
      - attack: FGSM
        eps: [0.05, 0.1]
      - autoattack: custom
        attacks: [apgd-ce]
      - pr: linf
        n: 8
      - certify: linf
        max_samples: 100
    """


CARD = """\
method: erm
paper: test card
datasets:
  digits: {arch: small_cnn, arch_args: {width: 8}, epochs: 1, batch_size: 128, optimizer: {name: adam, lr: 3.0e-3}}
"""


def _models(src, out) -> None:
    """The trained model of ``src`` in ``out`` too: only the evaluations run."""
    (out / "models").mkdir(parents=True)
    for f in (src / "models").iterdir():
        (out / "models" / f.name).write_bytes(f.read_bytes())


def _rows(out) -> pd.DataFrame:
    return pd.read_parquet(out / "samples").sort_values(["evaluation", "index"]).reset_index(drop=True)


def _run(path, out):
    suite = load_suite(path)
    trains, evals = plan(suite)
    out.mkdir(parents=True, exist_ok=True)
    runfile.write(out, runfile.record(suite, trains, evals, "cpu", "local"))
    run_local(trains, evals, out, "cpu", None, show_bars=False, log=lambda s: None)
    return trains, evals


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    """The suite with chunks of 16 (3 chunks a cell), computed in order; and unchunked (chunk: 0), on the
    same trained model."""
    tmp = tmp_path_factory.mktemp("chunks")
    (tmp / "models").mkdir()
    (tmp / "models" / "erm.yaml").write_text(CARD)
    (tmp / "suites").mkdir()
    paths = {}
    for name, chunk in (("c16", "chunk: 16"), ("whole", "chunk: 0")):
        paths[name] = tmp / "suites" / f"{name}.yaml"
        paths[name].write_text(__import__("textwrap").dedent(SUITE % chunk))
    _run(paths["c16"], tmp / "c16")
    _models(tmp / "c16", tmp / "whole")
    _run(paths["whole"], tmp / "whole")
    return tmp, paths


def test_chunk_seed():
    assert chunk_seed(7, 0) == 7 and chunk_seed(7, 1) == chunk_seed(7, 1) != chunk_seed(7, 2)
    assert chunk_seed(7, 1) != chunk_seed(8, 1) and 0 <= chunk_seed(2**62, 5) < 2**63


def test_default_chunk():
    assert default_chunk(500) == 512 and default_chunk(10000) == 512 and default_chunk(32768) == 512
    assert default_chunk(50000) == 1024 and default_chunk(26032) == 512


def test_chunk_size_in_the_id_only_where_it_changes_numbers(chunked):
    tmp, paths = chunked
    ids = {}
    for name in ("c16", "whole"):
        ids[name] = {c.name: c.id for c in plan(load_suite(paths[name]))[1]}
    same = {n for n in ids["c16"] if ids["c16"][n] == ids["whole"][n]}
    assert same == {"clean", "attack:FGSM", "certify:linf"}  # PGD's random start, AutoAttack, PR's samples draw
    cells = {c.name: c for c in plan(load_suite(paths["c16"]))[1]}
    assert cells["attack:PGD"].n_chunks == 3 and cells["attack:PGD"].chunk_in_id


def test_deterministic_evaluations_give_the_unchunked_rows(chunked):
    tmp, _ = chunked
    a, b = _rows(tmp / "c16"), _rows(tmp / "whole")
    for name in ("clean", "attack:FGSM@0.05", "attack:FGSM@0.1", "certify:linf@0.1"):
        pd.testing.assert_frame_equal(a[a.evaluation == name].drop(columns="cell").reset_index(drop=True),
                                      b[b.evaluation == name].drop(columns="cell").reset_index(drop=True))
    # the drawing ones: same inputs, same clean predictions, their own draws
    for name in ("attack:PGD", "attack:AutoAttack-custom", "pr:linf@0.1"):
        assert (a[a.evaluation == name]["pred"].values == b[b.evaluation == name]["pred"].values).all()
    assert not (tmp / "c16" / ".chunks").exists()  # removed once the cells were written


def test_rows_equal_across_chunk_orders_and_kill_histories(chunked, tmp_path):
    tmp, paths = chunked
    want = _rows(tmp / "c16")
    trains, evals = plan(load_suite(paths["c16"]))
    rng = random.Random(3)
    for attempt in range(1):
        out = tmp_path / f"o{attempt}"
        _models(tmp / "c16", out)
        for cell in evals:  # chunks in a random order, as Ray's workers may finish them; some left out
            order = list(range(cell.n_chunks))
            rng.shuffle(order)
            for k in order[:rng.randint(0, len(order))]:
                chunks.compute_chunk(cell, k, out, "cpu", None)
        run_local(trains, evals, out, "cpu", None, show_bars=False, log=lambda s: None)  # the rest, then assembly
        pd.testing.assert_frame_equal(_rows(out), want)


def test_a_killed_cell_resumes_at_its_first_missing_chunk(chunked, tmp_path, monkeypatch):
    tmp, paths = chunked
    trains, evals = plan(load_suite(paths["c16"]))
    cell = next(c for c in evals if c.name == "attack:PGD")
    out = tmp_path / "out"
    _models(tmp / "c16", out)
    real, written = partial.write_chunk, []

    def write_then_die(out_, eid, k, cols, meta):
        real(out_, eid, k, cols, meta)
        written.append(k)
        if len(written) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(partial, "write_chunk", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        compute(cell, out, "cpu")
    monkeypatch.undo()
    assert sorted(p.name for p in partial.chunk_dir(out, cell.id).iterdir()) == ["0.parquet"]
    stream = io.StringIO()
    board = progress.Board(lines=True, stream=stream)
    monkeypatch.setattr(progress, "_ACTIVE", board)
    computed = []
    monkeypatch.setattr(chunks, "run_chunk", lambda c, i, k, a, b: computed.append(k) or real_run(c, i, k, a, b))
    compute(cell, out, "cpu")
    assert computed == [1, 2]
    text = stream.getvalue()
    assert "resuming digits/erm/s0 attack:PGD at chunk 2/3" in text
    assert "chunk 2/3 digits/erm/s0 attack:PGD in " in text and "chunk 3/3 " in text and "| run ETA " in text
    got = pd.read_parquet(out / "samples").sort_values("index").reset_index(drop=True)
    want = _rows(tmp / "c16")
    pd.testing.assert_frame_equal(got, want[want.evaluation == "attack:PGD"].reset_index(drop=True), check_dtype=False)
    assert not partial.chunk_dir(out, cell.id).exists()


real_run = chunks.run_chunk


def test_a_chunk_of_another_chunking_is_not_used(chunked, tmp_path):
    """FGSM's id does not hash the chunk size: chunks kept from a chunk size of 16 are not mixed into a
    run with chunks of 32 (recomputed, same rows)."""
    tmp, paths = chunked
    _, evals = plan(load_suite(paths["c16"]))
    cell16 = next(c for c in evals if c.name == "attack:FGSM")
    cell32 = dataclasses.replace(cell16, chunk=32)
    assert cell32.id == cell16.id
    out = tmp_path / "out"
    _models(tmp / "c16", out)
    chunks.compute_chunk(cell16, 1, out, "cpu", None)  # inputs 16..31
    compute(cell32, out, "cpu")
    want = _rows(tmp / "c16")
    got = pd.read_parquet(out / "samples").sort_values(["evaluation", "index"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want[want.evaluation.str.startswith("attack:FGSM")].reset_index(drop=True),
                                  check_dtype=False)


@pytest.mark.slow  # forks four runs and kills them: about 30 s on a loaded 2-core machine
def test_killed_runs_at_random_moments_resume_to_the_same_rows(chunked, tmp_path):
    """Forked `bench run`s SIGKILLed at random moments inside a cell of 4 chunks, then resumed."""
    tmp, paths = chunked
    out = tmp_path / "killed"
    argv = ["run", str(paths["c16"]), "--out", str(out), "--device", "cpu", "--quiet"]
    _models(tmp / "c16", out)
    _models(tmp / "c16", tmp_path / "timing")
    start = time.perf_counter()
    assert main(["run", str(paths["c16"]), "--out", str(tmp_path / "timing"), "--device", "cpu", "--quiet"]) == 0
    seconds = time.perf_counter() - start
    rng = random.Random(5)
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os._exit(main(argv))
        time.sleep(rng.uniform(0.1, 0.6) * seconds)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert main(argv) == 0
    pd.testing.assert_frame_equal(_rows(out), _rows(tmp / "c16"))
    assert not list(out.rglob("*.tmp")) and not (out / ".chunks").exists()


def test_gc_removes_stale_chunks(chunked, tmp_path, cli):
    tmp, paths = chunked
    out = tmp / "c16"
    stale = partial.chunk_dir(out, "f" * 16)
    stale.mkdir(parents=True)
    (stale / "0.parquet").write_bytes(b"x")
    code, stdout, err = cli("gc", out)
    assert code == 0 and not stale.exists() and "removed" in stdout, err


def test_suite_chunk_keys(tiny_suite):
    suite = load_suite(tiny_suite("""\
        name: c
        datasets: {digits: {n_test: 100}}
        recipes: [erm]
        chunk: 30
        evaluations:
          - clean
          - attack: FGSM
            chunk: 0
        """))
    _, evals = plan(suite)
    assert [(c.name, c.chunk_size, c.n_chunks) for c in evals] == [("clean", 30, 4), ("attack:FGSM", 100, 1)]
    with pytest.raises(UserError, match="chunk"):
        load_suite(tiny_suite("name: c\ndatasets: [digits]\nrecipes: [erm]\nchunk: -1\nevaluations: [clean]\n"))
    with pytest.raises(UserError, match="chunk"):
        load_suite(tiny_suite("name: c\ndatasets: [digits]\nrecipes: [erm]\nevaluations:\n"
                              "  - attack: FGSM\n    chunk: many\n"))


@pytest.mark.parametrize("name", sorted(DETERMINISTIC | RANDOM_START))
def test_attacks_declared_deterministic_draw_nothing(name):
    """Declared deterministic (or with random_start off): the same adversarial inputs under two seeds."""
    info = ATTACKS.get(name)
    params = {"random_start": False} if name in RANDOM_START else {}
    assert not info.draws(params) and (name not in RANDOM_START or info.draws({}) == info.defaults["random_start"])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10)).eval()
    x, y = torch.rand(3, 3, 4, 4), torch.tensor([0, 1, 2])
    light = {k: v for k, v in {"steps": 3, "max_iterations": 10, "binary_search_steps": 2, "num_iter_set": 3}.items()
             if k in info.defaults}
    outs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        outs.append(info.make(model, **{**params, **light})(x, y))
    assert torch.equal(outs[0], outs[1])


def test_the_check_above_sees_a_draw():
    """PGD with its random start: two seeds, two results (the check of declared-deterministic attacks
    would see an attack that draws)."""
    info = ATTACKS.get("PGD")
    assert info.draws({}) and info.draws({"random_start": True})
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10)).eval()
    x, y = torch.rand(3, 3, 4, 4), torch.tensor([0, 1, 2])
    outs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        outs.append(info.make(model, steps=1)(x, y))
    assert not torch.equal(outs[0], outs[1])


def test_a_damaged_or_swapped_chunk_is_computed_again(chunked, tmp_path, monkeypatch):
    """Kept chunks are sealed with the sha256 of their bytes and state their cell and index: a flipped byte or a
    chunk copied over another is never assembled into a cell, it is computed again, and the rows are the same."""
    tmp, paths = chunked
    _, evals = plan(load_suite(paths["c16"]))
    cell = next(c for c in evals if c.name == "attack:PGD")
    out = tmp_path / "out"
    _models(tmp / "c16", out)
    for k in range(3):
        chunks.compute_chunk(cell, k, out, "cpu", None)
    first, second = partial.chunk_path(out, cell.id, 0), partial.chunk_path(out, cell.id, 1)
    table = pq.read_table(first)  # one value changed by another tool, the chunk's metadata kept: it still reads
    flipped = pa.array((~table.column("correct").to_numpy(zero_copy_only=False)).tolist())
    pq.write_table(table.set_column(table.schema.get_field_index("correct"), "correct", flipped), first)
    partial.chunk_path(out, cell.id, 2).write_bytes(second.read_bytes())  # chunk 1's rows under chunk 2's name
    computed = []
    monkeypatch.setattr(chunks, "run_chunk", lambda c, i, k, a, b: computed.append(k) or real_run(c, i, k, a, b))
    compute(cell, out, "cpu")
    assert computed == [0, 2]
    got = pd.read_parquet(out / "samples").sort_values("index").reset_index(drop=True)
    want = _rows(tmp / "c16")
    pd.testing.assert_frame_equal(got, want[want.evaluation == "attack:PGD"].reset_index(drop=True), check_dtype=False)

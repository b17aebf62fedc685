"""Trust down to the byte (issue 23, items 1, 2, 5, 10): a flipped byte, a file copied under another cell's
name, a swapped checkpoint or a symbolic link never reaches a number. `bench run` says so in one line and
recomputes the cell; `bench report` and `bench check` leave it out with a note and exit 1; nothing is written,
renamed or deleted through a link inside a results folder; a damaged model file is one line, never a
traceback."""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from bench.cli import main
from bench.errors import UserError
from bench.plan.grid import plan
from bench.results import folder, integrity, runfile, store
from bench.suite.config import load_suite
from report_results import train_id, write_results

SUITE = """\
name: trust
datasets:
  digits: {n_test: 20, n_train: 300}
recipes:
  - erm
  - {card: erm, as: erm2, epochs: 2}
evaluations:
  - clean
  - attack: FGSM
"""


def run(*args) -> tuple[int, str, str]:
    """The CLI in-process, with its stdout and stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run of SUITE (two models, four eval cells), its suite file and rows."""
    root = tmp_path_factory.mktemp("trust")
    _cards(root)
    (root / "suite.yaml").write_text(SUITE)
    assert run("run", root / "suite.yaml", "--out", root / "res", "--quiet", "--device", "cpu")[0] == 0
    return root, rows(root / "res")


def _cards(root: Path) -> None:
    from conftest import TINY_CARD

    (root / "models").mkdir()
    (root / "models" / "erm.yaml").write_text(TINY_CARD.format(method="erm", args="{}"))


def rows(out: Path) -> pd.DataFrame:
    return folder.read_rows(out).sort_values(["cell", "index"]).reset_index(drop=True)


@pytest.fixture
def copy(trained, tmp_path):
    """A fresh copy of the finished run: (suite file, results folder, its train cells, its eval cells)."""
    root, _ = trained
    shutil.copytree(root / "res", tmp_path / "res", symlinks=True)
    trains, evals = plan(load_suite(root / "suite.yaml"))
    return root / "suite.yaml", tmp_path / "res", trains, evals


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def data_page_offset(path: Path) -> int:
    """An offset inside the file's column chunks: after the magic, before the footer."""
    data = path.read_bytes()
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    return 4 + (footer - 4) // 2


def test_a_cell_file_records_its_cell_and_the_sha256_of_its_bytes(tmp_path):
    path = store.write_rows(tmp_path, "0123456789abcdef", {"index": np.arange(5)}, {"seconds": 1.0})
    assert folder.cell_problem(path) is None and store.eval_done(tmp_path, "0123456789abcdef")
    meta = pq.ParquetFile(path).metadata.metadata
    assert meta[b"bench.cell"] == b"0123456789abcdef" and len(meta[b"bench.sha256"]) == 64
    assert folder.cell_meta(path) == {"seconds": 1.0}  # the cell's own metadata is unchanged
    for at in range(4, len(path.read_bytes()) - 8, 97):  # any byte but the trailer: found
        broken = tmp_path / "b" / "samples" / path.name
        broken.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, broken)
        flip(broken, at)
        assert folder.cell_problem(broken) is not None, at


def test_a_flipped_byte_in_a_data_page_is_left_out_of_reports_and_recomputed(copy):
    suite, out, trains, evals = copy
    before = rows(out)
    ref = out.parent / "ref.csv"
    assert run("check", out, "--reference", ref, "--write")[0] == 0
    target = store.samples_path(out, evals[1].id)
    flip(target, data_page_offset(target))
    why = f"{target}: its bytes do not match the sha256 it records (damaged)"
    assert store.eval_problem(out, evals[1].id) == why
    code, stdout, err = run("report", out, "--format", "md")
    assert code == 1 and err.count("note: left out") == 1 and f"note: left out {why}" in err
    assert "Traceback" not in err
    code, stdout, err = run("check", out, "--reference", ref)
    assert code == 1 and f"left out {why}" in err and "attack:FGSM/accuracy" in stdout and "missing" in stdout
    code, _, err = run("check", out, "--reference", out.parent / "new.csv", "--write")
    assert code == 1 and f"left out {why}" in err and not (out.parent / "new.csv").exists()
    with pytest.raises(UserError, match="do not match the sha256"):
        folder.read_rows(out)
    code, stdout, _ = run("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert code == 0 and f"{why}; recomputing it" in stdout and "evaluated 1 (skipped 3)" in stdout
    pd.testing.assert_frame_equal(rows(out), before)
    assert run("report", out, "--format", "md")[0] == 0


def test_a_cell_file_copied_under_another_cells_name_is_found(copy):
    suite, out, trains, evals = copy
    before = rows(out)
    clean, fgsm = (store.samples_path(out, e.id) for e in evals[:2])
    shutil.copy(clean, fgsm)
    why = f"{fgsm}: holds the rows of {evals[0].id}, not of {evals[1].id} (a file copied under another cell's name)"
    assert store.eval_problem(out, evals[1].id) == why
    code, _, err = run("report", out, "--format", "md")
    assert code == 1 and f"left out {why}" in err
    code, stdout, _ = run("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert code == 0 and f"{why}; recomputing it" in stdout
    pd.testing.assert_frame_equal(rows(out), before)


def test_a_swapped_or_flipped_checkpoint_is_found_and_retrained(copy):
    suite, out, trains, evals = copy
    before = rows(out)
    a, b = (store.model_files(out, t.id) for t in trains)
    shutil.copy(a[1], b[1])  # erm's checkpoint over erm2's
    assert store.model_problem(out, trains[1].id) == f"{b[1]}: {store.CHECKPOINT_MISMATCH}"
    with pytest.raises(UserError, match="do not match the checkpoint_sha256"):
        store.load_state(out, trains[1].id)
    shutil.copy(a[0], b[0])  # and its record
    assert "the record of " + trains[0].id in store.model_problem(out, trains[1].id)
    data = bytearray(a[1].read_bytes())  # 1,000 float32 words of erm's weights, flipped in their low bit
    words = np.frombuffer(data, np.uint32, count=(len(data) - 600) // 4, offset=512).copy()
    picks = np.random.default_rng(0).choice(len(words), 1000, replace=False)
    words[picks] ^= 1
    data[512:512 + 4 * len(words)] = words.tobytes()
    a[1].write_bytes(bytes(data))
    assert store.model_problem(out, trains[0].id) == f"{a[1]}: {store.CHECKPOINT_MISMATCH}"
    code, stdout, _ = run("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert code == 0 and "trained 2 (skipped 0)" in stdout and stdout.count("; recomputing it") == 2
    pd.testing.assert_frame_equal(rows(out), before)


def test_damaged_model_records_are_one_line(copy):
    suite, out, trains, evals = copy
    stale = out / "models" / "ffffffffffffffff.json"
    stale.write_text("{not json")  # a record no cell names: never read
    assert run("report", out, "--format", "md")[0] == 0
    record = store.model_files(out, trains[0].id)[0]
    record.write_text(record.read_text()[:40])  # truncated
    code, _, err = run("report", out, "--format", "md")
    assert code == 1 and f"note: left out {record}: records no content hash" in err and "Traceback" not in err
    code, stdout, _ = run("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert code == 0 and f"{record}: records no content hash" in stdout


def test_a_foreign_checkpoint_under_a_sealed_record_is_one_line(copy):
    suite, out, trains, evals = copy
    store.save_model(out, trains[0].id, {"weight": torch.zeros(3)}, {"train_seconds": 1.0})
    for e in evals:
        store.samples_path(out, e.id).unlink()
    code, _, err = run("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{store.model_files(out, trains[0].id)[1]}: does not fit small_cnn" in err


def test_a_pickled_model_is_refused_in_one_line_saying_to_save_the_state_dict(copy, tmp_path):
    suite, out, trains, evals = copy
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    torch.save(net, tmp_path / "whole.pt")
    (tmp_path / "text.pt").write_text("hello\nworld\n")
    for name, says in (("whole.pt", "not a plain state_dict: it pickles torch.nn.modules.container.Sequential"),
                       ("text.pt", "not a checkpoint torch.load(weights_only=True) reads")):
        (tmp_path / "ext.yaml").write_text(
            "name: ext\ndatasets:\n  digits: {n_test: 20}\nevaluations: [clean]\nmodels:\n"
            f"  - {{as: ext, arch: small_cnn, arch_args: {{width: 8}}, checkpoint: {tmp_path / name}, normalize: none}}\n")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's warnings are silenced, not shown
            code, _, err = run("run", tmp_path / "ext.yaml", "--out", tmp_path / "o", "--quiet", "--device", "cpu")
        assert code == 2 and len(err.strip().splitlines()) == 1 and says in err and "\x1b" not in err, err
        if name == "whole.pt":
            assert "save model.state_dict() instead" in err
    store.save_model(out, trains[0].id, {}, {})  # a pickled model under a sealed record of a results folder
    record = store.model_files(out, trains[0].id)
    torch.save(net, record[1])
    meta = json.loads(record[0].read_text())
    record[0].write_bytes(integrity.seal_record(meta, hashlib.sha256(record[1].read_bytes()).hexdigest()))
    with pytest.raises(UserError, match=r"\.pt: not a plain state_dict: .*save model\.state_dict\(\) instead"):
        store.load_state(out, trains[0].id)


def test_a_symlinked_cell_file_is_left_out_and_replaced_never_its_target(copy, tmp_path):
    suite, out, trains, evals = copy
    before = rows(out)
    elsewhere = tmp_path / "elsewhere.parquet"
    fgsm = store.samples_path(out, evals[1].id)
    shutil.move(fgsm, elsewhere)
    fgsm.symlink_to(elsewhere)  # the very file, through a link: reading it would leave the folder
    kept = elsewhere.read_bytes()
    code, _, err = run("report", out, "--format", "md")
    assert code == 1 and f"left out {fgsm}: a symbolic link" in err
    code, stdout, _ = run("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert code == 0 and f"{fgsm}: a symbolic link" in stdout and not fgsm.is_symlink()
    assert elsewhere.read_bytes() == kept
    pd.testing.assert_frame_equal(rows(out), before)


@pytest.mark.parametrize("name", ["samples", "models", ".locks"])
def test_a_symlinked_folder_is_refused_and_nothing_there_is_touched(copy, tmp_path, name):
    suite, out, trains, evals = copy
    elsewhere = tmp_path / "elsewhere"
    runfile.write(out, {**runfile.read(out), "eval_cells": [], "train_cells": []})  # everything stale for gc
    (out / name).mkdir(exist_ok=True)
    shutil.move(out / name, elsewhere)
    (elsewhere / "unrelated.parquet").write_bytes(b"someone else's")
    (elsewhere / ".x.tmp").write_bytes(b"someone else's")
    (out / name).symlink_to(elsewhere, target_is_directory=True)
    listing = sorted((p.name, p.stat().st_mtime_ns) for p in elsewhere.iterdir())
    for args in (("gc", out), ("run", suite, "--out", out, "--quiet", "--device", "cpu")):
        code, stdout, err = run(*args)
        assert code == 2 and err.startswith(f"bench: error: {out / name}: a symbolic link") and len(err.splitlines()) == 1
    assert sorted((p.name, p.stat().st_mtime_ns) for p in elsewhere.iterdir()) == listing


def test_reports_are_written_atomically_and_never_through_a_link(tmp_path, monkeypatch):
    out = write_results(tmp_path / "r", n=20, seeds=(0,), extra=False)
    target = tmp_path / "precious.txt"
    target.write_text("mine")
    (out / "report.md").symlink_to(target)
    code, _, err = run("report", out)
    assert code == 2 and "report.md: a symbolic link inside the results folder" in err and target.read_text() == "mine"
    code, _, err = run("report", out, "--out", out / "report.md")
    assert code == 2 and target.read_text() == "mine"
    (out / "report.md").unlink()
    assert run("report", out)[0] == 0
    old = (out / "report.md").read_text()

    def killed(self, text, **kw):
        Path(self).write_bytes(b"")  # the temporary file is opened, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", killed)
    assert run("report", out)[0] == 130
    monkeypatch.undo()
    assert (out / "report.md").read_text() == old and not list(out.glob(".*.tmp"))


def test_gc_leaves_links_alone(copy, tmp_path):
    suite, out, trains, evals = copy
    target = tmp_path / "unrelated.parquet"
    target.write_bytes(b"data")
    (out / "samples" / "0000000000000000.parquet").symlink_to(target)  # stale, and a link
    code, stdout, _ = run("gc", out)
    assert code == 0 and "left 1 symbolic links alone" in stdout and target.read_bytes() == b"data"


def test_report_reads_only_the_records_of_current_model_cells(tmp_path):
    out = write_results(tmp_path / "r", n=20, seeds=(0,), extra=False)
    (out / "models" / "zzz.json").write_bytes(b"\x00garbage")
    from bench.report import load_run

    run_ = load_run(out)
    assert run_["timings"]["train"][train_id("erm-0")] == 10.0
    record = out / "models" / f"{train_id('erm-0')}.json"
    meta = json.loads(record.read_text())
    record.write_text(json.dumps({**meta, "train_seconds": 11.0}))  # one number changed: the hash says so
    assert train_id("erm-0") not in load_run(out)["timings"]["train"]
    code, _, err = run("report", out, "--format", "md")
    assert code == 1 and "its bytes do not match the sha256 it records" in err

"""Issue 23's corruption test: random bytes flipped in 50 cell files and 10 checkpoints (and their records),
files swapped and copied between cells, symbolic links planted. `bench run` finds every case, says so in one
line naming the file, and recomputes it; the final rows equal the originals, and every checkpoint is again
the one first trained. Between the damage and the run, the reading side lists exactly the damaged files."""
from __future__ import annotations

import contextlib
import hashlib
import io
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.plan.grid import plan
from bench.results import folder, store
from bench.suite.config import load_suite
from conftest import TINY_CARD

SUITE = """\
name: corrupt
datasets:
  digits: {n_test: 40, n_train: 300}
recipes:
  - erm
  - {card: erm, as: erm2, epochs: 2}
evaluations:
  - clean
  - attack: FGSM
  - attack: PGD
    params: {steps: 3}
"""


def bench(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def rows(out: Path) -> pd.DataFrame:
    return folder.read_rows(out).sort_values(["cell", "index"]).reset_index(drop=True)


def flip(path: Path, rng: random.Random) -> None:
    """One random byte of the file XORed with a random non-zero value (its footer and trailer included)."""
    data = bytearray(path.read_bytes())
    data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_damaged_swapped_or_linked_file_is_found_and_recomputed(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "erm.yaml").write_text(TINY_CARD.format(method="erm", args="{}"))
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "res"
    run = ("run", suite, "--out", out, "--quiet", "--device", "cpu")
    assert bench(*run)[0] == 0
    original = rows(out)
    trains, evals = plan(load_suite(suite))
    cells = [store.samples_path(out, e.id) for e in evals]
    models = [store.model_files(out, t.id) for t in trains]  # [(record, checkpoint)]
    trained = {pt: sha(pt) for _, pt in models}
    rng = random.Random(23)

    def recovers(damaged: list[Path], computed: str) -> None:
        """The reading side names exactly the damaged eval files; `bench run` names each damaged cell's file
        on a line of its own, recomputes them all, and ends with the original rows and checkpoints."""
        listed = {p for p, _ in folder.damaged(out)}  # eval cells' files and model cells' records
        assert {p for p in damaged if p.suffix in (".parquet", ".json")} == listed
        code, stdout, err = bench(*run)
        assert code == 0, err
        said = [line for line in stdout.splitlines() if line.endswith("; recomputing it")]
        for path in damaged:
            cell_files = next((m for m in models if path in m), (path,))  # a model cell's two files say once
            assert sum(line.startswith(tuple(f"{p}:" for p in cell_files)) for line in said) == 1, (path, stdout)
        assert computed in stdout, stdout
        pd.testing.assert_frame_equal(rows(out), original)
        assert {pt: sha(pt) for _, pt in models} == trained
        assert folder.damaged(out) == []

    flipped = 0
    for round_ in range(10):  # 10 rounds of 5 cell files: 50; the first 5 also flip both checkpoints: 10
        picked = rng.sample(cells, 5)
        for path in picked:
            flip(path, rng)
        flipped += len(picked)
        damaged = list(picked)
        if round_ < 5:
            for _, pt in models:
                flip(pt, rng)
            damaged += [pt for _, pt in models]
        else:  # the records, instead
            record = models[round_ % 2][0]
            flip(record, rng)
            damaged.append(record)
        retrained = 2 if round_ < 5 else 1
        recovers(damaged, f"trained {retrained} (skipped {2 - retrained}), evaluated 5 (skipped 1)")
    assert flipped == 50

    a, b = cells[0], cells[4]  # swapped between two cells (other models, other evaluations)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    recovers([a, b], "evaluated 2 (skipped 4)")
    shutil.copy(cells[1], cells[2])  # one copied over another
    recovers([cells[2]], "evaluated 1 (skipped 5)")
    (ra, pa), (rb, pb) = models
    shutil.copy(pa, pb)  # erm's checkpoint over erm2's
    recovers([pb], "trained 1 (skipped 1), evaluated 0 (skipped 6)")
    for x, y in ((pa, pb), (ra, rb)):  # both files swapped between the two model cells
        data_x, data_y = x.read_bytes(), y.read_bytes()
        x.write_bytes(data_y)
        y.write_bytes(data_x)
    recovers([ra, rb], "trained 2 (skipped 0), evaluated 0 (skipped 6)")

    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(cells[3], outside / "same.parquet")  # the very bytes, but through a link: never read
    cells[3].unlink()
    cells[3].symlink_to(outside / "same.parquet")
    cells[5].unlink()
    cells[5].symlink_to(cells[0])  # another cell's file
    shutil.copy(pa, outside / "same.pt")
    pa.unlink()
    pa.symlink_to(outside / "same.pt")
    kept = {p: p.read_bytes() for p in outside.iterdir()}
    recovers([cells[3], cells[5], pa], "trained 1 (skipped 1), evaluated 2 (skipped 4)")
    assert {p: p.read_bytes() for p in outside.iterdir()} == kept  # the links' targets: untouched
    assert not any(p.is_symlink() for p in out.rglob("*"))

    samples = out / "samples"  # a linked folder: refused, one line, nothing there touched
    shutil.move(samples, outside / "samples")
    samples.symlink_to(outside / "samples", target_is_directory=True)
    listing = sorted((p.name, p.stat().st_mtime_ns) for p in (outside / "samples").iterdir())
    for args in (run, ("report", out), ("gc", out)):
        code, _, err = bench(*args)
        assert code == 2 and err == f"bench: error: {samples}: a symbolic link inside the results folder {out}; " \
            "bench never writes, renames or deletes through one (replace it by a file or folder of its own)\n", err
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (outside / "samples").iterdir()) == listing
    samples.unlink()  # the link removed: the cells are recomputed into a folder of its own
    recovers([], "evaluated 6 (skipped 0)")

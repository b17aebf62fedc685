"""`bench report` and `bench check` load neither torch nor torchattacks, and a new kind of rows with its
metric declarations shows up in the leaderboard, `bench check --write` and the HTML with no edit in report/."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bench.results.metrics import METRICS, Metric, declare
from bench.report.check import write_reference
from bench.report.build import render, tables_for
from report_results import write_results
from report_rows import run_info, synthetic


def test_report_and_check_import_no_torch(tmp_path):
    out = write_results(tmp_path / "r")
    code = ("import sys\nfrom bench.cli import main\n"
            f"assert main(['report', {str(out)!r}, '--out', {str(tmp_path / 'r.html')!r}]) == 0\n"
            f"assert main(['check', {str(out)!r}, '--reference', {str(tmp_path / 'ref.csv')!r}, '--write']) == 0\n"
            f"assert main(['report', {str(out)!r}, '--format', 'json', '--out', {str(tmp_path / 'b.json')!r}]) == 0\n"
            f"assert main(['report', {str(out)!r}, '--site', {str(tmp_path / 'site')!r}, '--plots', "
            f"{str(tmp_path / 'plots')!r}]) == 0\n"
            "print(sorted(m for m in ('torch', 'torchattacks', 'torchvision', 'bench.suite.config') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_toy_kind_appears_everywhere(tmp_path):
    """A kind of rows declared outside report/ (here, a test): its headline in the leaderboard and the HTML,
    every declared metric in `bench check --write`, aggregated as declared (mean over seeds, lower is better)."""
    declare("toy", Metric("loss", "pr", "mean", higher=False, headline=True, display="toy loss"),
                     Metric("low_loss", "pr < 0.5"))
    try:
        rows = synthetic(seeds=(0, 1), extra=False)
        toy = rows[rows["evaluation"] == "clean"].copy()
        toy["evaluation"], toy["kind"], toy["base"] = "toy:x", "toy", "x"
        loss = {"erm": 0.2, "pgdt": 0.6, "vmt": 0.4}
        toy["pr"] = toy["recipe"].map(loss) + np.where(toy["seed"] == 0, 0.25, -0.25)
        rows = pd.concat([rows, toy], ignore_index=True)
        board = tables_for(rows, run_info(), ["leaderboard"])[0]
        col = [c for _, c in board.header].index("toy:x (toy loss)")
        cells = {label: cells[col] for label, cells in board.rows}
        assert cells["erm"].value == pytest.approx(0.2) and cells["erm"].best  # lower is better
        assert not cells["pgdt"].best and "normal" in cells["pgdt"].note
        assert "toy:x (toy loss)" in render("html", [board], "t", rows, run_info())
        write_reference(rows, tmp_path / "ref.csv", None)
        ref = pd.read_csv(tmp_path / "ref.csv")
        got = ref[ref["evaluation"] == "toy:x"].set_index(["recipe", "metric"])["value"]
        assert got[("vmt", "loss")] == pytest.approx(0.4) and got[("vmt", "low_loss")] == pytest.approx(0.5)
        assert got[("erm", "low_loss")] == pytest.approx(1.0)  # -0.05 and 0.45: below 0.5 on both seeds
    finally:
        METRICS._items.pop("toy")


def test_rows_from_files_with_name_columns_equal_the_frame(tmp_path):
    """Cells written with their name columns (grouped by kind from the parquet footers) and the same rows
    as a DataFrame (names parsed) give the same blocks, metrics and McNemar counts."""
    from bench.results import names
    from bench.report.data import as_rows, load

    rows = synthetic(seeds=(0, 1))
    parts = pd.DataFrame([{"evaluation": e, **names.parse(e)} for e in rows["evaluation"].unique()])
    rows = rows.drop(columns=list(parts.columns[1:])).merge(parts, on="evaluation", how="left")
    write_results(tmp_path / "r", rows=rows)
    files, frame = load(tmp_path / "r"), as_rows(synthetic(seeds=(0, 1)))
    assert None not in files.by_kind and set(files.by_kind) == {"clean", "attack", "pr", "certify", "smooth", "ibp"}
    pd.testing.assert_frame_equal(files.values, frame.values)
    best = pd.DataFrame({"dataset": ["digits"], "evaluation": ["attack:PGD"], "best": ["vmt"]})
    by_recipe = lambda d: d.sort_values("recipe").reset_index(drop=True)  # noqa: E731 (order carries no meaning)
    pd.testing.assert_frame_equal(by_recipe(files.discordant("accuracy", best)),
                                  by_recipe(frame.discordant("accuracy", best)))
    g = synthetic(seeds=(0, 1)).query("evaluation == 'attack:PGD'").set_index(["recipe", "seed", "index"])["correct"]
    top, erm = (g.loc[r].groupby(level="index").mean() for r in ("vmt", "erm"))  # per-input means over 2 seeds
    b, c = int((top > erm).sum()), int((top < erm).sum())  # inputs where the best (vmt) is higher / lower
    got = files.discordant("accuracy", best).set_index("recipe").loc["erm"]
    assert (got["b"], got["c"], got["shared"]) == (b, c, 60) and b > 0


@pytest.mark.parametrize("damage", ["truncated", "foreign", "rows"])
def test_a_damaged_cell_file_is_one_line_naming_it(tmp_path, capsys, damage):
    """`bench report` (one folder, several) and the footers' one reading: a cell file that does not read back
    whole is left out with one note naming it, and the report exits 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.cli import main
    from bench.report.data import load

    out = write_results(tmp_path / "r", seeds=(0,), extra=False)
    load(out)  # every footer read (and kept) once, before the file changes
    bad = sorted((out / "samples").glob("*.parquet"))[1]
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:-100])
    elif damage == "foreign":
        pq.write_table(pa.table({"x": [1, 2]}), bad)
    else:  # rows dropped by another tool, bench's metadata (and its row count) kept
        table = pq.read_table(bad)
        pq.write_table(table.slice(0, table.num_rows - 1), bad)
    for argv in (["report", str(out), "--out", str(tmp_path / "r.md")],
                 ["report", str(out), str(out), "--out", str(tmp_path / "r.md")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count(f"note: left out {bad}: ") == len(argv) - 3 and "Traceback" not in err

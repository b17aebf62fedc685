"""`bench check`: every reference metric within tolerance passes; a moved one fails, named."""
import pandas as pd
import pytest

from bench.report.check import compare, parse_tol, read_reference, report
from bench.cli import main
from bench.errors import UserError
from bench.results.folder import read_rows
from report_results import write_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("check") / "r", n=40, seeds=(0,), extra=False)


def test_parse_tol():
    assert parse_tol("2s", 500) == pytest.approx(0.004)
    assert parse_tol("0.01", None) == 0.01
    for bad in ("x", "-1", "2s"):
        with pytest.raises(UserError):
            parse_tol(bad, None)


def test_check_passes_then_fails_naming_the_metric(results, tmp_path, capsys):
    ref = tmp_path / "ref.csv"
    assert main(["check", str(results), "--reference", str(ref), "--write", "--tol", "1s"]) == 0
    assert main(["check", str(results), "--reference", str(ref)]) == 0
    assert "within tolerance" in capsys.readouterr().out
    table = pd.read_csv(ref)
    i = table.index[(table["recipe"] == "pgdt") & (table["evaluation"] == "attack:PGD")][0]
    table.loc[i, "value"] += 2 / 40  # two samples: beyond a one-sample tolerance
    table.to_csv(ref, index=False)
    assert main(["check", str(results), "--reference", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 1 of" in out and "digits/pgdt/attack:PGD/accuracy" in out and "-2.0" in out
    assert main(["check", str(results), "--reference", str(ref), "--tol", "2s"]) == 0


def test_missing_metric_fails(results, tmp_path):
    ref = tmp_path / "ref.csv"
    pd.DataFrame([{"dataset": "digits", "recipe": "erm", "evaluation": "attack:Nope", "metric": "accuracy",
                   "value": 0.5, "n": 40, "tol": "1s"}]).to_csv(ref, index=False)
    table = compare(read_rows(results), read_reference(ref))
    assert not table["ok"].any() and "missing" in report(table)


def test_reference_errors(results, tmp_path):
    assert main(["check", str(results), "--reference", str(tmp_path / "none.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,recipe\ndigits,erm\n")
    assert main(["check", str(results), "--reference", str(bad)]) == 2


def test_committed_quickstart_reference_is_well_formed():
    ref = read_reference("results/reference/quickstart.csv")
    assert set(ref["evaluation"]) == {"clean", "attack:PGD"} and set(ref["recipe"]) == {"erm", "pgdt"}
    assert ref["value"].between(0, 1).all()


def _ref(tmp_path, results, edit):
    """The results' own reference file, one line replaced by ``edit(lines)``."""
    ref = tmp_path / "ref.csv"
    assert main(["check", str(results), "--reference", str(ref), "--write"]) == 0
    lines = ref.read_text().splitlines()
    edit(lines)
    ref.write_text("\n".join(lines) + "\n")
    return ref


@pytest.mark.parametrize("column,bad,message", [
    (4, "abc", "value: expected a number"), (5, "x", "n: expected a sample count"), (5, "0", "n: expected a sample"),
    (5, "2.5", "n: expected a sample count"), (6, "inf", "tol: tolerance must be a finite number"),
])
def test_a_bad_row_fails_its_metric_with_its_line(results, tmp_path, capsys, column, bad, message):
    def edit(lines):
        cells = lines[2].split(",")
        cells[column] = bad
        lines[2] = ",".join(cells)

    ref = _ref(tmp_path, results, edit)
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref)]) == 2
    out, err = capsys.readouterr()
    assert f"bench: error: {ref}:3: {message}" in err and "FAILED: 1 of" in out  # the others still pass


def test_n_must_match_the_results(results, tmp_path, capsys):
    def edit(lines):
        cells = lines[1].split(",")
        cells[5] = "500"  # the results have 40
        lines[1] = ",".join(cells)

    ref = _ref(tmp_path, results, edit)
    assert main(["check", str(results), "--reference", str(ref)]) == 1
    assert "40 samples in the results, 500 in the reference" in capsys.readouterr().out


def test_infinite_tolerance_flag_is_refused(results, tmp_path):
    ref = _ref(tmp_path, results, lambda lines: None)
    assert main(["check", str(results), "--reference", str(ref), "--tol", "inf"]) == 2


def test_nan_reference_equals_nan_result(tmp_path):
    from report_rows import synthetic

    rows = synthetic(n=20, seeds=(0,), recipes=("erm",))
    rows.loc[rows["evaluation"].str.startswith("pr:"), "correct"] = False  # mean PR over no input: NaN
    ref = tmp_path / "ref.csv"
    from bench.report.check import write_reference

    write_reference(rows, ref, None)
    table = compare(rows, read_reference(ref))
    nan = table[table["reference"].isna()]
    assert len(nan) and nan["ok"].all() and table["ok"].all()
    rows.loc[rows["evaluation"].str.startswith("pr:"), "correct"] = True  # now a number: it moved
    table = compare(rows, read_reference(ref))
    assert not table.loc[table["reference"].isna(), "ok"].any()


@pytest.mark.parametrize("content", ["", "\x00\x01binary", "dataset,recipe,evaluation,metric,value,n,tol\n", None])
def test_unreadable_reference_files_are_one_line(results, tmp_path, capsys, content):
    ref = tmp_path / "ref.csv"
    if content is None:
        ref.mkdir()
    else:
        ref.write_text(content)
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: ") and len(err.splitlines()) == 1, err

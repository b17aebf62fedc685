"""`bench check`: every reference metric within tolerance passes; a moved one fails, named."""
import pandas as pd
import pytest

from bench.check import compare, parse_tol, read_reference, report
from bench.cli import main
from bench.errors import UserError
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
    from bench.report import load_rows

    table = compare(load_rows(results), read_reference(ref))
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

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


# Issue 23, item 6: a reference file is data, read exactly and written safely.
def _written(tmp_path, results, name="ref.csv"):
    ref = tmp_path / name
    assert main(["check", str(results), "--reference", str(ref), "--write"]) == 0
    return ref


def test_a_byte_order_mark_is_skipped(results, tmp_path, capsys):
    ref = _written(tmp_path, results)
    ref.write_bytes(b"\xef\xbb\xbf" + ref.read_bytes())  # as a spreadsheet saves it
    assert main(["check", str(results), "--reference", str(ref)]) == 0
    assert "within tolerance" in capsys.readouterr().out


def test_a_column_twice_is_one_line(results, tmp_path, capsys):
    ref = tmp_path / "ref.csv"
    ref.write_text("dataset,recipe,evaluation,metric,value,n,value\ndigits,erm,clean,accuracy,0.5,40,0.9\n")
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref)]) == 2
    err = capsys.readouterr().err
    assert f"{ref}:1: value: column 'value' appears 2 times" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("cut,field", [(1, "tol"), (2, "n"), (3, "value"), (-1, "row")])
def test_a_short_or_long_row_is_its_line(results, tmp_path, capsys, cut, field):
    def edit(lines):
        cells = lines[2].split(",")
        lines[2] = ",".join(cells[:-cut] if cut > 0 else cells + ["extra"])

    ref = _ref(tmp_path, results, edit)
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref)]) == 2
    out, err = capsys.readouterr()
    assert f"bench: error: {ref}:3: {field}: " in err and "fields where the header has" in err, err
    assert "FAILED: 1 of" in out and "missing" not in out


def test_metrics_the_reference_lacks_are_named_and_fail_with_strict(results, tmp_path, capsys):
    ref = _ref(tmp_path, results, lambda lines: lines.pop(3))
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref)]) == 0
    out = capsys.readouterr().out
    note = [line for line in out.splitlines() if line.startswith("note: 1 metrics of the results are not in")]
    assert len(note) == 1 and "--strict" in note[0], out
    assert main(["check", str(results), "--reference", str(ref), "--strict"]) == 1
    assert "FAILED (--strict): 1 metrics of the results are not in the reference" in capsys.readouterr().out


@pytest.mark.parametrize("label", ['=HYPERLINK("http://x.example","click")', "+1", "-2", "@SUM(A1)", "\tx", "\rx",
                                   "'quoted", "two\nlines", 'a "quote", a comma', "é 🙂"])
def test_labels_are_escaped_and_read_back(tmp_path, capsys, label):
    from report_rows import synthetic

    rows = synthetic(n=20, seeds=(0,), recipes=("erm",)).replace({"recipe": {"erm": label}})
    results = write_results(tmp_path / "r", rows=rows)
    ref = _written(tmp_path, results)
    text = ref.read_text(encoding="utf-8")
    for line in text.split("\n")[1:]:  # no cell a spreadsheet would run
        assert not any(cell.lstrip('"')[:1] in "=+-@\t\r" for cell in line.split(",")[:4] if cell), line
    assert set(read_reference(ref)["recipe"]) == {label}
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref), "--strict"]) == 0, capsys.readouterr()


def test_old_reference_files_still_read():
    """Files written before the settings columns and the escaping: read as they were."""
    for name in ("quickstart", "fashion-ci"):
        ref = read_reference(f"results/reference/{name}.csv")
        assert (ref["error"] == "").all() and len(ref) >= 4


def test_a_settings_mismatch_is_named_in_the_failure_line(results, tmp_path, capsys):
    import json

    run = json.loads((results / "run.json").read_text())
    run.update(threads=1, device="cpu", deterministic=False)
    (results / "run.json").write_text(json.dumps(run))
    ref = _written(tmp_path, results)
    assert ref.read_text().splitlines()[0].endswith(",tol,threads,deterministic,device")
    table = pd.read_csv(ref)
    table.loc[0, "value"] += 5 / 40
    table.to_csv(ref, index=False)
    run.update(threads=4, device="cuda")
    (results / "run.json").write_text(json.dumps(run))
    capsys.readouterr()
    assert main(["check", str(results), "--reference", str(ref)]) == 1
    head = capsys.readouterr().out.splitlines()[0]
    assert head.startswith("FAILED: 1 of") and \
        "(the results ran with threads=4, device=cuda, the reference with threads=1, device=cpu)" in head, head
    run.update(threads=1, device="cpu")
    (results / "run.json").write_text(json.dumps(run))
    assert main(["check", str(results), "--reference", str(ref)]) == 1
    assert "the results ran with" not in capsys.readouterr().out

"""Layouts through the registry on synthetic rows that follow the row conventions."""
import pandas as pd
import pytest

from bench.errors import UserError
from bench.report.build import default_tables, render, tables_for
from bench.report.layouts import LAYOUTS, compare, outcomes
from bench.report.layouts.attacks import TABLE9_ATTACKS
from report_rows import run_info, synthetic

ROWS = synthetic()
RUN = run_info()


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_layout_is_rectangular_with_best_in_bold(name):
    table = LAYOUTS.get(name)(ROWS, RUN)
    if name == "table12":  # one alpha in the synthetic rows: nothing to sweep
        assert table is None
        return
    assert table is not None and table.rows, name
    for _, cells in table.rows:
        assert len(cells) == len(table.header)
    assert any(c.best for _, cells in table.rows for c in cells)
    assert f"## {table.title}" in render("md", [table], "t", ROWS, RUN)
    assert f"\\label{{tab:{name}}}" in render("latex", [table], "t", ROWS, RUN)
    assert f'id="table-{name}"' in render("html", [table], "t", ROWS, RUN)


@pytest.mark.parametrize("name", [n for n in LAYOUTS if n != "leaderboard"])
def test_layouts_are_none_without_their_rows(name):
    clean = ROWS[ROWS["evaluation"] == "clean"]
    run = {**RUN, "timings": {}}
    assert LAYOUTS.get(name)(clean, run) is None


def test_unknown_table_is_a_user_error():
    with pytest.raises(UserError, match="did you mean 'table1'"):
        tables_for(ROWS, RUN, ["tabel1"])


def test_named_table_without_its_rows_is_a_user_error():
    with pytest.raises(UserError, match="table1: these results hold none of the rows"):
        tables_for(ROWS[ROWS["evaluation"] == "clean"], RUN, ["table1"])


def test_default_tables_in_order():
    names = [t.name for t in tables_for(ROWS, RUN, None)]
    assert names[0] == "leaderboard"
    assert names == [n for n in default_tables() if n in names]
    assert {"table1", "table9", "table3", "table11", "atpr", "adt", "mail", "table4"} <= set(names)


def _cell(table, row, col):
    labels = [label for label, _ in table.rows]
    cols = [c for _, c in table.header]
    return table.rows[labels.index(row)][1][cols.index(col)]


def test_table1_numbers():
    t = LAYOUTS.get("table1")(ROWS, RUN)
    assert [g for g, _ in t.header] == ["Standard Accuracy", "Certified Robustness Rate", "Certified Robust Accuracy"]
    g = ROWS[(ROWS["recipe"] == "pgdt") & (ROWS["evaluation"] == "certify:linf@0.1")]
    rate = g.groupby("seed").apply(lambda s: (s["decision"] == "certified").mean()).mean()
    cells = dict(zip(t.header, t.rows[1][1]))
    assert cells[("Certified Robustness Rate", "digits")].value == pytest.approx(rate)
    assert "κ = 0.01" in t.caption  # the paper's kappa, not a sweep point


def test_table9_rows():
    t = LAYOUTS.get("table9")(ROWS, RUN)
    labels = [label for label, _ in t.rows]
    assert labels[0] == "No attack" and labels[-1] == "Any attack"
    assert "PGD [vote, EOT] (adaptive)" in labels and any("adaptive" in n for n in t.notes)
    paper = [label for label in labels if label in TABLE9_ATTACKS]
    assert paper == sorted(paper, key=TABLE9_ATTACKS.index)
    for j in range(len(t.header)):  # the worst case is at most every single attack
        column = [cells[j].value for _, cells in t.rows[:-1]]
        assert t.rows[-1][1][j].value <= min(column) + 1e-12


def test_sweeps_and_cost():
    t11 = LAYOUTS.get("table11")(ROWS, RUN)
    assert [c for _, c in t11.header][0].startswith("κ = 0")
    assert len(t11.header) == 4
    t4 = LAYOUTS.get("table4")(ROWS, RUN)
    assert _cell(t4, "erm", "Training time (s)").value == pytest.approx(10.5)
    assert _cell(t4, "erm", "Training time (s)").best  # lowest, and more than 20% below the next


PAPER_LAYOUTS = {"table1", "table2", "table3", "table4", "table9", "table10", "table11", "table12", "adt", "mail",
                 "atpr"}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_titles_say_what_the_table_holds(name):
    """A title says what the table holds; a paper's table number only in that paper's layouts, after it."""
    table = LAYOUTS.get(name)(ROWS, RUN) or LAYOUTS.get(name)(synthetic(seeds=(0,)).assign(alpha=0.05), RUN)
    title = table.title if table is not None else None
    if title is None:
        return
    assert not title.startswith("Table") and len(title.split()) >= 3, title
    if name.startswith("table"):
        assert title.endswith(f"(certified-PR paper, Table {name[5:]})"), title
    elif name not in PAPER_LAYOUTS:
        assert "Table" not in title and "paper" not in title, title
    assert LAYOUTS.get("table9")(ROWS, RUN).title == "Robust accuracy under each attack (certified-PR paper, Table 9)"


def test_cost_bolds_only_a_clear_best_and_never_an_untrained_model():
    """Table 4's timings are single measurements: the lowest is bold only when at least 20% below the next;
    a model trained elsewhere shows "not trained", never a best training time of 0."""
    close = {**RUN, "timings": {"train": {"erm-0": 12.0, "erm-1": 12.0, "pgdt-0": 13.0, "pgdt-1": 13.0,
                                          "vmt-0": 30.0, "vmt-1": 30.0}, "eval": {}}}
    t4 = LAYOUTS.get("table4")(ROWS, close)
    assert not any(_cell(t4, r, "Training time (s)").best for r in ("erm", "pgdt", "vmt"))  # 12 s against 13 s
    assert "at least 20% below the next" in t4.caption
    clear = {**close, "timings": {"train": {**close["timings"]["train"], "erm-0": 9.0, "erm-1": 9.0}, "eval": {}}}
    assert _cell(LAYOUTS.get("table4")(ROWS, clear), "erm", "Training time (s)").best  # 9 s against 13 s
    external = {**clear, "models": {"erm": {"source": "python", "class": "Net"}}}
    external["timings"]["train"].update({"erm-0": 0.0, "erm-1": 0.0})
    t4 = LAYOUTS.get("table4")(ROWS, external)
    erm = _cell(t4, "erm", "Training time (s)")
    assert erm.value is None and erm.text == "not trained" and not erm.best
    pgdt = _cell(t4, "pgdt", "Training time (s)")
    assert pgdt.best and pgdt.text == "13"  # the lowest of the trained ones (13 s against 30 s), not erm's 0
    assert "not trained" in render("md", [t4], "t", ROWS, external) and "**0**" not in render("md", [t4], "t", ROWS,
                                                                                                 external)


def test_compare_marks_ties_and_intervals():
    idx = pd.MultiIndex.from_arrays([[0] * 100, range(100)])
    a = pd.Series([True] * 80 + [False] * 20, index=idx)
    b = pd.Series([True] * 79 + [False] * 21, index=idx)
    c = pd.Series([True] * 40 + [False] * 60, index=idx)
    cells = compare({"a": a, "b": b, "c": c})
    assert cells["a"].best and not cells["a"].tied
    assert cells["b"].tied and not cells["b"].best  # one sample apart: noise
    assert not cells["c"].tied  # 40 samples apart: real
    lo, hi = cells["a"].ci
    assert lo < 0.8 < hi and "Wilson" in cells["a"].note


def test_outcomes_index():
    s = outcomes(ROWS[(ROWS["recipe"] == "erm") & (ROWS["evaluation"] == "clean")])
    assert s.index.nlevels == 2 and len(s) == 120


def test_alpha_sweep_takes_the_point_at_the_default_kappa():
    """Table 12 sweeps alpha at kappa 0.01: the kappa=0.001 point (alpha 0.01 too) must not stand in."""
    from bench.results.store import COLUMNS

    frames = []
    for name, kappa, alpha, decision in [("certify:linf-sweep@0.1[kappa=0.001,alpha=0.01]", 0.001, 0.01, "undecided"),
                                         ("certify:linf-sweep@0.1", 0.01, 0.01, "certified"),
                                         ("certify:linf-sweep@0.1[kappa=0.01,alpha=0.05]", 0.01, 0.05, "certified")]:
        frames.append(pd.DataFrame({"dataset": "digits", "recipe": "erm", "arch": "small_cnn", "seed": 0,
                                    "evaluation": name, "index": range(10), "label": 1, "pred": 1, "correct": True,
                                    "decision": decision, "kappa": kappa, "alpha": alpha, "eps": 0.1}))
    rows = pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)
    t12 = LAYOUTS.get("table12")(rows, {})
    values = {c: cell.value for (_, c), cell in zip(t12.header, t12.rows[0][1])}
    assert values == {"1 − α = 0.99": 1.0, "1 − α = 0.95": 1.0}

"""The AT-PR, ADT and MAIL tables (bench/report/layouts/shapes.py): which evaluation fills each column."""
import json

import numpy as np
import pandas as pd
import pytest

from bench.report.layouts import LAYOUTS
from report_rows import run_info, synthetic

CW_LABEL = {"atpr": "CW∞", "adt": "C&W", "mail": "CW"}


def _headers(table):
    return [label for _, label in table.header]


def _with_cw(rows, name="attack:CW", eps=None, norm=None):
    """The synthetic rows with their CWinf evaluation replaced by one named ``name`` with this eps/norm."""
    rows = rows.copy()
    cw = rows["evaluation"] == "attack:CWinf"
    rows.loc[cw, "evaluation"] = name
    rows["eps"] = rows["eps"].astype(object)
    rows.loc[cw, "eps"] = eps
    rows.loc[cw, "norm"] = norm
    return rows


@pytest.mark.parametrize("name", ["atpr", "adt", "mail"])
def test_unbounded_cw_never_fills_the_linf_column(name):
    rows = _with_cw(synthetic(seeds=(0,)))  # torchattacks' CW: unbounded L2, eps null
    table = LAYOUTS.get(name)(rows, run_info())
    assert CW_LABEL[name] not in _headers(table)
    need = table.caption.split(f"Left out (no Linf-bounded evaluation at the dataset's budget): {CW_LABEL[name]} needs ")
    assert len(need) == 2 and "attack:CWinf or attack:CW-inf." in need[1]


@pytest.mark.parametrize("name", ["atpr", "adt", "mail"])
def test_an_l2_attack_under_a_linf_name_never_fills_it(name):
    rows = _with_cw(synthetic(seeds=(0,)), "attack:CWinf", 0.5, "l2")
    table = LAYOUTS.get(name)(rows, run_info())
    assert CW_LABEL[name] not in _headers(table) and f"{CW_LABEL[name]} needs" in table.caption


@pytest.mark.parametrize("name", ["atpr", "adt", "mail"])
def test_a_linf_cw_fills_it(name):
    rows = _with_cw(synthetic(seeds=(0,)), "attack:CWinf", 0.1, "linf")
    table = LAYOUTS.get(name)(rows, run_info())
    col = _headers(table).index(CW_LABEL[name])
    cw = rows[(rows["evaluation"] == "attack:CWinf") & (rows["recipe"] == "pgdt")]
    assert table.rows[1][0] == "pgdt" and np.isclose(table.rows[1][1][col].value, cw["correct"].mean())
    assert "needs" not in table.caption


def _paper_pgd(rows, steps=100, alpha=0.003):
    """The synthetic rows plus a MAIL-PGD-100 evaluation (accuracy: every clean-correct input of even index)."""
    pgd = rows[rows["evaluation"] == "attack:PGD-100"].copy()
    clean = rows[rows["evaluation"] == "clean"]["correct"].to_numpy()
    pgd["evaluation"] = "attack:MAIL-PGD-100"
    pgd["correct"] = clean & (pgd["index"].to_numpy() % 2 == 0)
    pgd["norm"] = "linf"
    pgd["params"] = json.dumps({"attack": "MAIL-PGD-100", "params": {"steps": steps, "alpha": alpha, "eps": 0.1}})
    return pd.concat([rows, pgd], ignore_index=True)


def test_mail_prefers_its_papers_settings_and_says_which_each_column_used():
    rows = synthetic(seeds=(0,))
    plain = LAYOUTS.get("mail")(rows, run_info())
    assert "PGD = PGD-100, ε 0.1 (the paper's: attack:MAIL-PGD-100)" in plain.caption
    table = LAYOUTS.get("mail")(_paper_pgd(rows), run_info())
    col = _headers(table).index("PGD")
    clean = rows[(rows["evaluation"] == "clean") & (rows["recipe"] == "vmt")]
    assert table.rows[2][0] == "vmt"
    assert np.isclose(table.rows[2][1][col].value, (clean["correct"] & (clean["index"] % 2 == 0)).mean())
    assert "PGD = MAIL-PGD-100, 100 steps × 0.003, ε 0.1;" in table.caption
    assert "(the paper's: attack:MAIL-PGD-100)" not in table.caption
    assert "CW = CWinf, ε 0.1 (the paper's: attack:MAIL-CWinf);" in table.caption


def test_a_renamed_paper_setting_counts_as_the_papers():
    rows = synthetic(seeds=(0,))
    pgd = rows["evaluation"] == "attack:PGD-100"  # `attack: MAIL-PGD-100, as: PGD-100` (the paper suites)
    rows.loc[pgd, "params"] = json.dumps({"attack": "MAIL-PGD-100", "params": {"steps": 100, "alpha": 0.003}})
    caption = LAYOUTS.get("mail")(rows, run_info()).caption
    assert "PGD = MAIL-PGD-100, 100 steps × 0.003, ε 0.1;" in caption and "attack:MAIL-PGD-100)" not in caption

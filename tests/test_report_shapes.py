"""The AT-PR, ADT and MAIL tables (bench/report/layouts/shapes.py): which evaluation fills each column."""
import numpy as np
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
    assert f"{CW_LABEL[name]} needs attack:CWinf or attack:CW-inf" in table.caption


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

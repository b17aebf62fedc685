"""Intervals and tie tests with several seeds: computed over inputs (per-input means over seeds), not over
seed x input rows (bench/report/stats.py, bench/report/layouts/__init__.py)."""
import math

import numpy as np
import pandas as pd
import pytest

from bench.report.data import as_rows
from bench.report.layouts import SEEDS_NOTE, by_columns, compare, metric_column, outcomes
from bench.report.stats import Z95, mcnemar_p, wilson
from bench.results.schema import COLUMNS

# correct per (recipe, seed) over 6 inputs
OUTCOMES = {
    ("a", 0): [1, 1, 1, 0, 0, 1], ("a", 1): [1, 0, 1, 0, 1, 1], ("a", 2): [1, 1, 0, 0, 0, 1],
    ("b", 0): [1, 0, 0, 0, 0, 1], ("b", 1): [0, 0, 1, 0, 0, 1], ("b", 2): [1, 0, 0, 1, 0, 0],
}


def _rows(outcomes=OUTCOMES, index=lambda recipe: range(6)) -> pd.DataFrame:
    parts = []
    for (recipe, seed), correct in outcomes.items():
        n = len(correct)
        part = pd.DataFrame({c: [None] * n for c in COLUMNS})
        part = part.assign(dataset="digits", recipe=recipe, arch="small_cnn", seed=seed, evaluation="clean",
                           kind="clean", base="clean", adaptive=False, sweep=False, index=list(index(recipe)),
                           label=0, correct=np.array(correct, bool), params="{}")
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _column(rows):
    return metric_column(as_rows(rows), "digits", ["a", "b"], "clean")


def _by_hand(recipe, seeds=(0, 1, 2)):
    """Per-input means over seeds, their normal interval, the std over seeds of per-seed accuracy."""
    m = np.mean([OUTCOMES[(recipe, s)] for s in seeds], axis=0)
    half = Z95 * m.std(ddof=1) / math.sqrt(len(m))
    per_seed = [np.mean(OUTCOMES[(recipe, s)]) for s in seeds]
    return m, (max(m.mean() - half, 0.0), min(m.mean() + half, 1.0)), float(np.std(per_seed, ddof=1))


def test_three_seeds_interval_is_over_inputs():
    col = _column(_rows())
    for recipe in ("a", "b"):
        m, ci, sd = _by_hand(recipe)
        assert col[recipe].ci == pytest.approx(ci, abs=1e-12)
        assert col[recipe].value == pytest.approx(np.mean([np.mean(OUTCOMES[(recipe, s)]) for s in range(3)]))
        assert f"std over 3 seeds {100 * sd:.1f}" in col[recipe].note and "6 inputs" in col[recipe].note
    # a's interval over 6 inputs is wider than the Wilson interval of its 18 seed x input rows
    k = sum(sum(OUTCOMES[("a", s)]) for s in range(3))
    lo, hi = wilson(k, 18)
    assert col["a"].ci[1] - col["a"].ci[0] > hi - lo


def test_two_seeds_tie_test_is_the_sign_test_over_inputs():
    outcomes = {k: v for k, v in OUTCOMES.items() if k[1] < 2}
    rows = _rows(outcomes)
    ma = np.mean([OUTCOMES[("a", s)] for s in (0, 1)], axis=0)  # a is the best
    mb = np.mean([OUTCOMES[("b", s)] for s in (0, 1)], axis=0)
    b, c = int((ma > mb).sum()), int((ma < mb).sum())
    assert (b, c) == (4, 0)  # the seed x input McNemar counts would be (5, 1)
    col = _column(rows)
    assert col["a"].best and f"sign test vs a: p = {mcnemar_p(b, c):.3g}" in col["b"].note
    cells = compare({r: outcomes_of(rows, r) for r in ("a", "b")})
    assert cells["b"].note == col["b"].note and cells["b"].ci == pytest.approx(col["b"].ci)
    m, half = mb.mean(), Z95 * mb.std(ddof=1) / math.sqrt(6)
    assert col["b"].ci == pytest.approx((m - half, m + half))


def outcomes_of(rows, recipe):
    return outcomes(rows[rows["recipe"] == recipe])


def test_methods_sharing_no_input_are_not_paired():
    one = {("a", 0): OUTCOMES[("a", 0)], ("b", 0): OUTCOMES[("b", 0)]}
    rows = _rows(one, index=lambda r: range(6) if r == "a" else range(6, 12))
    col = _column(rows)
    assert "not paired" in col["b"].note and "p =" not in col["b"].note and not col["b"].tied
    cells = compare({r: outcomes_of(rows, r) for r in ("a", "b")})
    assert "not paired" in cells["b"].note and not cells["b"].tied


def test_one_seed_keeps_wilson_and_mcnemar_and_the_note():
    one = {("a", 0): OUTCOMES[("a", 0)], ("b", 0): OUTCOMES[("b", 0)]}
    col = _column(_rows(one))
    assert col["b"].ci == wilson(2, 6) and col["b"].note == "95% CI 9.7–70.0 (Wilson, 2/6); McNemar vs a: p = 0.5"  # b = 2, c = 0
    table = by_columns("t", "t", "r", ["a", "b"], [(("", "clean"), col)])
    assert SEEDS_NOTE not in table.notes
    several = by_columns("t", "t", "r", ["a", "b"], [(("", "clean"), _column(_rows()))])
    assert SEEDS_NOTE in several.notes

"""Wilson intervals, McNemar's exact test, and the long-format metrics the check and compare read."""
import math

import numpy as np
import pandas as pd
import pytest

from bench.report.values import metric_values
from bench.report.stats import mcnemar, mean_interval, wilson
from report_rows import synthetic


def test_wilson_known_values():
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson(0, 0))


@pytest.mark.parametrize("k,n", [(1, 7), (250, 500), (499, 500)])
def test_wilson_contains_estimate(k, n):
    lo, hi = wilson(k, n)
    assert lo <= k / n <= hi


def test_mcnemar_exact():
    a = pd.Series([True] * 10 + [False] * 5)
    b = pd.Series([False] * 10 + [False] * 5)
    p, only_a, only_b = mcnemar(a, b)
    assert (only_a, only_b) == (10, 0)
    assert p == pytest.approx(2 * 0.5 ** 10)
    assert mcnemar(a, a)[0] == 1.0


def test_mean_interval():
    lo, hi = mean_interval([1.0, 2.0, 3.0, np.nan])
    assert lo < 2.0 < hi
    assert mean_interval([0.5]) == (0.5, 0.5)


def test_metrics_match_direct_computation():
    rows = synthetic(seeds=(0,))
    m = metric_values(rows).set_index(["recipe", "evaluation", "metric"])["value"]
    g = rows[(rows["recipe"] == "vmt") & (rows["evaluation"] == "certify:linf@0.1")]
    cert = g["decision"] == "certified"
    assert m[("vmt", "certify:linf@0.1", "certified_rate")] == pytest.approx(cert.mean())
    assert m[("vmt", "certify:linf@0.1", "certified_accuracy")] == pytest.approx((cert & g["correct"]).mean())
    p = rows[(rows["recipe"] == "erm") & (rows["evaluation"] == "pr:linf@0.1")]
    assert m[("erm", "pr:linf@0.1", "mean_pr")] == pytest.approx(p.loc[p["correct"].astype(bool), "pr"].mean())
    assert m[("erm", "pr:linf@0.1", "probacc@0.1")] == pytest.approx((p["pr"] > 0.9).mean())
    s = rows[(rows["recipe"] == "pgdt") & (rows["evaluation"] == "smooth:gaussian@0.25")]
    want = (s["correct"].astype(bool) & (s["radius"].fillna(-1) >= 0.5)).mean()
    assert m[("pgdt", "smooth:gaussian@0.25", "certified_accuracy@0.5")] == pytest.approx(want)


def test_mcnemar_p_is_scipys_exact_binomial_test():
    from scipy.stats import binomtest

    from bench.report.stats import mcnemar_p

    pairs = [(b, c) for b in range(0, 40, 3) for c in range(0, 40, 5)]
    pairs += [(1, 10_000), (480, 520), (4_900, 5_100), (5_000, 5_000), (30, 9_000), (0, 1), (2, 1), (12_345, 23_456)]
    for b, c in pairs:
        want = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
        assert mcnemar_p(b, c) == pytest.approx(want, rel=1e-9, abs=1e-300), (b, c)
    assert mcnemar_p(3, 3) == 1.0 and mcnemar_p(0, 5) == pytest.approx(2 / 32)  # 2 * P(X = 0), n 5: by hand


def test_the_report_path_does_not_import_scipy():
    """scipy costs every report a tenth of a second at start-up (benchmarks/bench_report.py)."""
    import subprocess
    import sys

    code = "import sys, bench.report.build, bench.report.site; print(sorted(m for m in sys.modules if m.startswith('scipy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

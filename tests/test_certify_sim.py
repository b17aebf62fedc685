"""Simulation (10^4 runs each, Bernoulli draws, no model): the default certifier's false-certification
rate stays <= alpha for a true share just below 1 - kappa; Algorithm 2's repeated tests exceed it."""
import pytest

from bench.certify.rules import make_rule, simulate

KAPPA = ALPHA = 0.01
P_BELOW = 0.9899  # just below 1 - kappa: every certificate is false
RUNS = 10_000


def test_sprt_false_certification_rate_at_most_alpha():
    r = simulate(make_rule("sprt", KAPPA, ALPHA, 10_000, 0), P_BELOW, RUNS, seed=11)
    print(f"sprt false-certification rate at p={P_BELOW}: {r['certified']:.4f}")
    assert r["certified"] <= ALPHA


def test_paper_repeated_tests_exceed_alpha():
    r = simulate(make_rule("paper", KAPPA, ALPHA, 10_000, 0), P_BELOW, RUNS, seed=11)
    print(f"paper false-certification rate at p={P_BELOW}: {r['certified']:.4f}")
    assert r["certified"] > 3 * ALPHA  # measured ~0.065 with a 10^4-sample cap


@pytest.mark.parametrize("name", ["sprt", "paper", "fixed"])
def test_robust_vicinities_are_certified_and_fragile_ones_not(name):
    rule = make_rule(name, KAPPA, ALPHA, 10_000, 1000)
    assert simulate(rule, 0.9995, 2000, seed=1)["certified"] > 0.85
    r = simulate(rule, 0.95, 2000, seed=1)
    assert r["certified"] == 0 and (r["not_certified"] > 0.99 or name == "fixed" and r["not_certified"] > 0.9)

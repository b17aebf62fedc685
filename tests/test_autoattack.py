"""The official AutoAttack (pyautoattack) as the `autoattack:` evaluation kind."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pyautoattack import AutoAttack

from bench.data import DATASETS, DatasetInfo
from bench.errors import UserError
from bench.evals import EVALS, EvalContext
from bench.nets import build

DIGITS = DATASETS.get("digits")
AA = EVALS.get("autoattack")



@pytest.fixture(scope="module")
def tiny():
    """A random-init small_cnn on 8 digits: 6 labelled with its prediction (clean-correct), 2 not."""
    torch.manual_seed(0)
    model = build("small_cnn", DIGITS, width=4).eval()
    x = DIGITS.load()[1].x[:8]
    with torch.no_grad():
        y = model(x).argmax(1)
    y[6:] = (y[6:] + 1) % 10
    return model, x, y


def run(model, x, y, version, opts, seed=0):
    name, params = AA.resolve(version, opts, DIGITS, "suite.yaml:4")
    ctx = EvalContext(DIGITS, torch.device("cpu"), 64, seed, {})
    return AA(name, params).run(model, x, y, ctx), ctx.notes


def test_resolve_names_versions_and_mistakes():
    assert AA.resolve("standard", {}, DIGITS, "s:1") == ("attack:AutoAttack", {
        "version": "standard", "attacks": ["apgd-ce", "apgd-t", "fab-t", "square"], "individual": False,
        "norm": "linf", "eps": [0.1], "sweep": False, "seed": None})
    name, p = AA.resolve("plus", {"norm": "l2"}, DIGITS, "s:1")
    assert name == "attack:AutoAttack-plus" and p["eps"] == [0.5] and len(p["attacks"]) == 6
    _, p = AA.resolve("custom", {"attacks": ["square"], "eps": [0.05, 0.1]}, DIGITS, "s:1")
    assert p["sweep"] and p["eps"] == [0.05, 0.1]
    with pytest.raises(UserError, match=r"s:1: attacks: unknown AutoAttack component 'apgd_ce' \(did you mean 'apgd-ce'"):
        AA.resolve("custom", {"attacks": ["apgd_ce"]}, DIGITS, "s:1")
    with pytest.raises(UserError, match="version custom needs `attacks:`"):
        AA.resolve("custom", {}, DIGITS, "s:1")
    with pytest.raises(UserError, match="`attacks:` needs version custom"):
        AA.resolve("standard", {"attacks": ["fab"]}, DIGITS, "s:1")
    with pytest.raises(UserError, match="must be one of standard, plus, rand, custom, got 'plsu'"):
        AA.resolve("plsu", {}, DIGITS, "s:1")
    with pytest.raises(UserError, match="has no l1 budget: give `eps:`"):
        AA.resolve("standard", {"norm": "l1"}, DIGITS, "s:1")
    three = DatasetInfo("tri", (1, 8, 8), 3, (0.5,), (0.5,), {"linf": 0.1, "l2": 0.5}, loader=None)
    with pytest.raises(UserError) as e:
        AA.resolve("standard", {}, three, "suite.yaml:12")
    assert str(e.value) == ("suite.yaml:12: autoattack: AutoAttack (apgd-ce, apgd-t, fab-t, square) uses the DLR "
                            "loss, which needs at least 4 classes; dataset 'tri' has 3")
    AA.resolve("custom", {"attacks": ["apgd-ce", "fab"]}, three, "s:1")  # no DLR: fine


def test_worst_case_matches_the_official_code_on_clean_correct_samples(tiny):
    model, x, y = tiny
    out, notes = run(model, x, y, "custom", {"attacks": ["apgd-ce"]})
    ok = out["pred"] == y.numpy()
    assert ok[:6].all() and not ok[6:].any()
    assert (out["adv_pred"][~ok] == out["pred"][~ok]).all() and (out["linf"][~ok] == 0).all()
    torch.manual_seed(0)
    direct = AutoAttack(model, attacks=["apgd-ce"], version="custom", eps=0.1, seed=0)
    adv, adv_y = direct.run_standard_evaluation(x[:6], y[:6], batch_size=64)
    assert np.array_equal(out["adv_pred"][:6], adv_y.numpy())
    assert np.allclose(out["linf"][:6], (adv - x[:6]).flatten(1).abs().amax(1).numpy(), atol=1e-6)
    assert out["in_budget"].all() and out["correct"].sum() < 6
    assert notes["autoattack"]["attacked"] == 6 and notes["autoattack"]["seed"] == 0
    again, _ = run(model, x, y, "custom", {"attacks": ["apgd-ce"]})
    assert np.array_equal(again["adv_pred"], out["adv_pred"]) and np.array_equal(again["l2"], out["l2"])


def test_benchs_line_gives_robust_accuracy_over_all_inputs_beside_autoattacks(tiny):
    """AutoAttack's 'robust accuracy' counts only the clean-correct inputs it is given (6 of 8 here); bench's
    line after it gives the table's number (over all 8) and that one (issue 24, item 13)."""
    import io

    from bench.evals.autoattack import robust_line
    from bench.execute.progress import Board

    model, x, y = tiny
    stream = io.StringIO()
    with Board(lines=True, stream=stream).evaluating("digits/m/s0 attack:AutoAttack"):
        out, _ = run(model, x, y, "custom", {"attacks": ["apgd-ce"]})
    lines = [line.split("attack:AutoAttack: ", 1)[1] for line in stream.getvalue().splitlines()]
    robust = int(out["correct"].sum())
    assert lines[-1] == robust_line(robust, 8, 6, 0.1)
    assert lines[-1].startswith(f"AutoAttack eps 0.1: robust accuracy {robust / 8:.2%} of all 8 inputs (the table's "
                                f"number); {robust / 6:.2%} of the 6 clean-correct inputs it was given")
    assert f"robust accuracy: {robust / 6:.2%}" in lines  # AutoAttack's own line, which counts the 6
    assert robust_line(0, 8, 0, 0.1).endswith("n/a of the 0 clean-correct inputs it was given, which its own lines count")


def test_individual_rows_per_component(tiny):
    model, x, y = tiny
    out, _ = run(model, x, y, "custom", {"attacks": ["apgd-ce", "apgd-dlr"], "individual": True})
    names = list(dict.fromkeys(out["evaluation"]))
    assert names == ["attack:AutoAttack-custom", "attack:AutoAttack-custom/apgd-ce",
                     "attack:AutoAttack-custom/apgd-dlr"]
    assert list(out["component"]) == [None] * 8 + ["apgd-ce"] * 8 + ["apgd-dlr"] * 8
    worst, ce, dlr = (out["correct"][i * 8:(i + 1) * 8] for i in range(3))
    assert not (worst & ~ce).any()  # the cascade starts with apgd-ce on the same samples and seed
    assert not dlr[6:].any() and not ce[6:].any()  # clean mistakes fail every component
    assert out["in_budget"].all() and set(out["norm"]) == {"linf"}


def test_eps_sweep_blocks(tiny):
    model, x, y = tiny
    out, notes = run(model, x, y, "custom", {"attacks": ["apgd-ce"], "eps": [0.02, 0.2]})
    assert list(dict.fromkeys(out["evaluation"])) == ["attack:AutoAttack-custom@0.02", "attack:AutoAttack-custom@0.2"]
    assert (out["linf"][:8] <= 0.02 + 1e-5).all() and list(out["eps"]) == [0.02] * 8 + [0.2] * 8
    assert out["correct"][:8].sum() >= out["correct"][8:].sum()


class Noisy(torch.nn.Module):
    """A randomized 'defence' returning probabilities: AutoAttack's checks must flag both."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return torch.softmax(self.model(x + 0.01 * torch.randn_like(x)), 1)


def test_autoattack_checks_are_recorded_in_the_notes(tiny):
    model, x, y = tiny
    _, notes = run(Noisy(model), x, y, "custom", {"attacks": ["apgd-ce"]})
    checks = " ".join(notes["autoattack"]["checks"])
    assert "randomized defense" in checks and "probability distribution" in checks

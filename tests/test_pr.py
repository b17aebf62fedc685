"""PR estimate (bench.pr.estimate) and the `pr` evaluation: counts, the AE rule, aggregates, rows."""
import numpy as np
import pytest
import torch

from bench.pr.estimate import agree_counts, agrees
from bench.results.metrics import summarise
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext


class Threshold(torch.nn.Module):
    """Class 1 when the mean pixel exceeds 0.5, else class 0 (logits +-(mean - 0.5))."""

    def forward(self, x):
        m = x.flatten(1).mean(1) - 0.5
        return torch.stack([-m, m], 1)


def test_ties_are_adversarial():
    logits = torch.tensor([[1.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert agrees(logits, torch.tensor([0, 0, 1])).tolist() == [False, True, True]


def test_agree_counts_match_the_share_of_the_vicinity():
    x = torch.cat([torch.full((1, 1, 4, 4), 0.9), torch.full((1, 1, 4, 4), 0.1), torch.full((1, 1, 4, 4), 0.5)])
    y = torch.tensor([1, 1, 1])
    agree = agree_counts(Threshold(), x, y, "linf", 0.2, 4000, 512, "cpu")
    assert agree[0] == 4000 and agree[1] == 0
    assert abs(agree[2] / 4000 - 0.5) < 0.04  # symmetric about the boundary


def test_pr_metrics_conventions():
    """The declared PR aggregates (bench.results.metrics), by hand: AT-PR's mean over clean-correct inputs,
    PRL's ProbAcc over all inputs with a strict comparison, ProbAcc over clean-correct inputs, augmented accuracy."""
    pr = np.array([1.0, 0.95, 0.5, 0.0])
    correct = np.array([True, True, True, False])
    m = summarise("pr", {"pr": pr, "correct": correct})
    assert m["mean_pr"]["value"] == pytest.approx((1 + 0.95 + 0.5) / 3) and m["mean_pr"]["n"] == 3
    assert m["mean_pr"]["std"] == pytest.approx(np.std([1, 0.95, 0.5]))
    assert m["probacc@0.1"]["value"] == pytest.approx(0.5) and m["probacc@0.1"]["n"] == 4  # pr > 0.9
    assert m["probacc_cc@0.1"]["value"] == pytest.approx(2 / 3) and m["probacc_cc@0.1"]["n"] == 3
    assert m["probacc@0.05"]["value"] == pytest.approx(0.25)  # strictly greater than 1 - q: 0.95 is not
    assert m["augmented_accuracy"]["value"] == pytest.approx(pr.mean())


def _ctx():
    return EvalContext(info=DATASETS.get("digits"), device=torch.device("cpu"), batch_size=256, seed=0, notes={})


def test_pr_evaluation_rows_per_radius():
    info = DATASETS.get("digits")
    name, p = EVALS.get("pr").resolve("linf", {"eps": [0.03, 0.1], "n": 50}, info, "s.yaml:1")
    assert name == "pr:linf" and p == {"vicinity": "linf", "eps": [0.03, 0.1], "n": 50}
    x = torch.rand(6, 1, 8, 8)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    ctx = _ctx()
    cols = EVALS.get("pr")(name, p).run(Threshold(), x, y, ctx)
    assert list(dict.fromkeys(cols["evaluation"])) == ["pr:linf@0.03", "pr:linf@0.1"]
    assert len(cols["pr"]) == 12 and (cols["n"] == 50).all()
    assert np.allclose(cols["pr"], cols["agree"] / 50) and set(cols["eps"]) == {0.03, 0.1}
    clean = Threshold()(x).argmax(1).numpy()
    assert np.array_equal(cols["pred"][:6], clean) and np.array_equal(cols["correct"][6:], clean == y.numpy())
    assert set(ctx.notes["pr"]) == {"pr:linf@0.03", "pr:linf@0.1"}
    block = slice(6, 12)  # the notes are the declared metrics of each radius's rows
    cc = cols["correct"][block]
    want = cols["pr"][block][cc].mean() if cc.any() else float("nan")
    assert ctx.notes["pr"]["pr:linf@0.1"]["mean_pr"]["value"] == pytest.approx(want, nan_ok=True)


def test_pr_default_radius_and_errors():
    info = DATASETS.get("digits")
    assert EVALS.get("pr").resolve("l2", {}, info, "s:1")[1]["eps"] == [0.5]
    with pytest.raises(UserError, match="did you mean 'gaussian'"):
        EVALS.get("pr").resolve("gausian", {}, info, "s:1")
    with pytest.raises(UserError, match="unknown key 'samples'"):
        EVALS.get("pr").resolve("linf", {"samples": 3}, info, "s:1")

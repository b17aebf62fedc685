"""PR estimate (bench.pr.estimate) and the `pr` evaluation: counts, the AE rule, aggregates, rows."""
import numpy as np
import pytest
import torch

from bench.pr.estimate import agree_counts, agrees, pr_metrics
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
    pr = np.array([1.0, 0.95, 0.5, 0.0])
    correct = np.array([True, True, True, False])
    m = pr_metrics(pr, correct)
    assert m["mean_pr"] == pytest.approx((1 + 0.95 + 0.5) / 3)  # AT-PR: clean-correct only
    assert m["prob_acc@0.1"] == pytest.approx(0.5)  # PRL: all inputs, pr > 0.9
    assert m["prob_acc_cc@0.1"] == pytest.approx(2 / 3)
    assert m["prob_acc@0.05"] == pytest.approx(0.25)  # strictly greater than 1 - q
    assert m["augmented_accuracy"] == pytest.approx(pr.mean())


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
    assert set(ctx.notes["pr_metrics"]) == {"pr:linf@0.03", "pr:linf@0.1"}


def test_pr_default_radius_and_errors():
    info = DATASETS.get("digits")
    assert EVALS.get("pr").resolve("l2", {}, info, "s:1")[1]["eps"] == [0.5]
    with pytest.raises(UserError, match="did you mean 'gaussian'"):
        EVALS.get("pr").resolve("gausian", {}, info, "s:1")
    with pytest.raises(UserError, match="unknown key 'samples'"):
        EVALS.get("pr").resolve("linf", {"samples": 3}, info, "s:1")

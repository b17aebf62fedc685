"""Inference modes (bench.evals._predictors): plain, vote, smooth; `predictor:` on clean and attack, with EOT."""
import pytest
import torch

from bench.evals import _predictors
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext

INFO = DATASETS.get("digits")


class Bright(torch.nn.Module):
    """10 classes on 8x8 inputs: class 1 when the mean pixel exceeds 0.5, else class 0."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(20.0))

    def forward(self, x):
        m = self.scale * (x.flatten(1).mean(1, keepdim=True) - 0.5)
        return torch.cat([-m, m, torch.full((len(x), 8), -50.0)], 1)


def test_parse_predictor():
    assert _predictors.parse_predictor(None, INFO, "s:1") is None and _predictors.parse_predictor("plain", INFO, "s:1") is None
    assert _predictors.parse_predictor("vote", INFO, "s:1") == {"name": "vote", "vicinity": "linf", "eps": 0.1, "n": 100,
                                                          "eot": 16}
    spec = _predictors.parse_predictor({"name": "smooth", "sigma": 0.5}, INFO, "s:1")
    assert spec["sigma"] == 0.5 and spec["alpha"] == 0.001
    with pytest.raises(UserError, match="did you mean 'vote'"):
        _predictors.parse_predictor("vot", INFO, "s:1")
    with pytest.raises(UserError, match="must be < 1"):
        _predictors.parse_predictor({"name": "vote", "vicinity": "scale", "eps": 2}, INFO, "s:1")


@pytest.mark.parametrize("name", ["plain", "vote", "smooth"])
def test_modes_predict_the_clear_cases(name):
    x = torch.cat([torch.full((2, 1, 8, 8), 0.9), torch.full((2, 1, 8, 8), 0.1)])
    spec = _predictors.parse_predictor(name, INFO, "s:1")
    assert _predictors.predictions(Bright(), spec, x, 10, 64, "cpu").tolist() == [1, 1, 0, 0]


def test_clean_with_predictor_is_named():
    name, p = EVALS.get("clean").resolve(None, {"predictor": "vote"}, INFO, "s:1")
    assert name == "clean[vote]"
    assert EVALS.get("clean").resolve(None, {}, INFO, "s:1") == ("clean", {})
    ctx = EvalContext(info=INFO, device=torch.device("cpu"), batch_size=64, seed=0, notes={})
    x, y = torch.full((3, 1, 8, 8), 0.9), torch.tensor([1, 1, 0])
    cols = EVALS.get("clean")(name, p).run(Bright(), x, y, ctx)
    assert cols["correct"].tolist() == [True, True, False] and set(cols["evaluation"]) == {"clean[vote]"}


def test_attack_through_vote_has_plain_and_eot_blocks():
    name, p = EVALS.get("attack").resolve("PGD", {"predictor": {"name": "vote", "n": 20, "eot": 4}}, INFO, "s:1")
    assert p["predictor"]["name"] == "vote"
    assert "predictor" not in EVALS.get("attack").resolve("PGD", {}, INFO, "s:1")[1]  # plain ids unchanged
    torch.manual_seed(0)
    x = torch.cat([torch.full((3, 1, 8, 8), 0.56), torch.full((3, 1, 8, 8), 0.9)])
    y = torch.ones(6, dtype=torch.int64)
    ctx = EvalContext(info=INFO, device=torch.device("cpu"), batch_size=64, seed=0, notes={})
    cols = EVALS.get("attack")(name, p).run(Bright(), x, y, ctx)
    assert list(dict.fromkeys(cols["evaluation"])) == ["attack:PGD[vote]", "attack:PGD[vote,EOT]"]
    assert len(cols["pred"]) == 12 and (cols["linf"] <= 0.1 + 1e-5).all() and cols["in_budget"].all()
    # inputs 0.06 above the boundary fall within eps 0.1; those 0.4 above cannot
    assert cols["correct"][6:].tolist() == [False] * 3 + [True] * 3


def test_expectation_gradient_averages_over_samples():
    draw = lambda x, m: x.repeat_interleave(m, 0) + 0.01 * torch.randn(len(x) * m, *x.shape[1:])  # noqa: E731
    module = _predictors.Expectation(Bright(), draw, 8)
    x = torch.full((2, 1, 8, 8), 0.6, requires_grad=True)
    out = module(x)
    assert out.shape == (2, 10) and torch.allclose(out.exp().sum(1), torch.ones(2), atol=1e-5)
    out[:, 1].sum().backward()
    assert (x.grad < 0).sum() == 0 and x.grad.abs().sum() > 0

"""Randomized smoothing (Cohen et al. 2019): CERTIFY's radius, PREDICT's abstention, the `smooth` evaluation."""
import numpy as np
import pytest
import torch
from scipy.stats import norm

from bench.certify import smoothing
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext


class Linear1(torch.nn.Module):
    """On 1x1x1 inputs: class 1 when x > 0.3, else 0. The L2 distance to the boundary is |x - 0.3|."""

    def forward(self, x):
        z = x.flatten(1)[:, :1] - 0.3
        return torch.cat([-z, z], 1)


def test_certified_radius_approaches_the_distance_to_the_boundary():
    torch.manual_seed(0)
    x = torch.tensor([0.6, 0.45, 0.0, 0.3005]).view(4, 1, 1, 1)
    out = smoothing.certify(Linear1(), x, 0.25, 100, 50000, 0.001, 2)
    assert out["pred"][:3].tolist() == [1, 1, 0]
    assert np.allclose(out["radius"][:3], [0.3, 0.15, 0.3], atol=0.02)
    assert (out["radius"][:3] < [0.3, 0.15, 0.3]).all()  # a lower bound
    assert out["pred"][3] == -1 and out["radius"][3] == 0  # p_A ~ 0.5008: too close to certify


def test_constant_classifier_radius_is_the_clopper_pearson_formula():
    class Const(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[0.0, 1.0]]).repeat(len(x), 1)

    out = smoothing.certify(Const(), torch.zeros(2, 1, 2, 2), 0.5, 10, 1000, 0.001, 2)
    assert np.allclose(out["radius"], 0.5 * norm.ppf(0.001 ** (1 / 1000)))
    assert (out["agree"] == 1000).all() and (out["pred"] == 1).all()


def test_predict_abstains_near_the_boundary():
    torch.manual_seed(1)
    x = torch.tensor([0.9, 0.3]).view(2, 1, 1, 1)
    assert smoothing.smoothed_predictions(Linear1(), x, 0.25, 1000, 0.001, 2).tolist() == [1, -1]


def test_certified_accuracy():
    acc = smoothing.certified_accuracy([1, 0, -1, 1], [1, 1, 1, 1], [0.5, 0.9, 0.0, 0.2], [0, 0.25, 0.5])
    assert acc == {0.0: 0.5, 0.25: 0.25, 0.5: 0.25}


def test_smooth_evaluation_rows():
    info = DATASETS.get("digits")
    name, p = EVALS.get("smooth").resolve(None, {"sigma": [0.12, 0.5], "n": 500, "n0": 20}, info, "s:1")
    assert name == "smooth" and p["alpha"] == 0.001 and "radii" not in p
    x = torch.tensor([0.9, 0.1, 0.3]).view(3, 1, 1, 1)
    y = torch.tensor([1, 0, 1])
    ctx = EvalContext(info=info, device=torch.device("cpu"), batch_size=64, seed=0, notes={})
    cols = EVALS.get("smooth")(name, p).run(Linear1(), x, y, ctx)
    assert list(dict.fromkeys(cols["evaluation"])) == ["smooth@0.12", "smooth@0.5"]
    assert (cols["n"] == 500).all() and cols["pred"][2] == -1 and cols["radius"][2] == 0
    assert np.array_equal(cols["correct"], cols["pred"] == np.tile(y.numpy(), 2))
    assert cols["sigma"].tolist() == [0.12] * 3 + [0.5] * 3 and np.isnan(cols["eps"]).all()  # eps no longer holds sigma
    assert set(cols["kind"]) == {"smooth"} and set(cols["base"]) == {"smooth"} and cols["sweep"].all()


def test_radii_key_is_gone():
    """radii only fed the cell notes; the report's radii are smoothing's metric declarations (bench.results.metrics)."""
    with pytest.raises(UserError, match="smooth.radii: unknown key 'radii'"):
        EVALS.get("smooth").resolve(None, {"radii": [0.5]}, DATASETS.get("digits"), "s.yaml:3")

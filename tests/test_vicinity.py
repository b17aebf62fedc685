"""Vicinity samplers: shapes, bounds, the Linf box, the L2 ball, per-sample transforms, reproducibility."""
import math

import pytest
import torch

from bench.pr import vicinity
from bench.data import DATASETS
from bench.pr.keyed import KeyedSource, row_keys
from bench.pr.vicinity import VICINITIES, check_radius, draw, sample

X = torch.rand(3, 1, 8, 8)
RADIUS = {"linf": 0.1, "linf-clip": 0.1, "l2": 0.5, "gaussian": 0.1, "rotation": 35.0, "translation": 0.3, "scale": 0.3,
          "affine": 1.0}


def test_every_vicinity_has_a_test_radius():
    assert set(VICINITIES) == set(RADIUS)


@pytest.mark.parametrize("name", list(VICINITIES))
def test_shape_range_and_order(name):
    torch.manual_seed(0)
    s = sample(name, X, 5, RADIUS[name])
    assert s.shape == (15, 1, 8, 8)
    assert s.min() >= 0 and s.max() <= 1
    # input b's samples sit at rows b*5..b*5+4: each block is closest to its own input (small radius)
    s = sample(name, X, 5, RADIUS[name] * 0.2)
    d = (s.view(3, 5, -1)[:, :, None, :] - X.view(1, 1, 3, -1)).abs().mean(-1).mean(1)  # (block, input)
    assert torch.equal(d.argmin(1), torch.arange(3))


@pytest.mark.parametrize("name", list(VICINITIES))
def test_samples_differ_per_sample_and_generator_reproduces(name):
    s1 = sample(name, X, 6, RADIUS[name], generator=torch.Generator().manual_seed(1))
    s2 = sample(name, X, 6, RADIUS[name], generator=torch.Generator().manual_seed(1))
    assert torch.equal(s1, s2)
    block = s1[:6].flatten(1)
    dist = torch.cdist(block, block)
    assert (dist + torch.eye(6) * 1e9).min() > 1e-4  # every sample of one input is different


@pytest.mark.parametrize("name", list(VICINITIES))
def test_zero_radius_is_the_input(name):
    s = sample(name, X, 2, 0.0)
    assert torch.allclose(s, X.repeat_interleave(2, 0), atol=1e-5)


def test_linf_is_uniform_on_the_clipped_box():
    x = torch.tensor([0.0, 0.05, 0.5, 0.97, 1.0]).view(1, 1, 1, 5)
    s = sample("linf", x, 20000, 0.1).view(-1, 5)
    lo, hi = (x.flatten() - 0.1).clamp(min=0), (x.flatten() + 0.1).clamp(max=1)
    assert (s >= lo - 1e-7).all() and (s <= hi + 1e-7).all()
    assert torch.allclose(s.min(0).values, lo, atol=1e-3) and torch.allclose(s.max(0).values, hi, atol=1e-3)
    assert torch.allclose(s.mean(0), (lo + hi) / 2, atol=3e-3)  # uniform: the mean is the midpoint
    assert torch.allclose(s.var(0), (hi - lo) ** 2 / 12, atol=3e-4)


def test_l2_fills_the_ball():
    x = torch.full((1, 1, 4, 4), 0.5)  # far from the box faces for r = 0.3: no clipping
    s = sample("l2", x, 20000, 0.3)
    norms = (s - x).flatten(1).norm(dim=1)
    assert norms.max() <= 0.3 + 1e-5
    # uniform in a 16-dim ball: P(norm <= r t) = t^16
    for t in (0.8, 0.95):
        assert abs((norms <= 0.3 * t).float().mean() - t ** 16) < 0.015
    # directions isotropic: the mean displacement is ~0
    assert (s - x).mean(0).abs().max() < 0.01


def test_translation_moves_content_by_at_most_the_range():
    x = torch.zeros(1, 1, 20, 20)
    x[..., 10, 10] = 1.0
    s = sample("translation", x, 400, 0.3).squeeze(1)
    ys, xs = torch.meshgrid(torch.arange(20.0), torch.arange(20.0), indexing="ij")
    mass = s.sum((1, 2)).clamp_min(1e-9)
    cx = (s * xs).sum((1, 2)) / mass
    cy = (s * ys).sum((1, 2)) / mass
    shift = torch.stack([cx, cy], 1) - 10
    kept = mass > 0.5
    assert shift[kept].abs().max() <= 0.3 * 20 + 0.6
    assert shift[kept].abs().max() >= 0.2 * 20  # the whole range is used
    assert shift[kept, 0].std() > 2 and abs(torch.corrcoef(shift[kept].T)[0, 1]) < 0.2  # independent axes


def test_rotation_angles_are_per_sample_and_bounded():
    # a horizontal bar: its orientation after the warp gives the angle
    x = torch.zeros(1, 1, 33, 33)
    x[..., 16, 4:29] = 1.0
    s = sample("rotation", x, 300, 35.0).squeeze(1)
    ys, xs = torch.meshgrid(torch.arange(33.0) - 16, torch.arange(33.0) - 16, indexing="ij")
    m = s.sum((1, 2))
    cxx, cyy, cxy = ((s * xs * xs).sum((1, 2)) / m, (s * ys * ys).sum((1, 2)) / m, (s * xs * ys).sum((1, 2)) / m)
    angle = torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy)).abs()
    assert angle.max() <= 37 and angle.max() > 30 and angle.std() > 5


def test_scale_changes_size_per_sample():
    x = torch.zeros(1, 1, 32, 32)
    x[..., 12:20, 12:20] = 1.0
    s = sample("scale", x, 300, 0.3)
    area = s.sum((1, 2, 3)) / 64  # area ratio = factor^2, factor in [0.7, 1.3]
    assert area.min() >= 0.7 ** 2 - 0.05 and area.max() <= 1.3 ** 2 + 0.05
    assert area.max() - area.min() > 0.8


def test_radius_checks():
    assert check_radius("scale", 1.0) and check_radius("linf", -0.1)
    assert check_radius("affine", 3.0) is None and check_radius("affine", 4.0)
    with pytest.raises(ValueError, match="must be < 1"):
        sample("scale", X, 2, 1.5)


@pytest.mark.parametrize("name", list(VICINITIES))
def test_default_radius_per_dataset(name):
    r = VICINITIES.get(name).default(DATASETS.get("digits"))
    assert r > 0 and check_radius(name, r) is None


def test_unknown_vicinity_did_you_mean():
    from bench.errors import UserError
    with pytest.raises(UserError, match="did you mean 'linf'"):
        VICINITIES.get("lnf")


def test_affine_draws_all_three():
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 32, 32)
    x[..., 12:20, 12:20] = 1.0
    s = sample("affine", x, 200, 1.0)
    assert vicinity.VICINITIES.get("affine").below == pytest.approx(1 / 0.3)
    area = s.sum((1, 2, 3)) / 64
    assert area.max() - area.min() > 0.5 and not math.isnan(float(area.mean()))


@pytest.mark.parametrize("name", list(VICINITIES))
def test_every_vicinity_draws_from_a_keyed_source(name):
    rows = X.repeat_interleave(4, 0)
    keys = row_keys(3, torch.arange(3).repeat_interleave(4), torch.arange(4).repeat(3))
    s = draw(name, rows, RADIUS[name], KeyedSource(keys))
    assert s.shape == rows.shape and s.min() >= 0 and s.max() <= 1
    assert torch.equal(s, draw(name, rows, RADIUS[name], KeyedSource(keys)))
    assert (s - rows).flatten(1).abs().amax(1).min() > 1e-4  # every sample moved
    assert torch.allclose(draw(name, rows, 0.0, KeyedSource(keys)), rows, atol=1e-5)

"""Interval bound propagation: soundness on every registered architecture, the ibp evaluation kind,
the ibp recipe's schedule and initialisation."""
import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bench.certify.ibp import logit_bounds, margin_bounds, verified, worst_case_logits
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext
from bench.nets import ARCHS, build
from bench.recipes.ibp import ibp_init, smoothed_eps

SMALL = {"wrn": {"depth": 10, "width": 1}, "resnet110": {"depth": 20}, "cnn7": {"width": 8, "linear": 32},
         "small_cnn": {"width": 8}}


def small_net(arch: str):
    info = DATASETS.get("mnist" if arch == "basic_convnet" else "digits")
    if arch in ("resnet18", "preact_resnet18", "wrn", "resnet110"):  # residual nets pool globally: 8x8 RGB
        info = dataclasses.replace(DATASETS.get("cifar10"), shape=(3, 8, 8))
    torch.manual_seed(0)
    net = build(arch, info, **SMALL.get(arch, {}))
    # give BatchNorm non-trivial running statistics and affine parameters
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, -1.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    return net.eval(), info


@pytest.mark.parametrize("arch", list(ARCHS))
def test_bounds_contain_every_sampled_point(arch):
    net, info = small_net(arch)
    eps = 0.02
    x = torch.rand(2, *info.shape)
    y = torch.tensor([0, 3])
    with torch.no_grad():
        box = logit_bounds(net, x, eps)
        margin_lo, clean = margin_bounds(net, x, y, eps)
        assert torch.allclose(clean, net(x), atol=1e-5)
        for i in range(2):
            pts = x[i] + torch.empty(32, *info.shape).uniform_(-eps, eps)
            pts[:8] = x[i] + eps * torch.sign(torch.randn(8, *info.shape))  # corners of the box
            out = net(pts.clamp(0, 1))
            tol = 1e-4 * (1 + out.abs().max())
            assert (out >= box.lo[i] - tol).all() and (out <= box.hi[i] + tol).all()
            margins = out[:, y[i]:y[i] + 1] - out
            assert (margins >= margin_lo[i] - tol).all()
    # folding the specification into the output layer is at least as tight as differencing logit bounds
    naive = box.lo.gather(1, y.view(-1, 1)) - box.hi
    other = torch.arange(info.num_classes) != y.view(-1, 1)
    assert (margin_lo[other] >= naive[other] - 1e-4 * (1 + naive.abs().max())).all()


def test_zero_radius_gives_the_output_and_a_verified_correct_point():
    net, info = small_net("cnn7")
    x = torch.rand(4, *info.shape)
    with torch.no_grad():
        box = logit_bounds(net, x, 0.0)
        out = net(x)
        assert torch.allclose(box.lo, out, atol=1e-4) and torch.allclose(box.hi, out, atol=1e-4)
        pred = out.argmax(1)
        margin_lo, _ = margin_bounds(net, x, pred, 0.0)
    assert verified(margin_lo, pred).all()
    assert not verified(margin_lo, (pred + 1) % info.num_classes).any()


def test_training_mode_uses_the_batch_statistics_and_updates_running_stats():
    net, info = small_net("cnn7")
    net.train()
    x, y = torch.rand(16, *info.shape), torch.randint(0, 10, (16,))
    bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    margin_lo, logits = margin_bounds(net, x, y, 0.05)
    assert not torch.equal(before, bn.running_mean)
    bn_state = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        ref = net(x)  # the same batch statistics
    net.load_state_dict(bn_state)
    assert torch.allclose(logits, ref, atol=1e-4)
    assert (margin_lo <= (ref.gather(1, y.view(-1, 1)) - ref) + 1e-4).all()


def test_unsupported_layer_is_named():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
    with pytest.raises(UserError, match="does not support layer type Tanh"):
        logit_bounds(net, torch.rand(1, 1, 2, 2), 0.1)


def test_ibp_evaluation_rows_and_sweep():
    info = DATASETS.get("digits")
    cls = EVALS.get("ibp")
    name, params = cls.resolve(None, {}, info, None)
    assert name == "ibp" and params["eps"] == [0.1]
    name, params = cls.resolve(None, {"eps": [0.0, 0.1]}, info, None)
    net, _ = small_net("small_cnn")
    x, y = torch.rand(6, *info.shape), torch.randint(0, 10, (6,))
    rows = cls(name, params).run(net, x, y, EvalContext(info, torch.device("cpu"), 4, 0, {}))
    assert list(rows["evaluation"]) == ["ibp@0"] * 6 + ["ibp@0.1"] * 6
    assert list(rows["eps"]) == [0.0] * 6 + [0.1] * 6
    with torch.no_grad():
        pred = net(x).argmax(1).numpy()
    assert (rows["pred"][:6] == pred).all()
    assert (rows["correct"][:6] == (pred == y.numpy())).all()  # at eps 0, verified = correct
    assert not (rows["correct"][6:] & ~rows["correct"][:6]).any()  # a larger box verifies no more points
    with pytest.raises(UserError, match="unknown key"):
        cls.resolve(None, {"epss": 0.1}, info, None)


def test_smoothed_eps_schedule():
    vals = [smoothed_eps(s, 10, 100, 0.3) for s in range(0, 130)]
    assert vals[:11] == [0.0] * 11 and vals[110:] == [0.3] * 20
    assert all(b >= a for a, b in zip(vals, vals[1:]))
    # power law t^4 in the first quarter of the ramp, linear after, meeting with the same slope
    assert smoothed_eps(20, 10, 100, 0.3) / smoothed_eps(15, 10, 100, 0.3) == pytest.approx(16)
    lin = [smoothed_eps(s, 10, 100, 0.3) for s in (40, 60, 80)]
    assert lin[1] - lin[0] == pytest.approx(lin[2] - lin[1])
    slope_before = smoothed_eps(35, 10, 100, 0.3) - smoothed_eps(34.99, 10, 100, 0.3)
    slope_after = smoothed_eps(35.01, 10, 100, 0.3) - smoothed_eps(35, 10, 100, 0.3)
    assert slope_before == pytest.approx(slope_after, rel=1e-2)


def test_ibp_init_scale():
    torch.manual_seed(0)
    net = build("cnn7", DATASETS.get("digits"))
    head = net[1][-1]
    head_before = head.weight.clone()
    ibp_init(net)
    conv = net[1][3]  # 64 -> 64, 3x3: fan-in 576
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 * math.pi) / 576, rel=0.05)
    assert torch.equal(head.weight, head_before)


def test_worst_case_cross_entropy_bounds_every_point_in_the_box():
    net, info = small_net("small_cnn")
    x, y = torch.rand(8, *info.shape), torch.randint(0, 10, (8,))
    with torch.no_grad():
        margin_lo, _ = margin_bounds(net, x, y, 0.05)
        bound = F.cross_entropy(worst_case_logits(margin_lo), y, reduction="none")
        for _ in range(10):
            pts = (x + torch.empty_like(x).uniform_(-0.05, 0.05)).clamp(0, 1)
            assert (F.cross_entropy(net(pts), y, reduction="none") <= bound + 1e-5).all()

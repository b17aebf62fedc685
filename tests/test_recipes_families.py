"""ibp, mail-*, gairat, adt-*: a training step through the registry, and a property per family."""
import math

import numpy as np
import pytest
import torch

from bench.suite.cards import REPO_MODELS, load_card
from bench.data import DATASETS
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes.adt_exp import entropy_per_example, log1m_tanh_sq, sample_tanh_gaussian
from bench.recipes.adt_expam import Generator
from bench.recipes.adt_impam import neg_log_q
from bench.recipes.gairat import gair_weights, geometry_pgd
from bench.recipes.mail import mail_weights
from bench.recipes._losses import mart_bce, probabilistic_margin, top_other

NAMES = ["ibp", "mail-at", "mail-trades", "mail-mart", "gairat", "adt-exp", "adt-expam", "adt-impam"]
INFO = DATASETS.get("digits")
SMALL_ARGS = {"adt-expam": {"ngf": 8}, "adt-impam": {"ngf": 8, "z_dim": 8}, "adt-exp": {"steps": 2, "samples": 2},
              **{name: {"burn_in": 2} for name in ("mail-at", "mail-trades", "mail-mart")}}


def tiny_batch(n=16):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, *INFO.shape, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name", NAMES)
def test_recipe_takes_a_step(name):
    torch.manual_seed(0)
    net = build("cnn7" if name == "ibp" else "small_cnn", INFO, **({"width": 8, "linear": 32} if name == "ibp" else {"width": 8}))
    ctx = TrainContext(INFO, epochs=4, steps_per_epoch=10, device=torch.device("cpu"))
    cls = RECIPES.get(name)
    args = cls.resolve(SMALL_ARGS.get(name, {}), INFO)
    assert args["eps"] == pytest.approx(0.1)
    recipe = cls(args, ctx)
    recipe.setup(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    before = [p.detach().clone() for p in net.parameters()]
    x, y = tiny_batch()
    # late in training: past every burn-in (the ibp warm-up regulariser is tested below)
    loss, logits = recipe.step(net, opt, x, y, StepState(epoch=3, step=35, ctx=ctx))
    assert torch.isfinite(loss) and logits.shape == (16, 10)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_ibp_warmup_step_adds_the_regulariser():
    torch.manual_seed(0)
    ctx = TrainContext(INFO, epochs=4, steps_per_epoch=10, device=torch.device("cpu"))
    cls = RECIPES.get("ibp")
    x, y = tiny_batch()
    losses = {}
    for lam in (0.0, 0.5):
        torch.manual_seed(0)
        net = build("cnn7", INFO, width=8, linear=32)
        recipe = cls(cls.resolve({"warmup_epochs": 0, "ramp_epochs": 2, "reg_lambda": lam}, INFO), ctx)
        recipe.setup(net)
        losses[lam], _ = recipe.loss(net, x, y, StepState(0, 5, ctx))
        eps, kappa, _ = recipe.schedule(5)
        assert 0 < eps < 0.1 and 0.5 < kappa < 1
    assert torch.isfinite(losses[0.5]) and losses[0.5] > losses[0.0]
    assert recipe.schedule(0)[0] > 0 and recipe.schedule(25)[0] == pytest.approx(0.1)


def test_cards_exist_with_the_papers_datasets():
    for name in NAMES:
        card = load_card(name, [REPO_MODELS], "test", "recipes")
        assert card.method == name
        for ds in ("digits", "fashion-mnist", "mnist", "svhn", "cifar10"):
            assert card.settings(ds, {}, "test")["epochs"] > 0


def test_probabilistic_margin_and_mart_terms():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]))
    y = torch.tensor([0, 1])
    assert probabilistic_margin(logits, y).tolist() == pytest.approx([0.5, -0.3])
    assert top_other(logits.softmax(1), y).tolist() == pytest.approx([0.2, 0.6])
    expect = [-math.log(0.7) - math.log(1.0001 - 0.2), -math.log(0.3) - math.log(1.0001 - 0.6)]
    assert mart_bce(logits, y).tolist() == pytest.approx(expect, rel=1e-4)


def test_mail_weights_fall_as_the_margin_grows():
    pm = torch.linspace(-1, 1, 21)
    for slope, bias in ((10, -0.5), (2, 0)):
        w = mail_weights(pm, slope, bias, normalise=True)
        assert (w[1:] < w[:-1]).all()
        assert w.mean().item() == pytest.approx(1.0)
        raw = mail_weights(pm, slope, bias)  # the code's default: 3 * sigmoid(-slope (PM - bias)), not normalised
        assert raw.tolist() == pytest.approx((3 * torch.sigmoid(-slope * (pm - bias))).tolist())
    # at PM = bias the unnormalised weight is 3 * sigmoid(0) = 1.5 (the authors' code's scale)
    assert mail_weights(torch.tensor([0.0]), 2, 0).item() == pytest.approx(1.5)


def test_mail_burn_in_gives_unit_weights():
    ctx = TrainContext(INFO, epochs=4, steps_per_epoch=10, device=torch.device("cpu"))
    cls = RECIPES.get("mail-at")
    recipe = cls(cls.resolve({"burn_in": 2}, INFO), ctx)  # two epochs of the base method
    logits = torch.randn(8, 10)
    y = torch.randint(0, 10, (8,))
    assert torch.equal(recipe.weights(logits, y, StepState(1, 19, ctx)), torch.ones(8))
    late = recipe.weights(logits, y, StepState(2, 20, ctx))
    pm = probabilistic_margin(logits, y)
    assert late.tolist() == pytest.approx((3 * torch.sigmoid(-10 * (pm + 0.5))).tolist())  # 3 w, not normalised


def test_gairat_weights_fall_as_the_least_pgd_steps_grow():
    kappa = torch.arange(11, dtype=torch.float)
    w = gair_weights(kappa, 10, -1.0)
    assert (w[1:] < w[:-1]).all() and w.mean().item() == pytest.approx(1.0)
    raw = (torch.tanh(-1.0 + 5 * (1 - 2 * kappa / 10)) + 1) / 2
    assert torch.allclose(w, raw * 11 / raw.sum())


def test_geometry_pgd_counts_correct_steps():
    torch.manual_seed(0)
    net = build("small_cnn", INFO, width=8).eval()
    x, y = tiny_batch()
    with torch.no_grad():
        pred = net(x).argmax(1)
    adv, kappa = geometry_pgd(net, x, pred, 0.0, 0.0, 5)  # no perturbation: always correct w.r.t. pred
    assert torch.equal(kappa, torch.full((16,), 5.0))
    adv, kappa = geometry_pgd(net, x, (pred + 1) % 10, 0.1, 0.025, 5)  # wrong labels: correct rarely
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and kappa.max() <= 5


@pytest.mark.parametrize("sigma", [0.01, 0.5, 1.5])
def test_adt_entropy_estimate_matches_the_closed_form(sigma):
    """H(eps tanh(u)), u ~ N(0, sigma^2) = H(u) + E[log(eps (1 - tanh(u)^2))], with H(u) the Gaussian's
    closed form 0.5 log(2 pi e sigma^2) and the expectation by quadrature."""
    torch.manual_seed(0)
    eps = 0.3
    mu = torch.zeros(20000, 1, 4, 4)
    _, neg_logp = sample_tanh_gaussian(mu, torch.full_like(mu, sigma), eps)
    estimate = entropy_per_example(neg_logp).mean().item()
    n = np.linspace(-10, 10, 20001)
    density = np.exp(-n ** 2 / 2) / math.sqrt(2 * math.pi)
    jac = log1m_tanh_sq(torch.tensor(sigma * n)).numpy()
    closed = 0.5 * math.log(2 * math.pi * math.e * sigma ** 2) + math.log(eps) + np.trapezoid(density * jac, n)
    assert estimate == pytest.approx(closed, abs=0.01)


def test_adt_expam_generator_size_matches_the_paper():
    n = sum(p.numel() for p in Generator(9, 6, 256).parameters())
    assert 10.2e6 < n < 10.4e6  # "~10.3M parameters" for CIFAR's [x, grad, grad_fgsm] -> (mu, sigma)


def test_impam_entropy_bound_rewards_recoverable_noise():
    z = torch.rand(64, 8) * 2 - 1
    exact = neg_log_q(z, z, torch.full_like(z, 0.01))
    blind = neg_log_q(z, torch.zeros_like(z), torch.full_like(z, 1 / 3))
    assert exact < blind

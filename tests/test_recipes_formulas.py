"""Each recipe's loss on a fixed tiny batch with fixed logits, against the value computed by hand (plain
Python math below) or by the reference loop written out in the test (issue 15, 'Tests that pin the
formulas').

The model is affine in one pixel: logits = b + v * w, v = the input's pixel (0, 0). Its CE gradient in v
is E_p[w] - w_y, positive when w_y is the smallest weight, so a PGD ascent moves v up to min(v + eps, 1)
and every other pixel (zero gradient) never changes the logits: the adversarial logits are known by hand.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from bench.data import DATASETS
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes._losses import trades_objective
from bench.recipes.mart import mart_objective
from bench.recipes.prl import cvar, t_step

INFO = DATASETS.get("digits")
W, B = [-1.0, 2.0, 0.5], [0.3, -0.2, 0.1]  # class 0 has the smallest weight
V = [0.2, 0.5, 0.9]  # pixel (0, 0) of the three inputs
Y = [0, 0, 2]


class Pixel(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(W))
        self.b = nn.Parameter(torch.tensor(B))

    def forward(self, x):
        return self.b + x[:, 0, 0, 0, None] * self.w


def inputs(values=V):
    x = torch.zeros(len(values), *INFO.shape)
    x[:, 0, 0, 0] = torch.tensor(values)
    return x, torch.tensor(Y[:len(values)])


def logits(v):
    return [b + v * w for w, b in zip(W, B)]


def softmax(z):
    e = [math.exp(a) for a in z]
    return [a / sum(e) for a in e]


def ce(z, y):
    return -math.log(softmax(z)[y])


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def make(name, args=None, epochs=1):
    cls = RECIPES.get(name)
    ctx = TrainContext(info=INFO, epochs=epochs, steps_per_epoch=1, device=torch.device("cpu"))
    return cls(cls.resolve(args or {}, INFO), ctx), ctx


def loss_of(name, args=None, seed=0, state=(0, 0), epochs=1):
    recipe, ctx = make(name, args, epochs)
    x, y = inputs()
    torch.manual_seed(seed)
    return recipe.loss(Pixel(), x, y, StepState(*state, ctx))[0].item()


EPS = 0.1
UP = [min(v + EPS, 1.0) for v in V]  # where a CE ascent ends (w_y smallest for y = 0; input 2 see below)


def test_the_pixel_model_moves_up_under_pgd():
    # input 2 (y = 2, w_2 = 0.5 not the smallest): E_p[w] - w_2 at v in [0.8, 1] is positive too
    for v in (0.8, 0.9, 1.0):
        p = softmax(logits(v))
        assert sum(a * w for a, w in zip(p, W)) - W[2] > 0


def test_erm_is_the_mean_cross_entropy():
    assert loss_of("erm") == pytest.approx(mean(ce(logits(v), y) for v, y in zip(V, Y)), rel=1e-6)


@pytest.mark.parametrize("name", ["pgdt", "awp-at"])
def test_pgd_training_loss_is_the_ce_at_the_top_of_the_ball(name):
    recipe, ctx = make(name, {"eps": EPS})
    x, y = inputs()
    loss, _ = recipe.objective(Pixel(), x, recipe.adversary(Pixel(), x, y), y) if name == "awp-at" else \
        recipe.loss(Pixel(), x, y, StepState(0, 0, ctx))
    assert loss.item() == pytest.approx(mean(ce(logits(u), y) for u, y in zip(UP, Y)), rel=1e-5)


def test_fgsm_at_takes_one_step_of_alpha_from_the_random_start():
    torch.manual_seed(0)
    start = torch.empty(3, *INFO.shape).uniform_(-EPS, EPS)[:, 0, 0, 0].tolist()
    alpha = 1.25 * EPS
    adv = [min(max(min(max(v + s, 0), 1) + alpha, v - EPS), v + EPS, 1.0) for v, s in zip(V, start)]
    assert loss_of("fgsm-at", {"eps": EPS}) == pytest.approx(mean(ce(logits(a), y) for a, y in zip(adv, Y)), rel=1e-5)


def test_trades_outer_loss_uses_kl_of_clean_to_adversarial():
    x, y = inputs()
    adv, _ = inputs([v + 0.1 for v in V])
    loss, _ = trades_objective(Pixel(), x, adv, y, beta=6.0)
    p = [softmax(logits(v)) for v in V]
    q = [softmax(logits(v + 0.1)) for v in V]
    natural = mean(ce(logits(v), t) for v, t in zip(V, Y))
    assert loss.item() == pytest.approx(natural + 6.0 * mean(kl(a, b) for a, b in zip(p, q)), rel=1e-5)
    reversed_kl = natural + 6.0 * mean(kl(b, a) for a, b in zip(p, q))  # KL(p_adv || p_clean): another number
    assert abs(loss.item() - reversed_kl) > 1e-4


def test_trades_kl_target_is_a_clean_forward_of_its_own():
    """trades.py: CE on model(x), KL(softmax(model(x)) || model(x')) with a second model(x): under dropout the
    target has its own mask (the reference loop below, written out), not the CE's logits."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5)).train()
    x, adv, y = torch.rand(6, 4), torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(1)
    loss, _ = trades_objective(net, x, adv, y, beta=6.0)
    torch.manual_seed(1)
    natural = F.cross_entropy(net(x), y)
    robust = F.kl_div(F.log_softmax(net(adv), dim=1), F.softmax(net(x), dim=1), reduction="batchmean")
    assert loss.item() == pytest.approx((natural + 6.0 * robust).item(), rel=1e-6)
    torch.manual_seed(1)
    first, second = net(x), net(adv)
    one_pass = F.cross_entropy(first, y) + 6.0 * F.kl_div(F.log_softmax(second, dim=1), F.softmax(first, dim=1),
                                                          reduction="batchmean")
    assert abs(loss.item() - one_pass.item()) > 1e-3


def test_mart_weights_the_kl_by_one_minus_the_clean_true_probability():
    clean = torch.tensor([logits(v) for v in V])
    adv = torch.tensor([logits(v + 0.1) for v in V])
    y = torch.tensor(Y)
    expected = 0.0
    for v, t in zip(V, Y):
        p, q = softmax(logits(v)), softmax(logits(v + 0.1))
        other = max(a for j, a in enumerate(q) if j != t)
        bce = ce(logits(v + 0.1), t) - math.log(1.0001 - other + 1e-12)
        expected += (bce + 5.0 * kl(p, q) * (1.0000001 - p[t])) / 3
    assert mart_objective(clean, adv, y, beta=5.0).item() == pytest.approx(expected, rel=1e-5)


def test_alp_mixes_clean_and_adversarial_ce_and_pairs_the_logits():
    expected = mean(0.5 * ce(logits(v), t) + 0.5 * ce(logits(u), t) for v, u, t in zip(V, UP, Y))
    pairing = mean(mean((a - b) ** 2 for a, b in zip(logits(v), logits(u))) for v, u in zip(V, UP))
    assert loss_of("alp", {"eps": EPS, "lam": 0.5}) == pytest.approx(expected + 0.5 * pairing, rel=1e-5)


def test_prl_thresholds_move_to_the_beta_quantile_where_the_loss_is_cvar():
    losses = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 8.0, 9.0]])
    t = torch.tensor([0.0, 20.0])
    for _ in range(1000):
        t = t_step(losses, t, beta=0.5, lr=0.05)
    assert 2.0 <= t[0] <= 3.0 and 0.5 <= t[1] <= 8.0  # the upper half of each row lies above t
    assert cvar(losses, t, 0.5).item() == pytest.approx((3.5 + 8.5) / 2, rel=1e-5)  # CVaR_0.5: mean of the top half


def test_mail_losses_by_hand():
    """mail-at, mail-trades, mail-mart after the burn-in: omega = 3 sigmoid(-slope (PM - bias)) on x'."""
    def omega(z, t, slope, bias):
        q = softmax(z)
        pm = q[t] - max(a for j, a in enumerate(q) if j != t)
        return 3 / (1 + math.exp(slope * (pm - bias)))

    late = (9, 9)
    at = mean(omega(logits(u), t, 10, -0.5) * ce(logits(u), t) for u, t in zip(UP, Y))
    assert loss_of("mail-at", {"eps": EPS, "burn_in": 9}, state=late, epochs=10) == pytest.approx(at, rel=1e-5)
    mart = 0.0
    for v, u, t in zip(V, UP, Y):
        p, q = softmax(logits(v)), softmax(logits(u))
        other = max(a for j, a in enumerate(q) if j != t)
        bce = ce(logits(u), t) - math.log(1.0001 - other + 1e-12)
        mart += (omega(logits(u), t, 2, 0) * bce + 6 * kl(p, q) * (1.0000001 - p[t])) / 3
    assert loss_of("mail-mart", {"eps": EPS, "burn_in": 9}, state=late, epochs=10) == pytest.approx(mart, rel=1e-5)
    torch.manual_seed(0)  # the KL search moves each input along the sign of its 0.001 N(0, 1) start
    sign = torch.randn(3, *INFO.shape)[:, 0, 0, 0].sign().tolist()
    far = [min(max(v + s * EPS, 0.0), 1.0) for v, s in zip(V, sign)]
    trades = mean(ce(logits(v), t) + 5 * omega(logits(a), t, 2, 0) * kl(softmax(logits(v)), softmax(logits(a)))
                  for v, a, t in zip(V, far, Y))
    assert loss_of("mail-trades", {"eps": EPS, "burn_in": 9}, state=late, epochs=10) == pytest.approx(trades, rel=1e-5)


def test_gairat_loss_by_the_reference_loop():
    """GA_PGD counts the steps at which x' is still classified correctly; weights (1 + tanh(lam +
    5 (1 - 2 kappa / K))) / 2 normalised to mean 1, from epoch 60."""
    torch.manual_seed(0)
    start = torch.empty(3, *INFO.shape).uniform_(-EPS, EPS)[:, 0, 0, 0].tolist()
    k, alpha = 4, EPS / 4
    w, ces = [], []
    for v, s, t in zip(V, start, Y):
        a, kappa = min(max(v + s, 0.0), 1.0), 0
        for _ in range(k):
            z = logits(a)
            kappa += z.index(max(z)) == t
            a = min(max(a + alpha, v - EPS), v + EPS, 1.0)
        w.append((1 + math.tanh(-1.0 + 5 * (1 - 2 * kappa / k))) / 2)
        ces.append(ce(logits(a), t))
    expected = mean(wi * 3 / sum(w) * c for wi, c in zip(w, ces))
    assert loss_of("gairat", {"eps": EPS, "steps": k}, state=(59, 59), epochs=100) == pytest.approx(expected, rel=1e-5)


def test_ibp_worst_case_loss_of_an_affine_net_by_hand():
    """Shi et al.'s card at eps > 0: CE of the worst-case margins (w_j - w_y) v - eps |w_j - w_y| + b_j - b_y."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with torch.no_grad():
        net[1].weight.zero_()
        net[1].weight[:, 0] = torch.tensor(W)
        net[1].bias.copy_(torch.tensor(B))
    recipe, ctx = make("ibp", {"eps": EPS, "kappa_start": 0.0, "kappa_end": 0.0, "reg_lambda": 0.0,
                               "warmup_epochs": 0, "ramp_epochs": 0, "init": "default"})
    x, y = inputs()
    loss, _ = recipe.loss(net, x, y, StepState(0, 0, ctx))
    # worst-case logits put the true class at 0 and each other class at minus its margin lower bound
    expected = mean(ce([0.0 if j == t else -((W[t] - W[j]) * v - EPS * abs(W[t] - W[j]) + B[t] - B[j])
                        for j in range(3)], t) for v, t in zip(V, Y))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_adt_exp_loss_is_the_ce_at_one_draw_of_the_found_distribution():
    recipe, ctx = make("adt-exp", {"eps": EPS, "steps": 1, "samples": 1})
    x, y = inputs()
    torch.manual_seed(0)
    loss, _ = recipe.loss(Pixel(), x, y, StepState(0, 0, ctx))
    torch.manual_seed(0)
    mu, sigma = recipe.distribution(Pixel(), x, y)
    n = torch.randn_like(x)[:, 0, 0, 0].tolist()
    u = [m + s * e for m, s, e in zip(mu[:, 0, 0, 0].tolist(), sigma[:, 0, 0, 0].tolist(), n)]
    adv = [min(max(v + EPS * math.tanh(a), 0.0), 1.0) for v, a in zip(V, u)]
    # one Adam step with betas (0, 0) from mu = 0 moves by lr along the sign of the ascent gradient: up
    assert mu[:, 0, 0, 0].tolist() == pytest.approx([0.3, 0.3, 0.3], rel=1e-4)
    assert loss.item() == pytest.approx(mean(ce(logits(a), t) for a, t in zip(adv, Y)), rel=1e-5)


@pytest.mark.parametrize("name,vicinity", [("da", "linf"), ("da", "linf-clip"), ("gaussian", None)])
def test_noise_recipes_are_the_mean_ce_of_their_samples(name, vicinity):
    args = {"vicinity": vicinity, "eps": 0.3, "samples": 4} if vicinity else {"sigma": 0.25}
    torch.manual_seed(0)
    noise = torch.rand(12, *INFO.shape)[:, 0, 0, 0].tolist() if vicinity else torch.randn(3, *INFO.shape)[:, 0, 0, 0].tolist()
    if vicinity == "linf":  # U(max(v - r, 0), min(v + r, 1))
        pts = [max(v - 0.3, 0) + (min(v + 0.3, 1) - max(v - 0.3, 0)) * u for v in V for u in noise[V.index(v) * 4:][:4]]
    elif vicinity == "linf-clip":  # v + U(-r, r), clipped
        pts = [min(max(v + (2 * u - 1) * 0.3, 0), 1) for v in V for u in noise[V.index(v) * 4:][:4]]
    else:  # x + sigma N(0, 1), not clipped (Cohen et al.)
        pts = [v + 0.25 * n for v, n in zip(V, noise)]
    labels = [t for t in Y for _ in range(len(pts) // 3)]
    assert loss_of(name, args) == pytest.approx(mean(ce(logits(p), t) for p, t in zip(pts, labels)), rel=1e-5)


def test_fat_stops_at_the_random_start_of_inputs_already_misclassified():
    """Every input of the pixel model is misclassified at its start; with tau 0 (the first 50/120 of
    training) FAT takes no step, so the loss is the CE at the uniform random start."""
    assert all(logits(v).index(max(logits(v))) != t for v, t in zip(V, Y))
    torch.manual_seed(0)
    start = torch.empty(3, *INFO.shape).uniform_(-EPS, EPS)[:, 0, 0, 0].tolist()
    expected = mean(ce(logits(min(max(v + s, 0), 1)), t) for v, s, t in zip(V, start, Y))
    assert loss_of("fat", {"eps": EPS}, epochs=120) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["adt-expam", "adt-impam"])
def test_amortised_adt_losses_by_their_reference_formulas(name):
    """expam: CE(f(x + delta)) - lam * mean entropy estimate; impam: CE + lam * relu(-log q(z|delta) - threshold)."""
    from bench.recipes.adt_exp import entropy_per_example, sample_tanh_gaussian
    from bench.recipes.adt_expam import generator_inputs
    from bench.recipes.adt_impam import neg_log_q

    recipe, ctx = make(name, {"eps": EPS, "ngf": 4, **({"z_dim": 4} if name == "adt-impam" else {})})
    x, y = inputs()
    torch.manual_seed(1)
    recipe.setup(Pixel())
    torch.manual_seed(2)
    loss, _ = recipe.loss(Pixel(), x, y, StepState(0, 0, ctx))
    torch.manual_seed(2)
    with torch.no_grad():
        if name == "adt-expam":
            phi = recipe.generator(generator_inputs(Pixel(), x, y, EPS))
            delta, neg_logp = sample_tanh_gaussian(phi[:, :1], torch.nn.functional.softplus(phi[:, 1:]), EPS)
            extra = -0.01 * entropy_per_example(neg_logp).mean().item()
        else:
            z = torch.rand(3, 4) * 2 - 1
            pert = torch.tanh(recipe.generator(generator_inputs(Pixel(), x, y, EPS), z))
            delta = EPS * pert
            extra = 1.0 * max(neg_log_q(z, *recipe.encoder(pert)).item() - 0.9, 0.0)
    adv = [min(max(v + d, 0.0), 1.0) for v, d in zip(V, delta[:, 0, 0, 0].tolist())]
    assert loss.item() == pytest.approx(mean(ce(logits(a), t) for a, t in zip(adv, Y)) + extra, rel=1e-4)

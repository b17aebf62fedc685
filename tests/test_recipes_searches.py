"""The inner searches and sample losses of the adversarial and vicinity recipes: TRADES/MART (KL terms),
VMT (mean + lambda * std), PRL (CVaR), AT-PR (candidates, refinement), FAT (early stop), AWP (layer-wise
perturbation size), the vicinity arguments and the batched vicinity losses."""
from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from bench.data import DATASETS
from bench.errors import UserError
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes.atpr import atpr_adversary, candidate_pgd, refine_distance
from bench.recipes.fat import dynamic_tau, early_stopped_pgd
from bench.recipes._losses import trades_adversary, trades_objective, vicinity_losses
from bench.recipes.mart import mart_objective
from bench.recipes.prl import cvar
from bench.recipes.vmt import vmt_objective
from bench.pr.vicinity import sample

INFO = DATASETS.get("digits")



@pytest.fixture(scope="module")
def data():
    train, _ = DATASETS.get("digits").load()
    return train.x[:16], train.y[:16]


def net(seed=0):
    torch.manual_seed(seed)
    return build("small_cnn", INFO, width=8)  # no dropout, no BatchNorm: deterministic in train mode


def make(name, args=None, epochs=1):
    cls = RECIPES.get(name)
    ctx = TrainContext(info=INFO, epochs=epochs, steps_per_epoch=1, device=torch.device("cpu"))
    return cls(cls.resolve(args or {}, INFO), ctx), ctx


def test_trades_kl_term_is_zero_at_eps_zero(data):
    x, y = data
    model = net()
    adv = trades_adversary(model, x, eps=0.0, alpha=0.01, steps=3)
    assert torch.equal(adv, x)
    loss, logits = trades_objective(model, x, adv, y, beta=6.0)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, y).item(), abs=1e-6)
    adv = trades_adversary(model, x, eps=0.1, alpha=0.025, steps=5)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    loss_eps, _ = trades_objective(model, x, adv, y, beta=6.0)
    assert loss_eps.item() > loss.item() + 1e-4  # the KL search found a positive divergence


def test_mart_boosted_ce_uses_the_most_likely_wrong_class():
    y = torch.tensor([0, 1])
    logits_adv = torch.tensor([[3.0, 1.0, 2.0], [3.0, 1.0, 2.0]])
    p = F.softmax(logits_adv, dim=1)
    loss = mart_objective(logits_adv, logits_adv, y, beta=0.0)  # beta 0: only the boosted CE
    runner = torch.tensor([2, 0])  # input 0: true class on top, runner-up 2; input 1: top wrong class 0
    expected = F.cross_entropy(logits_adv, y) - torch.log(1.0001 - p[torch.arange(2), runner] + 1e-12).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # identical clean and adversarial outputs: the weighted KL term vanishes whatever beta
    assert mart_objective(logits_adv, logits_adv, y, beta=6.0).item() == pytest.approx(loss.item(), abs=1e-6)


def test_vmt_objective_is_mean_plus_lambda_std_on_a_hand_made_batch():
    losses = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5]])
    std = math.sqrt(sum((v - 2.5) ** 2 for v in (1, 2, 3, 4)) / 3)  # unbiased
    expected = ((2.5 + 2.0 * std) + 0.5) / 2
    assert vmt_objective(losses, lam=2.0).item() == pytest.approx(expected, rel=1e-6)
    assert vmt_objective(losses, lam=0.0).item() == pytest.approx((2.5 + 0.5) / 2)


def test_vmt_recipe_loss_matches_a_per_sample_loop(data):
    x, y = data[0][:4], data[1][:4]
    model = net()
    recipe, ctx = make("vmt", {"samples": 6, "lam": 1.5})
    torch.manual_seed(7)
    loss, logits = recipe.loss(model, x, y, StepState(0, 0, ctx))
    torch.manual_seed(7)
    t = sample("linf-clip", x, 6, INFO.eps["linf"])
    rows = []
    for b in range(len(x)):  # the reference: per input, per sample
        u = torch.stack([F.cross_entropy(model(t[b * 6 + j: b * 6 + j + 1]), y[b:b + 1]) for j in range(6)])
        rows.append(u.mean() + 1.5 * u.std())
    assert loss.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-5)
    assert logits.shape == (4, 10)


def test_vicinity_losses_are_one_forward_of_b_times_n(data):
    x, y = data
    calls = []
    model = net()
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    losses, logits = vicinity_losses(model, x, y, "linf", 5, 0.1)
    assert calls == [len(x) * 5]
    assert losses.shape == (len(x), 5) and logits.shape == (len(x), 5, 10)


def test_prl_cvar_is_at_least_the_mean_loss():
    torch.manual_seed(0)
    for beta in (0.05, 0.5, 1.0):
        losses = torch.rand(32, 20) * 5
        for t in (torch.zeros(32), torch.full((32,), 1.0), torch.rand(32) * 5):
            assert cvar(losses, t, beta).item() >= losses.mean().item() - 1e-6
    # CVaR_0.5 of {1, 2, 3, 4} is the mean of the top half, attained for t in [2, 3]
    row = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert cvar(row, torch.tensor([2.5]), 0.5).item() == pytest.approx(3.5)
    assert cvar(row, torch.tensor([1.0]), 0.5).item() == pytest.approx(4.0)


def test_prl_recipe_loss_is_at_least_its_mean_sample_loss(data):
    x, y = data
    model = net()
    recipe, ctx = make("prl", {"samples": 8})
    torch.manual_seed(3)
    loss, _ = recipe.loss(model, x, y, StepState(0, 0, ctx))
    torch.manual_seed(3)
    for _ in range(recipe.args["t_steps"] - 1):
        sample("linf-clip", x, 8, 0.1)  # the draws of the t-steps before the last
    losses = vicinity_losses(model, x, y, "linf-clip", 8, 0.1)[0]
    assert loss.item() >= losses.mean().item() - 1e-6
    torch.manual_seed(3)  # CVaR_SGD's loss: the last t-step's samples, at t after t_steps - 1 updates
    t = recipe.thresholds(model, x, y, recipe.args["t_steps"] - 1)
    assert loss.item() == pytest.approx(cvar(losses, t, recipe.args["beta"]).item(), rel=1e-6)


def test_atpr_examples_stay_in_the_ball_and_in_range(data):
    x, y = data
    adv = atpr_adversary(net(), x, y, eps=0.1, alpha=0.025, steps=3, candidates=4, refine_cap=5)
    assert adv.shape == x.shape
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1


def _ce_sign(model, z, y):
    z = z.detach().requires_grad_(True)
    logits = model(z)
    grad, = torch.autograd.grad(F.cross_entropy(logits, y), z)
    return logits.detach(), grad.sign()


def test_atpr_candidates_equal_one_pgd_per_candidate(data):
    """The batched candidates (rows of a candidate stop after its own step count) equal PGD run on each
    candidate alone from the same start."""
    x, y = data
    model = net()
    eps, alpha, steps = torch.tensor([0.1, 0.09, 0.08]), torch.tensor([0.025, 0.022, 0.028]), torch.tensor([3, 1, 5])
    torch.manual_seed(5)
    adv = candidate_pgd(model, x, y, eps, alpha, steps).view(3, *x.shape)
    torch.manual_seed(5)
    noise = 2 * torch.rand_like(x.repeat(3, 1, 1, 1)) - 1  # the random start, times eps per candidate
    for c in range(3):
        z = (x + noise[c * len(x):(c + 1) * len(x)] * eps[c]).clamp(0, 1)
        for _ in range(int(steps[c])):
            z = torch.min(torch.max(z + alpha[c] * _ce_sign(model, z, y)[1], x - eps[c]), x + eps[c]).clamp(0, 1)
        assert torch.allclose(adv[c], z, atol=1e-6), c


def test_atpr_refinement_equals_the_reference_loop_per_candidate(data):
    """refine_distance (batched, moving rows only) against AT-PR's pick_best_ae loop written per candidate:
    while more than 10% of the batch is misclassified (at most cap steps), step the misclassified samples
    by -lr * sign(grad CE); distance = Linf from the start."""
    x, y = data
    model = net()
    torch.manual_seed(1)
    c, lr, cap = 3, 0.025, 40
    adv = (x.repeat(c, 1, 1, 1) + 0.3 * (2 * torch.rand(c * len(x), *x.shape[1:]) - 1)).clamp(0, 1)
    dist, kept = refine_distance(model, adv, y, c, lr, 0.1, cap)
    assert kept is None  # keep_grad off
    for k in range(c):
        start = adv[k * len(x):(k + 1) * len(x)]
        cur, steps = start.clone(), 0
        logits, sign = _ce_sign(model, cur, y)
        while (wrong := logits.argmax(1) != y).float().mean() > 0.1 and steps < cap:
            cur[wrong] = (cur[wrong] - lr * sign[wrong]).clamp(0, 1)
            logits, sign = _ce_sign(model, cur, y)
            steps += 1
        assert torch.allclose(dist[k], (start - cur).flatten(1).abs().amax(1), atol=1e-6), k
    assert dist.max() > 0  # some candidate moved: the comparison is not vacuous


def test_atpr_keeps_the_refinement_gradient_the_reference_leaves_in_grad(data):
    """pick_best_ae calls model.zero_grad() per candidate and loss.backward() per refinement step, so after the
    search .grad holds the last candidate's last refinement step's parameter gradient (mean CE), which the
    training loop's backward adds to: the reference loop below, written out, against refine_distance's kept loss."""
    x, y = data
    model = net()
    torch.manual_seed(2)
    c, lr, cap = 3, 0.025, 40
    adv = (x.repeat(c, 1, 1, 1) + 0.3 * (2 * torch.rand(c * len(x), *x.shape[1:]) - 1)).clamp(0, 1)
    for k in range(c):
        cur = adv[k * len(x):(k + 1) * len(x)].clone().requires_grad_(True)
        model.zero_grad()
        logits, count = model(cur), 0
        while (logits.argmax(1) != y).sum() > len(y) * 0.1 and count < cap:
            count += 1
            loss = F.cross_entropy(logits, y)
            model.zero_grad()
            loss.backward()
            wrong = logits.argmax(1) != y
            cur.data[wrong] = (cur.data[wrong] - lr * cur.grad.sign()[wrong]).clamp(0, 1)
            cur = cur.detach().clone().requires_grad_(True)
            logits = model(cur)
    assert count > 0  # the last candidate refined: the reference leaves a gradient
    leaked = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    _, kept = refine_distance(model, adv, y, c, lr, 0.1, cap, keep_grad=True)
    grads = torch.autograd.grad(kept, list(model.parameters()))
    assert all(torch.allclose(g, r, atol=1e-6) for g, r in zip(grads, leaked))
    assert any(float(r.abs().max()) > 0 for r in leaked)


def test_fat_stops_inputs_that_are_already_misclassified(data):
    x, y = data

    class Wrong(torch.nn.Module):  # predicts class (y+1) for every input: all misclassified from the start
        weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z):
            return F.one_hot((y + 1) % 10, 10).float() * 5 + self.weight * z.flatten(1).sum(1, keepdim=True)

    torch.manual_seed(0)
    start = (x + torch.empty_like(x).uniform_(-0.1, 0.1)).clamp(0, 1)
    torch.manual_seed(0)
    adv = early_stopped_pgd(Wrong(), x, y, eps=0.1, alpha=0.025, steps=10, tau=0, omega=0.001)
    assert torch.equal(adv, start)  # tau 0: no step taken
    torch.manual_seed(0)
    moved = early_stopped_pgd(Wrong(), x, y, eps=0.1, alpha=0.025, steps=10, tau=2, omega=0.001)
    assert not torch.equal(moved, start)  # tau 2: two more steps
    assert [dynamic_tau(e, 120) for e in (0, 49, 50, 89, 90, 119)] == [0, 0, 1, 1, 2, 2]


def test_awp_perturbation_has_gamma_times_the_layer_norm_and_keeps_batchnorm_statistics(data):
    x, y = data
    torch.manual_seed(0)
    model = build("cnn7", INFO, width=4, linear=16).train()
    recipe, _ = make("awp-at", {"gamma": 0.02, "steps": 2})
    adv = recipe.adversary(model, x, y)
    buffers = [b.clone() for b in model.buffers()]
    from bench.recipes.awp import _perturbed

    v = recipe.weight_perturbation(model, x, adv, y)
    params = _perturbed(model)
    assert len(v) == len(params) == 7  # five convolutions, two linear layers
    for p, d in zip(params, v):
        assert d.norm().item() == pytest.approx(0.02 * p.norm().item(), rel=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers()))


def test_awp_removes_its_perturbation_after_the_step(data):
    x, y = data
    model = net()
    recipe, ctx = make("awp-at", {"gamma": 0.05, "steps": 2})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights must come back unchanged
    before = [p.detach().clone() for p in model.parameters()]
    recipe.step(model, optimizer, x, y, StepState(0, 0, ctx))
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(before, model.parameters()))


def test_defaults_resolve_per_dataset_and_vicinity():
    assert RECIPES.get("fgsm-at").resolve({}, INFO)["alpha"] == pytest.approx(1.25 * INFO.eps["linf"])
    assert RECIPES.get("trades").resolve({}, INFO)["beta"] == 6.0
    assert RECIPES.get("vmt").resolve({}, INFO) == {"vicinity": "linf-clip", "eps": 0.1, "samples": 50, "lam": 1.0}
    assert RECIPES.get("da").resolve({"vicinity": "rotation"}, INFO)["eps"] == 35.0
    prl = RECIPES.get("prl").resolve({}, INFO)
    assert (prl["samples"], prl["beta"], prl["t_steps"], prl["t_init"], prl["t_lr"]) == (20, 0.5, 5, 1.0, 1.0)
    with pytest.raises(UserError, match="did you mean 'linf'"):
        RECIPES.get("vmt").resolve({"vicinity": "lnf"}, INFO)
    with pytest.raises(UserError, match="must be >= 2"):
        RECIPES.get("vmt").resolve({"samples": 1}, INFO)

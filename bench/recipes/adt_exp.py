"""adt-exp: adversarial distributional training with an explicit perturbation distribution (Dong et al.
2020, 'Adversarial Distributional Training for Robust Deep Learning', NeurIPS; ADT_EXP).

For each training input, the perturbation delta = eps * tanh(u), u ~ N(mu, diag(sigma^2)), sigma =
softplus(rho), has its own (mu, rho), found by maximising J = E[CE(f(x + delta), y)] + lambda H(delta)
with the reparameterisation u = mu + sigma n, n ~ N(0, I): Adam (lr 0.3, betas (0, 0)) on (mu, rho) from
zeros, ``steps`` 7 updates after ``samples`` 5 Monte-Carlo gradients each, model in eval mode, float32.
As in the reference (adt_exp.py, adt_loss), the gradients of (mu, rho) are never zeroed: they add up over
all samples of all steps, so with betas (0, 0) step k moves by lr * g_k / |g_k| (about lr * sign) of the
sum g_k of every gradient so far. The objective is the batch-mean CE plus lambda times the entropy
averaged over the batch and pixels (the reference's reductions). The
entropy is estimated per pixel by -log p(delta) = n^2/2 + log sigma + log(2 pi)/2 + log(eps (1 - tanh(u)^2))
(the change of variables through eps tanh), averaged over pixels (the authors' code drops the constants).
The model is then trained on CE(f(x + delta), y) for one delta drawn from the found distribution.
Defaults (authors' code): lambda 0.01, 7 steps x 5 samples, lr 0.3; WRN-28-10, SGD 0.1, batch 64.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from bench.recipes._modes import inner_search
from bench.recipes._base import RECIPES, Recipe, eps_field
from bench.suite.yamlio import Field


def log1m_tanh_sq(u: torch.Tensor) -> torch.Tensor:
    """log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|."""
    return 2 * (math.log(2.0) - u - F.softplus(-2 * u))


def sample_tanh_gaussian(mu: torch.Tensor, sigma: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(delta = eps tanh(mu + sigma n), the per-pixel estimate -log p(delta)) for one draw n ~ N(0, I)."""
    n = torch.randn_like(mu)
    u = mu + sigma * n
    neg_logp = n ** 2 / 2 + torch.log(sigma) + 0.5 * math.log(2 * math.pi) + math.log(eps) + log1m_tanh_sq(u)
    return eps * torch.tanh(u), neg_logp


def entropy_per_example(neg_logp: torch.Tensor) -> torch.Tensor:
    """The entropy estimate per example, averaged over its pixels."""
    return neg_logp.flatten(1).mean(1)


@RECIPES.register("adt-exp")
class ADTExp(Recipe):

    version = 2  # issue 15: (mu, sigma) gradients accumulate over the inner steps, as adt_exp.py
    name = "adt-exp"
    paper = "Dong et al. 2020, Adversarial Distributional Training for Robust Deep Learning (NeurIPS), ADT_EXP"
    params = {
        "eps": eps_field(),
        "lam": Field("float", 0.01, lo=0.0),
        "steps": Field("int", 7, lo=1),
        "samples": Field("int", 5, lo=1),
        "lr": Field("float", 0.3, lo=0.0, open_lo=True),
    }

    def distribution(self, model, x, y) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma) per pixel, maximising the expected loss plus lambda times the entropy."""
        a = self.args
        mu = torch.zeros_like(x, requires_grad=True)
        rho = torch.zeros_like(x, requires_grad=True)
        opt = torch.optim.Adam([mu, rho], lr=a["lr"], betas=(0.0, 0.0))
        with inner_search(model, x), torch.enable_grad():
            for _ in range(a["steps"]):  # never zeroed: each step sees the sum of all gradients so far
                for _ in range(a["samples"]):
                    delta, neg_logp = sample_tanh_gaussian(mu, F.softplus(rho), a["eps"])
                    logits = model((x + delta).clamp(0, 1))
                    objective = F.cross_entropy(logits, y) + a["lam"] * entropy_per_example(neg_logp).mean()
                    g_mu, g_rho = torch.autograd.grad(-objective, [mu, rho])
                    mu.grad = g_mu if mu.grad is None else mu.grad + g_mu
                    rho.grad = g_rho if rho.grad is None else rho.grad + g_rho
                opt.step()
        return mu.detach(), F.softplus(rho).detach()

    def loss(self, model, x, y, state):
        mu, sigma = self.distribution(model, x, y)
        delta, _ = sample_tanh_gaussian(mu, sigma, self.args["eps"])
        logits = model((x + delta).clamp(0, 1))
        return F.cross_entropy(logits, y), logits

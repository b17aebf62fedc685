"""gairat: geometry-aware instance-reweighted adversarial training (Zhang et al. 2021, 'Geometry-aware
Instance-reweighted Adversarial Training', ICLR).

The geometry value kappa_i is the number of the K PGD steps at which x'_i is still classified correctly
(the least PGD steps to cross the decision boundary, K when it never does). Weights (the 'Tanh' weight
assignment): w_i = (1 + tanh(lambda + 5 (1 - 2 kappa_i / K))) / 2, normalised to mean 1 over the batch;
loss mean_i w_i CE(f(x'_i), y_i). Before ``begin`` (a fraction of training) the loss is plain AT.

Defaults (authors' code): K 10 steps of 2/255 (0.007) within eps 8/255 from a uniform random start,
lambda -1 (fixed schedule), reweighting from epoch 60 of 120 (``begin`` 0.5).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes import RECIPES, Recipe, eps_field
from bench.yamlio import Field


def gair_weights(kappa: torch.Tensor, steps: int, lam: float) -> torch.Tensor:
    """(1 + tanh(lambda + 5 (1 - 2 kappa / K))) / 2, normalised to mean 1: falls as kappa grows."""
    half = steps // 2
    w = (torch.tanh(lam + (half - kappa) * 5.0 / half) + 1) / 2
    return w * len(w) / w.sum()


def geometry_pgd(model, x, y, eps: float, alpha: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Madry PGD (uniform start) that also counts, per example, the steps at which it is still
    classified correctly (kappa). Model in eval mode during the search."""
    was_training = model.training
    model.eval()
    kappa = torch.zeros(len(y), device=x.device)
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1).detach()
    for _ in range(steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            logits = model(adv)
            grad, = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), adv)
        kappa += (logits.argmax(1) == y).float()
        adv = adv.detach() + alpha * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1).detach()
    model.train(was_training)
    return adv, kappa


@RECIPES.register("gairat")
class GAIRAT(Recipe):
    name = "gairat"
    paper = "Zhang et al. 2021, Geometry-aware Instance-reweighted Adversarial Training (ICLR)"
    params = {
        "eps": eps_field(),
        "alpha": Field("float", None, lo=0.0, hi=1.0),
        "steps": Field("int", 10, lo=2),
        "lam": Field("float", -1.0),
        "begin": Field("float", 0.5, lo=0.0, hi=1.0),
    }

    def loss(self, model, x, y, state):
        a = self.args
        adv, kappa = geometry_pgd(model, x, y, a["eps"], a["alpha"], a["steps"])
        logits = model(adv)
        ce = F.cross_entropy(logits, y, reduction="none")
        if state.progress < a["begin"]:
            return ce.mean(), logits
        return (gair_weights(kappa, a["steps"], a["lam"]) * ce).mean(), logits

"""gairat: geometry-aware instance-reweighted adversarial training (Zhang et al. 2021, 'Geometry-aware
Instance-reweighted Adversarial Training', ICLR).

The geometry value kappa_i is the number of the K PGD steps at which x'_i is still classified correctly
(the least PGD steps to cross the decision boundary, K when it never does). Weights (the 'Tanh' weight
assignment): w_i = (1 + tanh(lambda + 5 (1 - 2 kappa_i / K))) / 2, normalised to mean 1 over the batch;
loss mean_i w_i CE(f(x'_i), y_i). Before epoch ``begin_epoch`` (1-based, as the code's
``(epoch + 1) >= begin_epoch``) the loss is plain AT.

Reference file: GAIRAT.py (train, GAIR.py, attack_generator.GA_PGD). Defaults (authors' code): K 10 steps
of 0.007 within eps 0.031 (GAIRAT.py's --step-size and --epsilon: set in the CIFAR/SVHN cards; eps defaults
to the dataset's Linf budget, alpha to eps/4) from a uniform random start clipped to [0, 1], lambda -1
(fixed schedule), reweighting from epoch 60 (begin_epoch 60: 59 epochs of plain AT, whatever the run's
length). The search runs in eval mode and float32.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes._modes import inner_search
from bench.recipes._base import RECIPES, Recipe
from bench.recipes._pgd import pgd_params
from bench.suite.yamlio import Field


def gair_weights(kappa: torch.Tensor, steps: int, lam: float) -> torch.Tensor:
    """(1 + tanh(lambda + 5 (1 - 2 kappa / K))) / 2, normalised to mean 1: falls as kappa grows."""
    half = steps // 2
    w = (torch.tanh(lam + (half - kappa) * 5.0 / half) + 1) / 2
    return w * len(w) / w.sum()


def geometry_pgd(model, x, y, eps: float, alpha: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Madry PGD (uniform start) that also counts, per example, the steps at which it is still
    classified correctly (kappa). Model in eval mode during the search."""
    with inner_search(model, x):
        return _geometry_pgd(model, x, y, eps, alpha, steps)


def _geometry_pgd(model, x, y, eps, alpha, steps):
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
    return adv, kappa


@RECIPES.register("gairat")
class GAIRAT(Recipe):

    version = 2  # issue 15: reweighting from 1-based epoch begin_epoch, as GAIRAT.py
    name = "gairat"
    paper = "Zhang et al. 2021, Geometry-aware Instance-reweighted Adversarial Training (ICLR)"
    params = {
        **pgd_params(least_steps=2),  # K >= 2: the weight divides by K // 2
        "lam": Field("float", -1.0),
        "begin_epoch": Field("int", 60, lo=1),
    }

    def loss(self, model, x, y, state):
        a = self.args
        adv, kappa = geometry_pgd(model, x, y, a["eps"], a["alpha"], a["steps"])
        logits = model(adv)
        ce = F.cross_entropy(logits, y, reduction="none")
        if state.epoch + 1 < a["begin_epoch"]:
            return ce.mean(), logits
        return (gair_weights(kappa, a["steps"], a["lam"]) * ce).mean(), logits

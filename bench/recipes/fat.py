"""fat: friendly adversarial training (Zhang, Xu, Han, Niu, Cui, Sugiyama & Kankanhalli 2020, 'Attacks
Which Do Not Kill Training Make Adversarial Learning Stronger', ICML).

Inner step: early-stopped PGD (the paper's Algorithm 1). From a uniform random start, each input takes
PGD steps on CE (size alpha, plus omega * N(0, 1) noise, projected onto the Linf ball and [0,1]) until
it is misclassified and has used up its budget of tau extra steps, or after ``steps`` steps; inputs stop
independently (batched with a running mask). Outer loss: CE on these 'friendly' adversarial examples.
tau: with ``dynamic`` (the authors' default) tau is 0 for the first 50/120 of the epochs, 1 until
90/120, then 2 (their 120-epoch schedule scaled to the run's length); otherwise the fixed ``tau``.
Defaults (authors' code): eps 0.031 (here the dataset's Linf budget), alpha 0.007 (here eps/4), 10
steps, omega 0.001; CIFAR-10 SGD 0.1 momentum 0.9 wd 2e-4, 120 epochs, lr x0.1 at 60 and 90
(models/fat.yaml). Reference files: FAT.py (adjust_tau(epoch + 1), adjust_learning_rate(epoch + 1):
1-based epochs) and earlystop.py. The search runs with the model in eval mode, as the authors' code,
and in float32.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes._modes import inner_search
from bench.recipes._base import RECIPES, Recipe
from bench.recipes._pgd import pgd_params
from bench.suite.yamlio import Field


def early_stopped_pgd(model, x, y, eps: float, alpha: float, steps: int, tau: int, omega: float) -> torch.Tensor:
    """FAT's early-stopped PGD, batched: an input stops once misclassified with no tau budget left."""
    with inner_search(model, x):
        return _early_stopped(model, x, y, eps, alpha, steps, tau, omega)


def _early_stopped(model, x, y, eps, alpha, steps, tau, omega):
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    budget = torch.full((len(x),), tau, device=x.device)
    running = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            logits = model(adv)
            grad, = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), adv)
        wrong = running & (logits.argmax(dim=1) != y)
        running &= ~(wrong & (budget == 0))
        budget -= (wrong & (budget > 0)).long()
        if not running.any():
            break
        step = adv.detach() + alpha * grad.sign() + omega * torch.randn_like(x)
        step = torch.min(torch.max(step, x - eps), x + eps).clamp(0, 1)
        adv = torch.where(running.view(-1, 1, 1, 1), step, adv.detach())
    return adv.detach()


def dynamic_tau(epoch: int, epochs: int) -> int:
    """The authors' tau schedule (0 up to epoch 50 of 120, 1 up to 90, then 2), scaled to ``epochs``."""
    e = (epoch + 1) * 120 / max(1, epochs)
    return 0 if e <= 50 else 1 if e <= 90 else 2


@RECIPES.register("fat")
class FAT(Recipe):
    name = "fat"
    paper = "Zhang et al. 2020, Attacks Which Do Not Kill Training Make Adversarial Learning Stronger (ICML)"
    params = {
        **pgd_params(),
        "tau": Field("int", 0, lo=0),
        "dynamic": Field("bool", True),
        "omega": Field("float", 0.001, lo=0.0),
    }

    def loss(self, model, x, y, state):
        a = self.args
        tau = dynamic_tau(state.epoch, state.ctx.epochs) if a["dynamic"] else a["tau"]
        adv = early_stopped_pgd(model, x, y, a["eps"], a["alpha"], a["steps"], tau, a["omega"])
        logits = model(adv)
        return F.cross_entropy(logits, y), logits

"""Shared inner maximisation for adversarial-training recipes: Linf PGD on any loss, batched, and the
arguments every PGD-based recipe declares (``pgd_params``).

Every inner search of a recipe runs in float32 (bench.recipes._modes.inner_search): under mixed precision only
the outer update is autocast, so the input gradients that pick the adversarial example are the same as
in a float32 run.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from bench.recipes._modes import inner_search
from bench.recipes._base import eps_field
from bench.suite.yamlio import Field


def pgd_params(steps: int = 10, least_steps: int = 1) -> dict[str, Field]:
    """eps (None: the dataset's Linf budget), alpha (None: eps/4) and the number of PGD steps."""
    return {
        "eps": eps_field(),
        "alpha": Field("float", None, lo=0.0, hi=1.0),
        "steps": Field("int", steps, lo=least_steps),
    }


def ce_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


def pgd_linf(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = ce_sum,
    random_start: str | None = "uniform",
    eval_mode: bool = True,
) -> torch.Tensor:
    """Projected gradient ascent on ``loss_fn(model(x'), y)`` inside the Linf ball of radius eps,
    clipped to [0,1]. random_start: 'uniform' (Madry et al.), 'normal' (TRADES: 0.001 * N(0,1)), None.
    With eval_mode the model runs in eval mode during the search (BatchNorm statistics untouched); without
    it the search runs in the model's current mode."""
    with inner_search(model, x, eval_mode):
        return _pgd(model, x, y, eps, alpha, steps, loss_fn, random_start)


def _pgd(model, x, y, eps, alpha, steps, loss_fn, random_start):
    if random_start == "uniform":
        adv = x + torch.empty_like(x).uniform_(-eps, eps)
    elif random_start == "normal":
        adv = x + 0.001 * torch.randn_like(x)
    else:
        adv = x.clone()
    adv = adv.clamp(0, 1).detach()
    for _ in range(steps):
        adv.requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(model(adv), y)
            grad, = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1).detach()
    return adv

"""Shared inner maximisation for adversarial-training recipes: Linf PGD on any loss, batched."""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F


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
    With eval_mode the model runs in eval mode during the search (BatchNorm statistics untouched)."""
    was_training = model.training
    if eval_mode:
        model.eval()
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
    model.train(was_training)
    return adv

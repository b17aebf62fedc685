"""Loss pieces shared by the margin-reweighted recipes (MAIL, GAIRAT): the probabilistic margin, the
TRADES KL term and inner maximisation, and MART's boosted cross-entropy and misclassification-aware KL.

- TRADES (Zhang et al. 2019): KL(p(x) || p(x')) per example, x' found by PGD on that KL from
  x + 0.001 N(0, I).
- MART (Wang et al. 2020): BCE(p(x'), y) = CE(p(x'), y) - log(1 - max_{j != y} p_j(x')), and the KL term
  weighted by 1 - p_y(x).
- Probabilistic margin (Wang et al. 2021, Eq. 4): PM = p_y - max_{j != y} p_j.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes.pgd import pgd_linf


def top_other(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{j != y} p_j per row."""
    return probs.scatter(1, y.view(-1, 1), float("-inf")).max(1).values


def probabilistic_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PM(x, y) = p_y(x) - max_{j != y} p_j(x), in [-1, 1] (MAIL Eq. 4)."""
    probs = logits.softmax(1)
    return probs.gather(1, y.view(-1, 1)).squeeze(1) - top_other(probs, y)


def kl_rows(logits_adv: torch.Tensor, logits_nat: torch.Tensor) -> torch.Tensor:
    """KL(p(x) || p(x')) per example, TRADES's robust term (as nn.KLDivLoss(log p(x'), p(x)))."""
    log_adv = F.log_softmax(logits_adv, 1)
    p_nat = F.softmax(logits_nat, 1)
    return (p_nat * (torch.log(p_nat.clamp(min=1e-12)) - log_adv)).sum(1)


def trades_pgd(model, x, y, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """TRADES inner maximisation: PGD on KL(p(x) || p(x')) from x + 0.001 N(0, I), model in eval mode."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        nat = model(x)
    model.train(was_training)
    return pgd_linf(model, x, y, eps, alpha, steps, loss_fn=lambda logits, _y: kl_rows(logits, nat).sum(),
                    random_start="normal")


def mart_bce(logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MART's boosted cross-entropy per example: CE(x', y) - log(1.0001 - max_{j != y} p_j(x'))."""
    probs = logits_adv.softmax(1)
    return F.cross_entropy(logits_adv, y, reduction="none") - torch.log(1.0001 - top_other(probs, y) + 1e-12)


def mart_kl(logits_adv: torch.Tensor, logits_nat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MART's misclassification-aware term per example: KL(p(x) || p(x')) * (1 - p_y(x))."""
    p_true = logits_nat.softmax(1).gather(1, y.view(-1, 1)).squeeze(1)
    return kl_rows(logits_adv, logits_nat) * (1.0000001 - p_true)

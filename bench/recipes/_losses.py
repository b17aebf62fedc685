"""Shared pieces of the recipes: the TRADES inner maximisation and KL term (TRADES, MART, AWP, MAIL),
MART's boosted cross-entropy and weighted KL, the probabilistic margin (MAIL, Wang et al. 2021, Eq. 4),
the vicinity arguments (da, prl, vmt) and per-sample losses over n vicinity samples in one forward pass.

Vicinity samples come from ``bench.pr.vicinity.sample``: one batched call returns B*n inputs, input b's at
rows b*n .. b*n+n-1, so the per-sample losses are one forward pass viewed as a (B, n) matrix.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes._modes import inner_search
from bench.recipes._base import Recipe
from bench.recipes._pgd import pgd_linf
from bench.pr.vicinity import VICINITIES, sample
from bench.suite.yamlio import Field, parse


def kl_clean_adv(logits_adv: torch.Tensor, probs_clean: torch.Tensor, reduction: str = "batchmean") -> torch.Tensor:
    """KL(p_clean || p_adv) as TRADES writes it: kl_div(log_softmax(adv), softmax(clean))."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), probs_clean, reduction=reduction)


def trades_adversary(model, x: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """TRADES' inner maximisation (Zhang et al. 2019): sign-gradient ascent on KL(f(x) || f(x')) in the
    Linf ball, from x + 0.001 * N(0, 1), with the model in eval mode and the clean output held fixed
    (trades.py, trades_loss); float32 (bench.recipes._modes.inner_search)."""
    with inner_search(model, x), torch.no_grad():
        probs = F.softmax(model(x), dim=1)
    return pgd_linf(model, x, probs, eps, alpha, steps,
                    loss_fn=lambda logits, p: kl_clean_adv(logits, p, "sum"), random_start="normal")


def top_other(probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{j != y} p_j per row."""
    return probs.scatter(1, y.view(-1, 1), float("-inf")).max(1).values


def probabilistic_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PM(x, y) = p_y(x) - max_{j != y} p_j(x), in [-1, 1] (MAIL Eq. 4)."""
    probs = logits.softmax(1)
    return probs.gather(1, y.view(-1, 1)).squeeze(1) - top_other(probs, y)


def kl_rows(logits_adv: torch.Tensor, logits_clean: torch.Tensor) -> torch.Tensor:
    """KL(p(x) || p(x')) per example."""
    return kl_clean_adv(logits_adv, F.softmax(logits_clean, dim=1), reduction="none").sum(1)


def mart_bce(logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MART's boosted cross-entropy per example: CE(x', y) - log(1.0001 - max_{j != y} p_j(x'))."""
    probs = logits_adv.softmax(1)
    return F.cross_entropy(logits_adv, y, reduction="none") - torch.log(1.0001 - top_other(probs, y) + 1e-12)


def mart_kl(logits_adv: torch.Tensor, logits_clean: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MART's misclassification-aware term per example: KL(p(x) || p(x')) * (1 - p_y(x))."""
    p_true = logits_clean.softmax(1).gather(1, y.view(-1, 1)).squeeze(1)
    return kl_rows(logits_adv, logits_clean) * (1.0000001 - p_true)


def trades_objective(model, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, beta: float):
    """TRADES' outer loss CE(f(x), y) + beta * KL(f(x) || f(x')) (batch mean); returns (loss, clean logits).
    As trades.py (trades_loss) and trades_AWP/train_trades_cifar.py, the KL's clean target is a forward pass
    of its own (with its gradient), not the CE's logits: in train mode a dropout net draws another mask and
    BatchNorm updates its running statistics once more."""
    logits = model(x)
    loss = F.cross_entropy(logits, y) + beta * kl_clean_adv(model(adv), F.softmax(model(x), dim=1))
    return loss, logits


def vicinity_params(samples: int, least: int = 1, vicinity: str = "linf") -> dict[str, Field]:
    """The arguments of a recipe that trains on samples of a vicinity (bench.pr.vicinity): the vicinity's
    name (default ``vicinity``), its radius and the number of samples per input (at least ``least``)."""
    return {
        "vicinity": Field("str", vicinity, choices=tuple(VICINITIES)),
        "eps": Field("float", None, lo=0.0),  # radius; None: the vicinity's default for the dataset
        "samples": Field("int", samples, lo=least),
    }


class VicinityRecipe(Recipe):
    """Base of the recipes that train on vicinity samples (da, prl, vmt): its params include
    ``vicinity_params``; eps=None is the vicinity's default radius for the dataset (linf: the dataset's
    Linf budget; l2: its L2 budget; rotation: 35 degrees; ...)."""

    @classmethod
    def resolve(cls, args, info, field="args", where=None) -> dict:
        out = parse(args or {}, cls.params, field, where)
        if out["eps"] is None:
            out["eps"] = float(VICINITIES.get(out["vicinity"]).default(info))
        return out

    def vicinity_losses(self, model, x, y):
        """Per-sample losses (B, n) and logits (B, n, classes) over this recipe's vicinity samples (one
        forward of B*n, or n forwards of B where the recipe's ``batched`` argument is false)."""
        a = self.args
        return vicinity_losses(model, x, y, a["vicinity"], a["samples"], a["eps"], a.get("batched", True))


def vicinity_losses(model, x: torch.Tensor, y: torch.Tensor, vicinity: str, n: int, radius: float,
                    batched: bool = True):
    """Cross-entropy of n uniform vicinity samples per input: one forward pass of B*n inputs, or with
    ``batched`` false n forward passes of B, the j-th holding sample j of every input (in train mode
    BatchNorm then normalises over B inputs and updates its running statistics n times, as advbench's
    CVaR_SGD). Returns (losses of shape (B, n), logits of shape (B, n, classes)); the same samples either way."""
    t = sample(vicinity, x, n, radius)
    if batched:
        logits = model(t).view(len(x), n, -1)
    else:
        per_input = t.view(len(x), n, *x.shape[1:])
        logits = torch.stack([model(per_input[:, j].contiguous()) for j in range(n)], dim=1)
    losses = F.cross_entropy(logits.flatten(0, 1), y.repeat_interleave(n), reduction="none")
    return losses.view(len(x), n), logits

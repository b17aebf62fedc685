"""Run an attack over a test subset: clean-correct samples only, batched, seeded; per-sample norms.

Samples misclassified when clean count as failures for every attack and cost no attack compute: their
adv_pred is the clean prediction and their norms are 0. ``in_budget`` says whether a perturbation lies
inside the budget: the attack's own norm and eps for norm-bounded attacks, the dataset's Linf budget for
unbounded ones (CW-L2, OnePixel, Pixle, GN, ...), so a table can tell a small perturbation from a large one.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from bench.attacks._base import ATTACKS

TOL = {"linf": 1e-5, "l2": 1e-4, "l1": 1e-3}  # float slack of a projection onto the ball


@torch.no_grad()
def predicted_labels(model, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    out = []
    for i in range(0, len(x), batch_size):
        out.append(model(x[i:i + batch_size].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def seed_all(seed: int) -> None:
    """Seed every generator an attack may draw from (torch; numpy for OnePixel/Pixle; random)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def norms(x: torch.Tensor, adv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample Linf, L2 and L0 of adv - x; L0 counts pixel positions changed in any channel."""
    delta = (adv - x).detach().cpu()
    flat = delta.flatten(1)
    l0 = (delta.abs().amax(1).flatten(1) > 1e-6).sum(1).float()
    return flat.abs().amax(1), flat.norm(dim=1), l0


def in_budget(linf: torch.Tensor, l2: torch.Tensor, norm: str, eps: float) -> np.ndarray:
    return within(linf if norm == "linf" else l2, norm, eps)


def within(value, norm: str, eps: float) -> np.ndarray:
    """Whether perturbation sizes ``value`` (in ``norm``) lie inside the budget eps, up to float slack (TOL)."""
    return np.asarray(value) <= eps + TOL[norm]


def run_attack(model, name: str, params: dict, x: torch.Tensor, y: torch.Tensor, batch_size: int, device,
               seed: int = 0) -> dict[str, np.ndarray]:
    """Attack ``x`` (CPU tensors) with the registered attack ``name``; returns per-sample columns
    pred, adv_pred, linf, l2, l0. Only clean-correct samples are attacked; generators are seeded with
    ``seed`` first, so a run is reproducible."""
    info = ATTACKS.get(name)
    model.eval()
    pred = predicted_labels(model, x, batch_size, device)
    adv_pred = pred.clone()
    linf, l2, l0 = (torch.zeros(len(x)) for _ in range(3))
    todo = torch.nonzero(pred == y).flatten()
    seed_all(seed)
    attack = info.make(model, **params)
    for i in range(0, len(todo), batch_size):
        idx = todo[i:i + batch_size]
        xb, yb = x[idx].to(device), y[idx].to(device)
        adv = attack(xb, yb).detach()
        with torch.no_grad():
            adv_pred[idx] = model(adv).argmax(1).cpu()
        linf[idx], l2[idx], l0[idx] = norms(xb, adv)
    return {"pred": pred.numpy(), "adv_pred": adv_pred.numpy(), "linf": linf.double().numpy(),
            "l2": l2.double().numpy(), "l0": l0.double().numpy()}

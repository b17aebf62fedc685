"""Run an attack over a test subset: clean-correct samples only, batched; per-sample norms."""
from __future__ import annotations

import numpy as np
import torch

from bench.attacks import ATTACKS


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    out = []
    for i in range(0, len(x), batch_size):
        out.append(model(x[i:i + batch_size].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def run_attack(model, name: str, params: dict, x: torch.Tensor, y: torch.Tensor, batch_size: int, device,
               norm: str | None, eps: float | None) -> dict[str, np.ndarray]:
    """Attack ``x`` (CPU tensors) with attack ``name``; returns per-sample columns
    pred, adv_pred, linf, l2, l0, in_budget. Samples misclassified when clean are not attacked:
    their adv_pred is the clean prediction and their norms are 0."""
    info = ATTACKS.get(name)
    model.eval()
    pred = predict(model, x, batch_size, device)
    adv_pred = pred.clone()
    linf = torch.zeros(len(x))
    l2 = torch.zeros(len(x))
    l0 = torch.zeros(len(x))
    todo = torch.nonzero(pred == y).flatten()
    attack = info.make(model, **params)
    for i in range(0, len(todo), batch_size):
        idx = todo[i:i + batch_size]
        xb, yb = x[idx].to(device), y[idx].to(device)
        adv = attack(xb, yb).detach()
        with torch.no_grad():
            adv_pred[idx] = model(adv).argmax(1).cpu()
        delta = (adv - xb).flatten(1).cpu()
        linf[idx] = delta.abs().amax(1)
        l2[idx] = delta.norm(dim=1)
        # L0: pixels (positions) changed in any channel
        changed = (adv - xb).abs().amax(1).flatten(1) > 1e-6
        l0[idx] = changed.sum(1).float().cpu()
    if norm == "linf" and eps is not None:
        in_budget = linf <= eps + 1e-5
    elif norm == "l2" and eps is not None:
        in_budget = l2 <= eps + 1e-4
    else:
        in_budget = torch.ones(len(x), dtype=torch.bool)
    return {
        "pred": pred.numpy(), "adv_pred": adv_pred.numpy(), "linf": linf.double().numpy(),
        "l2": l2.double().numpy(), "l0": l0.double().numpy(), "in_budget": in_budget.numpy(),
    }

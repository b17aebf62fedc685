"""Probabilistic robustness (PR) estimates: per input, n vicinity samples and the share classified as
the label, batched; and the aggregates the PR papers report.

Per input x with label y, ``agree`` counts the samples t of the vicinity with z_y(t) > max_{j!=y} z_j(t);
a sample with max_{j!=y} z_j - z_y >= 0 (ties included) is an adversarial example, as in the AT-PR code
(Zhang et al., "Adversarial Training for Probabilistic Robustness", ICCV 2025). pr = agree / n.

Aggregates (``pr_metrics``):
- mean PR +- std over the clean-correct inputs (AT-PR's PR),
- ProbAcc(q) = share of inputs whose pr > 1 - q, over ALL inputs as PRL reports it (Robey et al.,
  "Probabilistically Robust Learning", ICML 2022) and over the clean-correct ones as AT-PR does, for
  q in (0.2, 0.1, 0.05, 0.01),
- augmented accuracy = mean pr over all inputs (accuracy on vicinity samples, PRL's "aug" accuracy).
"""
from __future__ import annotations

import numpy as np
import torch

from bench.pr.vicinity import sample

QS = (0.2, 0.1, 0.05, 0.01)


def agrees(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """True where the label's logit is strictly above every other logit (not an adversarial example)."""
    zy = logits.gather(1, label[:, None]).squeeze(1)
    others = logits.scatter(1, label[:, None], float("-inf")).amax(1)
    return zy > others


@torch.no_grad()
def agree_counts(model, x: torch.Tensor, y: torch.Tensor, vicinity: str, radius: float, n: int,
                 batch_size: int, device) -> np.ndarray:
    """Per input, how many of n vicinity samples the model classifies as the label (strictly)."""
    model.eval()
    per = max(1, batch_size // n)  # inputs per forward: about batch_size samples in each
    out = np.zeros(len(x), dtype=np.int64)
    for i in range(0, len(x), per):
        xb, yb = x[i:i + per].to(device), y[i:i + per].to(device)
        logits = model(sample(vicinity, xb, n, radius))
        ok = agrees(logits, yb.repeat_interleave(n)).view(len(xb), n)
        out[i:i + len(xb)] = ok.sum(1).cpu().numpy()
    return out


def pr_metrics(pr: np.ndarray, correct: np.ndarray, qs=QS) -> dict:
    """The PR aggregates of one evaluation block: pr per input, correct = clean-correct."""
    pr, correct = np.asarray(pr, dtype=float), np.asarray(correct, dtype=bool)
    cc = pr[correct]
    out = {
        "mean_pr": float(cc.mean()) if len(cc) else float("nan"),
        "std_pr": float(cc.std()) if len(cc) else float("nan"),
        "augmented_accuracy": float(pr.mean()),
    }
    for q in qs:
        out[f"prob_acc@{q:g}"] = float((pr > 1 - q).mean())
        out[f"prob_acc_cc@{q:g}"] = float((cc > 1 - q).mean()) if len(cc) else float("nan")
    return out

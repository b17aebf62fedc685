"""Probabilistic robustness (PR) estimates: per input, n vicinity samples and the share classified as
the label, batched; and the aggregates the PR papers report.

Per input x with label y, ``agree`` counts the samples t of the vicinity with z_y(t) > max_{j!=y} z_j(t);
a sample with max_{j!=y} z_j - z_y >= 0 (ties included) is an adversarial example, as in the AT-PR code
(Zhang et al., "Adversarial Training for Probabilistic Robustness", ICCV 2025). pr = agree / n.

The aggregates the PR papers report (mean PR over the clean-correct inputs, ProbAcc(q) over all inputs and
over the clean-correct ones, augmented accuracy) are declared with every other metric in
bench.results.metrics.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.pr.vicinity import sample



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

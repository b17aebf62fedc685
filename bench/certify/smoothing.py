"""Randomized smoothing (Cohen, Rosenfeld and Kolter, "Certified Adversarial Robustness via Randomized
Smoothing", ICML 2019): the smoothed classifier g(x) = argmax_c P(f(x + d) = c), d ~ N(0, sigma^2 I).

- PREDICT(x, n, alpha): counts of n noisy samples; the top two classes A, B; g(x) = A if a two-sided
  binomial test of n_A against n_A + n_B at 1/2 has p <= alpha, else abstain (-1).
- CERTIFY(x, n0, n, alpha, sigma): c_A = the top class of n0 noisy samples; n_A = its count in n fresh
  samples; p_A = the one-sided (1 - alpha) Clopper-Pearson lower bound; abstain when p_A < 1/2, else
  certify c_A with L2 radius sigma * Phi^-1(p_A).
Paper defaults: n0 = 100, n = 100000, alpha = 0.001; sigma in {0.12, 0.25, 0.5, 1.0}. Noise is added
without clipping, as in Cohen et al.; the base classifier sees x + d as it is.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import binomtest, norm

from bench.certify.rules.fixed import clopper_pearson


@torch.no_grad()
def noisy_counts(model, x: torch.Tensor, sigma: float, num: int, num_classes: int, batch_size: int,
                 device) -> np.ndarray:
    """(B, K) counts of the base classifier's predictions on num noisy copies of each input, batched
    across inputs and samples (row r of the flattened (input, sample) sequence is input r // num)."""
    model.eval()
    total = len(x) * num
    x = x.to(device)
    counts = torch.zeros(len(x) * num_classes, dtype=torch.int64, device=device)
    for start in range(0, total, batch_size):
        idx = torch.arange(start, min(start + batch_size, total), device=device) // num
        xb = x[idx]
        pred = model(xb + sigma * torch.randn_like(xb)).argmax(1)
        counts += torch.bincount(idx * num_classes + pred, minlength=len(counts))
    return counts.view(len(x), num_classes).cpu().numpy()


def smoothed_predictions(model, x, sigma: float, n: int, alpha: float, num_classes: int, batch_size: int = 1024,
            device="cpu") -> np.ndarray:
    """Cohen's PREDICT: the smoothed class per input, or -1 (abstain)."""
    counts = noisy_counts(model, x, sigma, n, num_classes, batch_size, device)
    top2 = np.argsort(-counts, axis=1, kind="stable")[:, :2]
    out = np.full(len(x), -1, dtype=np.int64)
    for i, (a, b) in enumerate(top2):
        na, nb = int(counts[i, a]), int(counts[i, b])
        if binomtest(na, na + nb, 0.5).pvalue <= alpha:
            out[i] = a
    return out


def certify(model, x, sigma: float, n0: int, n: int, alpha: float, num_classes: int, batch_size: int = 1024,
            device="cpu") -> dict[str, np.ndarray]:
    """Cohen's CERTIFY per input: pred (-1 = abstain), radius (0 when abstaining), agree = n_A of n."""
    c_a = noisy_counts(model, x, sigma, n0, num_classes, batch_size, device).argmax(1)
    counts = noisy_counts(model, x, sigma, n, num_classes, batch_size, device)
    n_a = counts[np.arange(len(x)), c_a]
    p_a = clopper_pearson(n_a, n, alpha)[0]
    ok = p_a >= 0.5
    radius = np.where(ok, sigma * norm.ppf(np.clip(p_a, 0.5, 1.0)), 0.0)
    return {"pred": np.where(ok, c_a, -1), "radius": radius, "agree": n_a.astype(np.int64)}


def certified_accuracy(pred, label, radius, radii) -> dict[float, float]:
    """Cohen's certified test accuracy at each radius r: correct and certified with radius >= r."""
    pred, label, radius = map(np.asarray, (pred, label, radius))
    hit = (pred == label) & (pred >= 0)
    return {float(r): float((hit & (radius >= r)).mean()) for r in radii}

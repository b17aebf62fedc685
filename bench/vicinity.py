"""Batched samplers of a neighbourhood (vicinity) of each input, shared by training recipes (da, prl,
vmt, atpr), probabilistic-robustness estimates and certification.

``sample(name, x, n, radius)`` returns n samples per input as one tensor of shape (B*n, C, H, W), input b's
samples at rows b*n .. b*n+n-1, all in [0,1]; one call, no per-sample Python loop. Parameters of the
geometric transformations are drawn per sample and applied in one batched ``grid_sample``.

- linf: per pixel U(max(x-r,0), min(x+r,1)), as AT-PR and PRL sample (r = eps).
- l2: uniform in the L2 ball of radius r (direction uniform on the sphere, norm r*U^(1/d)), clipped.
- gaussian: x + N(0, r^2) per pixel, clipped (r = sigma).
- rotation: angle ~ U(-r, r) degrees (certified-PR paper Table 2: 35).
- translation: shifts ~ U(-r, r) of the image size along each axis (paper: 0.3).
- scale: factor ~ U(1-r, 1+r) (paper: 0.3).
- affine: rotation, translation and scaling drawn together, each at r times the paper's range
  (r = 1: +-35 degrees, +-0.3 shift, +-0.3 scale).
Geometric transforms use bilinear interpolation with zero padding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F

from bench.registry import Registry


@dataclass(frozen=True)
class Vicinity:
    name: str
    fn: Callable[[torch.Tensor, float], torch.Tensor]  # (repeated inputs, radius) -> samples
    unit: str  # what the radius means
    default: Callable[[object], float]  # dataset info -> default radius
    lp: str | None = None  # 'linf' / 'l2' when the vicinity is an Lp ball


VICINITIES: Registry[Vicinity] = Registry("vicinity")


def _u(shape, lo, hi, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, device=like.device, dtype=like.dtype) * (hi - lo) + lo


def _linf(x: torch.Tensor, r: float) -> torch.Tensor:
    lo, hi = (x - r).clamp(min=0), (x + r).clamp(max=1)
    return lo + (hi - lo) * torch.rand_like(x)


def _l2(x: torch.Tensor, r: float) -> torch.Tensor:
    d = x[0].numel()
    direction = torch.randn_like(x).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    norm = r * torch.rand(len(x), 1, device=x.device, dtype=x.dtype) ** (1.0 / d)
    return (x + (direction * norm).view_as(x)).clamp(0, 1)


def _gaussian(x: torch.Tensor, r: float) -> torch.Tensor:
    return (x + r * torch.randn_like(x)).clamp(0, 1)


def _warp(x: torch.Tensor, angle: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Apply per-sample rotation (radians), shift (fraction of size, 2 columns) and scale, batched."""
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos, -sin, -2 * shift[:, 0]], dim=1),
        torch.stack([sin, cos, -2 * shift[:, 1]], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


def _rotation(x, r):
    n = len(x)
    return _warp(x, _u(n, -math.radians(r), math.radians(r), x), torch.zeros(n, 2, device=x.device, dtype=x.dtype),
                 torch.ones(n, device=x.device, dtype=x.dtype))


def _translation(x, r):
    n = len(x)
    return _warp(x, torch.zeros(n, device=x.device, dtype=x.dtype), _u((n, 2), -r, r, x),
                 torch.ones(n, device=x.device, dtype=x.dtype))


def _scale(x, r):
    n = len(x)
    return _warp(x, torch.zeros(n, device=x.device, dtype=x.dtype), torch.zeros(n, 2, device=x.device, dtype=x.dtype),
                 _u(n, 1 - r, 1 + r, x))


def _affine(x, r):
    n = len(x)
    deg = math.radians(35 * r)
    return _warp(x, _u(n, -deg, deg, x), _u((n, 2), -0.3 * r, 0.3 * r, x), _u(n, 1 - 0.3 * r, 1 + 0.3 * r, x))


for _v in (
    Vicinity("linf", _linf, "eps (pixels, Linf)", lambda info: info.eps["linf"], "linf"),
    Vicinity("l2", _l2, "eps (pixels, L2)", lambda info: info.eps["l2"], "l2"),
    Vicinity("gaussian", _gaussian, "sigma (pixels)", lambda info: 0.1),
    Vicinity("rotation", _rotation, "degrees", lambda info: 35.0),
    Vicinity("translation", _translation, "fraction of the image size", lambda info: 0.3),
    Vicinity("scale", _scale, "relative scale change", lambda info: 0.3),
    Vicinity("affine", _affine, "multiple of (35 deg, 0.3 shift, 0.3 scale)", lambda info: 1.0),
):
    VICINITIES.add(_v.name, _v)


def sample(name: str, x: torch.Tensor, n: int, radius: float) -> torch.Tensor:
    """n samples of the vicinity of each input: shape (B*n, C, H, W); input b's at rows b*n..b*n+n-1."""
    rep = x.repeat_interleave(n, dim=0)
    return VICINITIES.get(name).fn(rep, float(radius))

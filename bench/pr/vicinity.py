"""Batched samplers of a neighbourhood (vicinity) of each input, shared by training recipes (da, prl,
vmt, atpr), probabilistic-robustness estimates and certification.

``sample(name, x, n, radius, generator=None)`` returns n samples per input as one tensor of shape
(B*n, C, H, W), input b's samples at rows b*n .. b*n+n-1, all in [0,1]; one call, no per-sample Python
loop. Parameters of the geometric transformations are drawn per sample and applied in one batched
``grid_sample``. ``generator`` (a torch.Generator on x's device) makes a draw reproducible on its own
stream; by default the global RNG is used. ``draw(name, rows, radius, source)`` samples once per row from
any source of randomness with ``rand(shape, like)`` and ``randn(shape, like)``: ``TorchSource`` (torch's
RNG) or bench.pr.keyed's ``KeyedSource`` (each row's values a function of its key alone; certification).

- linf: per pixel U(max(x-r,0), min(x+r,1)), as AT-PR's PR evaluation samples (r = eps). This is the
  uniform distribution on the Linf ball intersected with the pixel box [0,1].
- linf-clip: per pixel x + U(-r, r), then clipped to [0,1], as advbench's CVaR_SGD (PRL: sample_deltas
  then img_clamp) and the certified-PR paper's code (VMT: sample_uniform_linf_with_clamp). A pixel at 0
  stays at 0 with probability 1/2, and the mean shift of a 0-pixel is r/4 (linf: r/2).
- l2: uniform in the L2 ball of radius r (direction uniform on the sphere, norm r*U^(1/d)), then clipped
  to [0,1] (clipping moves samples that leave the box onto its faces, so near the box the law is not
  exactly uniform; every sample stays within distance r of x).
- gaussian: x + N(0, r^2) per pixel, clipped (r = sigma).
- rotation: angle ~ U(-r, r) degrees (certified-PR paper Table 2/6: 35).
- translation: shifts ~ U(-r, r) of the image size along each axis, independently (paper: 0.3).
- scale: factor ~ U(1-r, 1+r) (paper: 0.3); r must be < 1.
- affine: rotation, translation and scaling drawn together, each at r times the paper's range
  (r = 1: +-35 degrees, +-0.3 shift, +-0.3 scale); r must be < 1/0.3.
Geometric transforms use bilinear interpolation with zero padding (torchvision's RandomAffine conventions:
the scale factor enlarges the content, the shift is a fraction of the image width/height).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F

from bench.errors import UserError
from bench.registry import Registry


@dataclass(frozen=True)
class Vicinity:
    name: str
    fn: Callable[..., torch.Tensor]  # (repeated inputs, radius, source) -> samples
    unit: str  # what the radius means
    default: Callable[[object], float]  # dataset info -> default radius
    lp: str | None = None  # 'linf' / 'l2' when the vicinity is an Lp ball
    below: float | None = None  # radii must be < this (None: no upper limit)


VICINITIES: Registry[Vicinity] = Registry("vicinity")


class TorchSource:
    """torch's RNG: a torch.Generator on the rows' device, or the global RNG when None."""

    def __init__(self, generator: torch.Generator | None = None):
        self.gen = generator

    def rand(self, shape, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(shape, generator=self.gen, device=like.device, dtype=like.dtype)

    def randn(self, shape, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(shape, generator=self.gen, device=like.device, dtype=like.dtype)


def _u(shape, lo, hi, like: torch.Tensor, src) -> torch.Tensor:
    return src.rand(shape, like) * (hi - lo) + lo


def _linf(x: torch.Tensor, r: float, src) -> torch.Tensor:
    lo, hi = (x - r).clamp(min=0), (x + r).clamp(max=1)
    return lo + (hi - lo) * src.rand(x.shape, x)


def _linf_clip(x: torch.Tensor, r: float, src) -> torch.Tensor:
    return (x + (2 * src.rand(x.shape, x) - 1) * r).clamp(0, 1)


def _l2(x: torch.Tensor, r: float, src) -> torch.Tensor:
    d = x[0].numel()
    direction = src.randn(x.shape, x).flatten(1)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    norm = r * src.rand((len(x), 1), x) ** (1.0 / d)
    return (x + (direction * norm).view_as(x)).clamp(0, 1)


def _gaussian(x: torch.Tensor, r: float, src) -> torch.Tensor:
    return (x + r * src.randn(x.shape, x)).clamp(0, 1)


def _warp(x: torch.Tensor, angle: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Per-sample rotation (radians), shift (fraction of the size, 2 columns) and scale, one grid_sample.

    affine_grid maps each output pixel to the input point it reads (input = R(angle) out / scale - 2 shift,
    in coordinates where 2 units = the image size), so the content is moved by +shift, enlarged by scale
    and rotated by -angle; every range is symmetric, so the sign of the angle does not matter."""
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos, -sin, -2 * shift[:, 0]], dim=1),
        torch.stack([sin, cos, -2 * shift[:, 1]], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


def _zeros(x, *shape):
    return torch.zeros(len(x), *shape, device=x.device, dtype=x.dtype)


def _rotation(x, r, src):
    rad = math.radians(r)
    return _warp(x, _u(len(x), -rad, rad, x, src), _zeros(x, 2), _zeros(x) + 1)


def _translation(x, r, src):
    return _warp(x, _zeros(x), _u((len(x), 2), -r, r, x, src), _zeros(x) + 1)


def _scale(x, r, src):
    return _warp(x, _zeros(x), _zeros(x, 2), _u(len(x), 1 - r, 1 + r, x, src))


def _affine(x, r, src):
    n, rad = len(x), math.radians(35 * r)
    return _warp(x, _u(n, -rad, rad, x, src), _u((n, 2), -0.3 * r, 0.3 * r, x, src),
                 _u(n, 1 - 0.3 * r, 1 + 0.3 * r, x, src))


for _v in (
    Vicinity("linf", _linf, "eps (pixels, Linf)", lambda info: info.eps["linf"], "linf"),
    Vicinity("linf-clip", _linf_clip, "eps (pixels, Linf; added, then clipped)", lambda info: info.eps["linf"], "linf"),
    Vicinity("l2", _l2, "eps (pixels, L2)", lambda info: info.eps["l2"], "l2"),
    Vicinity("gaussian", _gaussian, "sigma (pixels)", lambda info: 0.1),
    Vicinity("rotation", _rotation, "degrees", lambda info: 35.0),
    Vicinity("translation", _translation, "fraction of the image size", lambda info: 0.3),
    Vicinity("scale", _scale, "relative scale change", lambda info: 0.3, below=1.0),
    Vicinity("affine", _affine, "multiple of (35 deg, 0.3 shift, 0.3 scale)", lambda info: 1.0, below=1 / 0.3),
):
    VICINITIES.add(_v.name, _v)


def check_radius(name: str, radius: float) -> str | None:
    """Why ``radius`` is not a valid radius of vicinity ``name`` (None when it is)."""
    v = VICINITIES.get(name)
    if radius < 0:
        return f"a {name} radius must be >= 0, got {radius:g}"
    if v.below is not None and radius >= v.below:
        return f"a {name} radius must be < {v.below:g}, got {radius:g}"
    return None


def radii(vicinity: str, eps, info, where, field="eps") -> list[float]:
    """The radii of an entry: the given number(s), or the vicinity's default for the dataset; checked."""
    values = list(eps) if eps is not None else [float(VICINITIES.get(vicinity).default(info))]
    for r in values:
        problem = check_radius(vicinity, r)
        if problem:
            raise UserError(problem, where, field)
    return values


def sample(name: str, x: torch.Tensor, n: int, radius: float, generator: torch.Generator | None = None
           ) -> torch.Tensor:
    """n samples of the vicinity of each input: shape (B*n, C, H, W); input b's at rows b*n..b*n+n-1."""
    return draw(name, x.repeat_interleave(n, dim=0), radius, TorchSource(generator))


def draw(name: str, rows: torch.Tensor, radius: float, source) -> torch.Tensor:
    """One sample of the vicinity of each row of ``rows``, with randomness from ``source``."""
    problem = check_radius(name, float(radius))
    if problem:
        raise ValueError(problem)
    return VICINITIES.get(name).fn(rows, float(radius), source)

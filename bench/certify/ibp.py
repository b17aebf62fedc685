"""Interval bound propagation (IBP; Gowal et al. 2018, 'On the Effectiveness of Interval Bound
Propagation for Training Verifiably Robust Models'), native for every registered architecture.

An input box [max(x - eps, 0), min(x + eps, 1)] is pushed through the net layer by layer as a centre and
a radius: an affine layer maps the centre through itself and the radius through |W|; monotone layers
(ReLU, max/average pooling, Normalize, flatten) map both ends. The clean activation travels with the
box, so BatchNorm in training mode bounds with the current batch's statistics (the statistics the clean
forward uses, as in Shi et al. 2021) and the clean logits come out of the same pass; in eval mode
BatchNorm is the affine map of its running statistics and dropout is the identity.

With a label, the output layer is folded with the specification C = e_y - e_j (Gowal et al. Sec. 3),
giving lower bounds on the margins z_y - z_j that are tighter than differencing logit bounds. A net is
verified at x when every margin bound of the other classes is > 0.

Supported layers: Normalize, Conv2d, Linear, ReLU, BatchNorm1d/2d, MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d, Flatten, Dropout, Identity, Sequential, and the residual nets of bench/nets/resnets.py
(BasicBlock, PreActBlock and their shortcuts; ResNet, WideResNet, CifarResNet). Anything else is a
UserError naming the layer type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import UserError
from bench.nets import Normalize
from bench.nets.resnets import BasicBlock, CifarResNet, PreActBlock, ResNet, WideResNet


@dataclass
class Box:
    """Elementwise bounds lo <= a <= hi of an activation, with the clean activation x inside them."""

    lo: torch.Tensor
    hi: torch.Tensor
    x: torch.Tensor

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "Box":
        """Apply a monotone non-decreasing elementwise-or-pooling map to all three."""
        return Box(fn(self.lo), fn(self.hi), fn(self.x))

    def __add__(self, other: "Box") -> "Box":
        return Box(self.lo + other.lo, self.hi + other.hi, self.x + other.x)


@dataclass
class Trace:
    """What a pass records: the input radius after normalisation and each ReLU's pre-activation
    bounds (for Shi et al.'s warm-up regularisers), and the specification for the output layer."""

    spec: torch.Tensor | None = None  # (B, K, K) rows e_y - e_j, applied at `head`
    head: nn.Module | None = None
    spec_done: bool = False
    input_radius: torch.Tensor | None = None
    pre_relu: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)


RULES: dict[type, Callable[[nn.Module, Box, Trace], Box]] = {}


def rule(*types: type):
    def deco(fn):
        for t in types:
            RULES[t] = fn
        return fn

    return deco


def propagate(module: nn.Module, box: Box, trace: Trace) -> Box:
    """Bounds on ``module``'s output over the box of its inputs."""
    if trace.spec_done and not isinstance(module, (nn.Sequential, ResNet, WideResNet, CifarResNet)):
        raise UserError(f"interval bound propagation: layer {type(module).__name__} follows the output "
                        "layer (the net's last nn.Linear must be its final operation)")
    for cls in type(module).__mro__:
        if cls in RULES:
            return RULES[cls](module, box, trace)
    raise UserError(f"interval bound propagation does not support layer type {type(module).__name__}")


@rule(nn.Sequential)
def _sequential(m, box, trace):
    for child in m:
        box = propagate(child, box, trace)
    return box


@rule(Normalize)
def _normalize(m, box, trace):
    out = box.map(m)  # (x - mean) / std with std > 0: monotone
    if trace.input_radius is None:
        trace.input_radius = (out.hi - out.lo) / 2
    return out


def _affine(box: Box, mid_fn, rad_fn, clean_fn) -> Box:
    mid, rad = (box.hi + box.lo) / 2, (box.hi - box.lo) / 2
    m, r = mid_fn(mid), rad_fn(rad)
    return Box(m - r, m + r, clean_fn(box.x))


@rule(nn.Conv2d)
def _conv(m, box, trace):
    if m.padding_mode != "zeros":
        raise UserError(f"interval bound propagation does not support Conv2d with padding_mode={m.padding_mode!r}")
    conv = lambda t, w, b: F.conv2d(t, w, b, m.stride, m.padding, m.dilation, m.groups)  # noqa: E731
    return _affine(box, lambda c: conv(c, m.weight, m.bias), lambda r: conv(r, m.weight.abs(), None), m)


@rule(nn.Linear)
def _linear(m, box, trace):
    if m is trace.head and trace.spec is not None:
        trace.spec_done = True
        w = trace.spec @ m.weight  # (B, K, in)
        b = trace.spec @ m.bias if m.bias is not None else 0.0

        def mid_fn(c):
            return torch.einsum("bki,bi->bk", w, c) + b

        return _affine(box, mid_fn, lambda r: torch.einsum("bki,bi->bk", w.abs(), r), m)
    return _affine(box, m, lambda r: F.linear(r, m.weight.abs()), m)


@rule(nn.ReLU)
def _relu(m, box, trace):
    trace.pre_relu.append((box.lo, box.hi))
    return box.map(F.relu)


@rule(nn.BatchNorm1d, nn.BatchNorm2d)
def _batchnorm(m, box, trace):
    dims = [0] + list(range(2, box.x.dim()))
    shape = [1, -1] + [1] * (box.x.dim() - 2)
    if m.training or m.running_mean is None:
        mean = box.x.mean(dims)
        var = box.x.var(dims, unbiased=False)
    else:
        mean, var = m.running_mean, m.running_var
    scale = torch.rsqrt(var + m.eps)
    shift = -mean * scale
    if m.affine:
        scale, shift = scale * m.weight, shift * m.weight + m.bias
    scale, shift = scale.view(shape), shift.view(shape)
    # the module itself on the clean activation: the same normalisation, and in training the update of
    # its running statistics that the plain forward would make
    return _affine(box, lambda c: c * scale + shift, lambda r: r * scale.abs(), m)


@rule(nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)
def _monotone(m, box, trace):
    return box.map(m)


def _dropout(box: Box, p: float, training: bool) -> Box:
    if not training or p == 0:
        return box
    mask = torch.empty_like(box.x).bernoulli_(1 - p) / (1 - p)  # one mask for the box and the clean input
    return box.map(lambda t: t * mask)


@rule(nn.Dropout)
def _dropout_layer(m, box, trace):
    return _dropout(box, m.p, m.training)


@rule(BasicBlock)
def _basic_block(m, box, trace):
    out = _relu(None, propagate(m.bn1, propagate(m.conv1, box, trace), trace), trace)
    out = propagate(m.bn2, propagate(m.conv2, out, trace), trace)
    return _relu(None, out + propagate(m.shortcut, box, trace), trace)


@rule(PreActBlock)
def _preact_block(m, box, trace):
    out = _relu(None, propagate(m.bn1, box, trace), trace)
    short = propagate(m.shortcut, out, trace) if m.shortcut is not None else box
    out = _relu(None, propagate(m.bn2, propagate(m.conv1, out, trace), trace), trace)
    out = _dropout(out, m.drop, m.training)
    return propagate(m.conv2, out, trace) + short


def _pool_head(m, box, trace):
    box = box.map(lambda t: F.adaptive_avg_pool2d(t, 1).flatten(1))
    return propagate(m.head, box, trace)


@rule(ResNet)
def _resnet(m, box, trace):
    box = propagate(m.stem, box, trace)
    if not m.preact:
        box = _relu(None, propagate(m.bn, box, trace), trace)
    box = propagate(m.stages, box, trace)
    if m.preact:
        box = _relu(None, propagate(m.bn, box, trace), trace)
    return _pool_head(m, box, trace)


@rule(WideResNet)
def _wide_resnet(m, box, trace):
    box = propagate(m.stages, propagate(m.stem, box, trace), trace)
    return _pool_head(m, _relu(None, propagate(m.bn, box, trace), trace), trace)


@rule(CifarResNet)
def _cifar_resnet(m, box, trace):
    return _pool_head(m, propagate(m.stages, propagate(m.stem, box, trace), trace), trace)


def input_box(x: torch.Tensor, eps: float) -> Box:
    """The Linf ball of radius eps around x, intersected with the pixel range [0, 1]."""
    return Box((x - eps).clamp(0, 1), (x + eps).clamp(0, 1), x)


def output_layer(model: nn.Module) -> nn.Linear:
    """The net's classifier: its last nn.Linear (checked to be its final operation by ``propagate``)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UserError(f"interval bound propagation needs a net ending in nn.Linear; {type(model).__name__} has none")
    return linears[-1]


def logit_bounds(model: nn.Module, x: torch.Tensor, eps: float) -> Box:
    """Elementwise bounds on the logits over the eps-box around each input (and the clean logits)."""
    return propagate(model, input_box(x, eps), Trace())


def spec_matrix(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """C (B, K, K) with row j = e_y - e_j: C z are the margins z_y - z_j (row y is zero)."""
    eye = torch.eye(num_classes, device=y.device)
    return eye[y].unsqueeze(1) - eye.unsqueeze(0)


def margin_bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                  trace: Trace | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower bounds (B, K) on z_y - z_j over the eps-box, 0 at j = y; clean logits (B, K))."""
    head = output_layer(model)
    trace = trace or Trace()
    trace.spec, trace.head = spec_matrix(y, head.out_features), head
    box = propagate(model, input_box(x, eps), trace)
    if not trace.spec_done:
        raise UserError("interval bound propagation: the net's last nn.Linear was never reached")
    return box.lo, box.x


def worst_case_logits(margin_lo: torch.Tensor) -> torch.Tensor:
    """Gowal et al.'s worst-case logits: z_j - z_y at its upper bound, 0 for the true class; the
    cross-entropy of these bounds the cross-entropy of every point in the box from above."""
    return -margin_lo


def verified(margin_lo: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """True where every other class's margin lower bound is > 0."""
    other = margin_lo.clone()
    other.scatter_(1, y.view(-1, 1), float("inf"))
    return other.min(1).values > 0

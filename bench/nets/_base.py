"""The nets registry and base classes: a leaf module that imports none of the registered modules
(bench.nets re-exports it and discovers them)."""
from __future__ import annotations

import inspect

import torch
from torch import nn

from bench.registry import Registry

ARCHS: Registry = Registry("architecture")


class Normalize(nn.Module):
    """(x - mean) / std per channel, as a layer, so attacks and certifiers see [0,1] pixels."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


INITS = ("reference", "torch")


def check_init(init: str) -> bool:
    """Whether to apply the reference code's initialisation (``init: reference``) or keep PyTorch's defaults."""
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    return init == "reference"


def he_normal_fan_out(net: nn.Module) -> nn.Module:
    """Conv kernels ~ N(0, 2 / (k*k*out_channels)), BatchNorm weight 1 and bias 0: the initialisation of the
    original WideResNet and CIFAR ResNet code that TRADES, MART, AWP, ADT (wideresnet.py) and Cohen et al.
    (cifar_resnet.py) copy."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def arch_params(arch: str) -> dict:
    """The keyword arguments an architecture takes beyond the dataset, with their defaults."""
    fn = ARCHS.get(arch)
    sig = inspect.signature(fn)
    skip = {"in_ch", "size", "classes"}
    return {k: p.default for k, p in sig.parameters.items() if k not in skip}


def build(arch: str, info, normalize: dict | None = None, **args) -> nn.Module:
    """The net ``arch`` for dataset ``info``, with its normalisation layer in front: the dataset's mean and
    std, or ``normalize`` {mean, std} (a training setting: a card that follows a reference without one)."""
    body = ARCHS.get(arch)(in_ch=info.shape[0], size=info.shape[1], classes=info.num_classes, **args)
    norm = normalize or {"mean": info.mean, "std": info.std}
    return nn.Sequential(Normalize(norm["mean"], norm["std"]), body)

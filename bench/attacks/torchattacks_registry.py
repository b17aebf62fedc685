"""Register every attack class torchattacks ships, under torchattacks' names, with its norm.

torchattacks' own AutoAttack is registered as ``torchattacks.AutoAttack``: it differs from the official
AutoAttack (10 steps, class count default 10, seed from the clock), which is the ``autoattack:``
evaluation kind (bench.evals.autoattack). MultiAttack (a wrapper of other attacks) and LGV (needs a
training loader) are not attacks on a model alone and are not registered.

Fix in the adapter: TIFGSM, PIFGSM and PIFGSMPP convolve with a kernel stacked for exactly three
channels (``groups=3``) and fail on grey images; ``ThreeChannels`` runs them on a zero-padded
3-channel copy (see its docstring).
"""
from __future__ import annotations

import inspect

import torch
import torchattacks
from torch import nn

from bench.attacks._base import ATTACKS, AttackInfo, signature_defaults
from bench.errors import UserError
from bench.registry import first_doc_line

# Attacks bounded in L2; those with a `norm` argument default to it; the rest with `eps` are Linf.
_L2 = {"PGDL2", "PGDRSL2"}
# Classes that are not attacks on a model alone: wrappers of other attacks or needing a train loader.
_NOT_SINGLE = {"MultiAttack", "LGV"}
# Attacks that draw no random numbers (torchattacks 3.5.1's source: no rand, uniform_, normal_ or
# np.random), and those whose only draws are a random start switched by `random_start`; every other
# attack draws (tests/test_chunks.py checks both sets against different seeds).
DETERMINISTIC = {"BIM", "CW", "DeepFool", "EADEN", "EADL1", "FGSM", "JSMA", "MIFGSM", "NIFGSM", "PIFGSM",
                 "PIFGSMPP", "SINIFGSM", "SparseFool", "VANILA"}
RANDOM_START = {"PGD", "PGDL2", "UPGD", "EOTPGD"}
# Attacks whose gradient/noise kernels are hard-coded for 3 channels.
_THREE_CHANNELS = {"TIFGSM", "PIFGSM", "PIFGSMPP"}


def _norm(name: str, defaults: dict) -> str | None:
    if name in _L2:
        return "l2"
    if "norm" in defaults:
        return "linf" if defaults["norm"] == "Linf" else "l2"
    if "eps" in defaults or "max_epsilon" in defaults:
        return "linf"
    return None


class FirstChannels(nn.Module):
    """The model seen through the first ``c`` channels of its input."""

    def __init__(self, model: nn.Module, c: int):
        super().__init__()
        self.model, self.c = model, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x[:, : self.c])


class ThreeChannels:
    """Run an attack written for 3-channel images on images with fewer channels.

    The input is padded with zero channels that the model never sees (``FirstChannels``). Their
    gradient is zero, so sign steps and the depthwise kernels leave them at zero, and the real channels
    receive exactly the update a per-channel implementation would give them; the padding is dropped
    from the result.
    """

    def __init__(self, cls, name: str, model: nn.Module, params: dict):
        self.cls, self.name, self.model, self.params = cls, name, model, params

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == 3:
            return self.cls(self.model, **self.params)(x, y)
        if c > 3:
            raise UserError(f"{self.name} works on images with at most 3 channels, got {c}")
        pad = torch.zeros(x.shape[0], 3 - c, *x.shape[2:], dtype=x.dtype, device=x.device)
        attack = self.cls(FirstChannels(self.model, c), **self.params)
        return attack(torch.cat([x, pad], 1), y)[:, :c]


def _factory(cls, name: str):
    if name in _THREE_CHANNELS:
        return lambda model, **params: ThreeChannels(cls, name, model, params)
    return lambda model, **params: cls(model, **params)


for _name in sorted(dir(torchattacks)):
    _cls = getattr(torchattacks, _name)
    if not (inspect.isclass(_cls) and issubclass(_cls, torchattacks.attack.Attack)):
        continue
    if _name == "Attack" or _name in _NOT_SINGLE:
        continue
    _defaults = signature_defaults(_cls)
    _reg_name = "torchattacks.AutoAttack" if _name == "AutoAttack" else _name
    _budget = "eps" if "eps" in _defaults else "max_epsilon" if "max_epsilon" in _defaults else None
    _random = False if _name in DETERMINISTIC else "random_start" if _name in RANDOM_START else True
    ATTACKS.add(_reg_name, AttackInfo(_reg_name, _factory(_cls, _name), _norm(_name, _defaults), _defaults,
                                      doc=first_doc_line(_cls), budget=_budget, random=_random))

"""Register every attack class torchattacks ships, under torchattacks' names, with its norm."""
from __future__ import annotations

import inspect

import torchattacks

from bench.attacks import ATTACKS, AttackInfo, signature_defaults

# Attacks bounded in L2; those with a `norm` argument default to it; the rest with `eps` are Linf.
_L2 = {"PGDL2", "PGDRSL2"}
# Classes that are not attacks on a model alone: wrappers of other attacks or needing a train loader.
_NOT_SINGLE = {"MultiAttack", "LGV"}


def _norm(name: str, defaults: dict) -> str | None:
    if name in _L2:
        return "l2"
    if "norm" in defaults:
        return "linf" if defaults["norm"] == "Linf" else "l2"
    if "eps" in defaults or "max_epsilon" in defaults:
        return "linf"
    return None


def _factory(cls):
    def make(model, **params):
        return cls(model, **params)

    return make


for _name in sorted(dir(torchattacks)):
    _cls = getattr(torchattacks, _name)
    if not (inspect.isclass(_cls) and issubclass(_cls, torchattacks.attack.Attack)):
        continue
    if _name in ("Attack",) or _name in _NOT_SINGLE:
        continue
    _defaults = signature_defaults(_cls)
    _reg_name = "torchattacks.AutoAttack" if _name == "AutoAttack" else _name
    ATTACKS.add(_reg_name, AttackInfo(_reg_name, _factory(_cls), _norm(_name, _defaults), _defaults,
                                      doc=(inspect.getdoc(_cls) or "").splitlines()[0] if inspect.getdoc(_cls) else ""))

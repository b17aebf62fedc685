"""The attacks registry and base classes: a leaf module that imports none of the registered modules
(bench.attacks re-exports it and discovers them)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from bench.registry import Registry


@dataclass(frozen=True)
class AttackInfo:
    name: str
    make: Callable = field(repr=False, compare=False)  # make(model, **params) -> callable(x, y) -> x_adv
    norm: str | None  # 'linf' | 'l2' | None (no norm bound: CW, OnePixel, Pixle, GN, ...)
    defaults: dict  # the underlying implementation's own defaults
    source: str = "torchattacks 3.5.1"
    doc: str = ""
    budget: str | None = None  # the parameter holding the norm budget ('eps', or PIFGSM's 'max_epsilon')
    version: int = 1  # bumped when a change alters this attack's results (eval cell ids hash it)
    # whether it draws random numbers: True, False, or the name of the parameter that switches its only
    # draws on ('random_start'); an attack that draws has rows that depend on how a cell is chunked
    random: bool | str = True

    def draws(self, params: dict) -> bool:
        """Whether the attack with these parameters draws from a random generator."""
        if isinstance(self.random, str):
            return bool(params.get(self.random, self.defaults.get(self.random)))
        return self.random


ATTACKS: Registry[AttackInfo] = Registry("attack")


def signature_defaults(cls) -> dict:
    skip = {"self", "model"}
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if k not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

"""Evaluation names as data: the one module that builds an evaluation block's name and its name columns,
and formats names for display. Torch-free (the report imports it).

A block's name is its configured name (the kind's default or its ``as:`` label, e.g. ``attack:PGD-20``)
followed by the parts that tell one block of an evaluation from another:

    <name>[@<value>][<tags>][/<component>]
    attack:PGD@0.1[vote,EOT]    certify:linf@0.3[kappa=0.1,alpha=0.01]    attack:AutoAttack/apgd-ce

Every row also carries the parts as columns, so reports select on columns, never on the name:
``kind`` (what the rows measure: clean, attack, pr, certify, smooth, ibp; AutoAttack rows are attacks),
``base`` (the configured name without its ``kind:`` prefix), ``predictor`` (bench.evals._predictors mode), ``adaptive``
(an EOT attack through that predictor), ``sweep`` (the budget/radius is part of the name: one point of a
sweep), ``component`` (an AutoAttack component), ``kappa``/``alpha`` (certification test), ``eps`` (budget or
radius), ``norm`` (the norm an attack's eps bounds: linf, l2, l1; null when unbounded) and ``sigma``
(smoothing noise).
"""
from __future__ import annotations

import math

import numpy as np

DEFAULT_KAPPA = DEFAULT_ALPHA = 0.01  # the certification paper's kappa and alpha (names omit them)
PART_COLUMNS = ("kind", "base", "predictor", "adaptive", "sweep", "component", "kappa", "alpha", "eps", "norm",
                "sigma")


def base_of(name: str) -> str:
    """A configured name without its kind prefix: 'attack:PGD-20' -> 'PGD-20', 'smooth' -> 'smooth'."""
    return name.split(":", 1)[-1]


def block_name(name: str, value: float | None = None, predictor: str | None = None, adaptive: bool = False,
               kappa: float | None = None, alpha: float | None = None, component: str | None = None) -> str:
    """The name of one block of rows of the evaluation configured as ``name`` (see the module docstring);
    ``value`` is the swept budget, radius or sigma; kappa/alpha appear unless both are the paper's defaults."""
    out = name if value is None else f"{name}@{value:g}"
    tags = [predictor] if predictor else []
    tags += ["EOT"] if adaptive else []
    if kappa is not None and (kappa, alpha) != (DEFAULT_KAPPA, DEFAULT_ALPHA):
        tags += [f"kappa={kappa:g}", f"alpha={alpha:g}"]
    out += f"[{','.join(tags)}]" if tags else ""
    return out + (f"/{component}" if component else "")


def block(n: int, kind: str, name: str, value: float | None = None, predictor: str | None = None,
          adaptive: bool = False, kappa: float | None = None, alpha: float | None = None,
          component: str | None = None, eps: float | None = None, sigma: float | None = None,
          evaluation: str | None = None, norm: str | None = None) -> dict:
    """The name columns of ``n`` rows of one block: ``evaluation`` (block_name, unless given: clean's
    configured name carries its predictor tag already) and its parts."""
    def full(v, dtype=object):
        return np.full(n, v, dtype=dtype)

    num = lambda v: full(math.nan if v is None else v, float)  # noqa: E731
    evaluation = evaluation or block_name(name, value, predictor, adaptive, kappa, alpha, component)
    return {"evaluation": full(evaluation),
            "kind": full(kind), "base": full(base_of(name)), "predictor": full(predictor),
            "adaptive": full(adaptive, bool), "sweep": full(value is not None, bool), "component": full(component),
            "kappa": num(kappa), "alpha": num(alpha), "eps": num(eps), "norm": full(norm), "sigma": num(sigma)}


def family(evaluation: str, kind: str, base: str, component: str | None = None) -> str:
    """A block's evaluation without its sweep point and tags: its configured name (``attack:PGD``,
    ``clean``, an ``as:`` label), plus the component ('attack:AutoAttack/apgd-ce')."""
    name = f"{kind}:{base}" if evaluation.startswith(f"{kind}:") else base
    return name + (f"/{component}" if component else "")


def parse(evaluation: str) -> dict:
    """The name parts of a block name written before rows carried them (results of older versions):
    kind, base, predictor, adaptive, sweep, component. kappa, alpha, eps were columns already."""
    head, _, component = evaluation.partition("/")
    head, _, tags = head.partition("[")
    tags = [t.strip() for t in tags.rstrip("]").split(",") if t.strip()]
    name, at, _ = head.partition("@")
    kind = name.split(":", 1)[0] if ":" in name else name
    modes = [t for t in tags if t != "EOT" and "=" not in t]
    return {"kind": kind, "base": base_of(name), "predictor": modes[0] if modes else None,
            "adaptive": "EOT" in tags, "sweep": bool(at), "component": component or None}


def display(base: str, predictor: str | None = None, adaptive: bool = False) -> str:
    """How a report labels an evaluation block: 'PGD [vote, EOT] (adaptive)'."""
    tags = ([predictor] if predictor else []) + (["EOT"] if adaptive else [])
    return base + (f" [{', '.join(tags)}]" if tags else "") + (" (adaptive)" if adaptive else "")

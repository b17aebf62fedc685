"""Evaluation registry: what an eval cell does to a trained model on a fixed test subset.

A suite names an evaluation by its kind as the key, with the kind's main value (``attack: PGD``,
``pr: linf``), optional ``as:`` (the display name) and the kind's own keys. ``resolve`` validates them
(one line naming file:line and the field on a mistake) and returns the evaluation's name and its fully
resolved parameters, which go into the cell id. ``run`` returns the per-sample rows as columns: at
least ``evaluation, index, label, pred, correct``, with the name columns from ``bench.names.block``; see
README "Per-sample rows". What the report computes from a kind's rows is declared in bench/metrics.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.registry import Registry
from bench.yamlio import Field, parse

EVALS: Registry = Registry("evaluation kind")


@dataclass
class EvalContext:
    info: object  # DatasetInfo
    device: torch.device
    batch_size: int
    seed: int
    notes: dict  # an evaluation may record facts about the cell here (shown in the report)
    index: torch.Tensor | None = None  # each input's index in the test split (None: its position in x)


class Evaluation:
    """Base class of an evaluation kind."""

    kind = "base"
    main: Field | None = None  # the value given with the kind key; None: the kind stands alone
    params: dict[str, Field] = {}
    version = 1  # bumped when a change alters the numbers this kind computes (eval cell ids hash it)

    @classmethod
    def versions(cls, params: dict) -> dict:
        """The code versions an eval cell with these resolved params depends on: this kind's, and the
        registered attack's when the params name one (``attack: PGD``; bench.attacks.AttackInfo.version)."""
        from bench.attacks import ATTACKS

        out = {f"evaluation:{cls.kind}": cls.version}
        attack = params.get("attack")
        if isinstance(attack, str) and attack in ATTACKS:
            out[f"attack:{attack}"] = ATTACKS.get(attack).version
        return out

    @classmethod
    def resolve(cls, main, opts: dict, info, where: str | None) -> tuple[str, dict]:
        """(evaluation name, resolved params)."""
        return cls.kind, parse(opts, cls.params, cls.kind, where)

    def __init__(self, name: str, params: dict):
        self.name = name
        self.params = params

    def run(self, model, x: torch.Tensor, y: torch.Tensor, ctx: EvalContext) -> dict[str, np.ndarray]:
        raise NotImplementedError


def concat(blocks: list[dict]) -> dict:
    """One evaluation's rows from its blocks (dicts of equal-length columns with the same keys)."""
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


from bench.discover import import_all  # noqa: E402

import_all(__name__, __path__)  # every module registers itself

"""The evals registry and base classes: a leaf module that imports none of the registered modules
(bench.evals re-exports it and discovers them)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bench.registry import Registry
from bench.suite.yamlio import Field, parse

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
    fields: dict[str, Field] = {}
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
        return cls.kind, parse(opts, cls.fields, cls.kind, where)

    def __init__(self, name: str, params: dict):
        self.name = name
        self.params = params

    def run(self, model, x: torch.Tensor, y: torch.Tensor, ctx: EvalContext) -> dict[str, np.ndarray]:
        raise NotImplementedError


def concat(blocks: list[dict]) -> dict:
    """One evaluation's rows from its blocks (dicts of equal-length columns with the same keys)."""
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}

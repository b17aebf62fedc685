"""The evals registry and base classes: a leaf module that imports none of the registered modules
(bench.evals re-exports it and discovers them)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from bench.registry import Registry
from bench.suite.yamlio import Field, parse

EVALS: Registry = Registry("evaluation kind")


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk ``chunk`` of a cell seeded ``seed``: the seed itself for chunk 0 (so a cell of one
    chunk draws what it drew before chunks existed), else 63 bits of sha256 over both. A chunk's draws
    depend on (seed, chunk) alone: not on which worker computes it, nor on the order of the chunks."""
    if chunk == 0:
        return seed
    digest = hashlib.sha256(f"bench-chunk:{seed}:{chunk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass
class EvalContext:
    info: object  # DatasetInfo
    device: torch.device
    batch_size: int
    seed: int  # the cell's seed: keyed per-input streams (certify) use it as it is
    notes: dict  # an evaluation may record facts about the cell here (shown in the report)
    index: torch.Tensor | None = None  # each input's index in the test split (None: its position in x)
    chunk: int = 0  # which chunk of the cell's inputs x is (bench.execute.chunks)

    def stream_seed(self, seed: int | None = None) -> int:
        """The seed of this chunk's draws from torch's, numpy's and Python's generators (attack random
        starts, AutoAttack): ``chunk_seed`` of the cell's seed, or of ``seed`` when an evaluation has its own."""
        return chunk_seed(self.seed if seed is None else seed, self.chunk)


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

    @classmethod
    def draws(cls, params: dict) -> bool:
        """Whether the rows depend on which inputs share a chunk: the evaluation draws from a generator
        shared by the inputs of a chunk (torch's, numpy's), so chunk boundaries move every later input's
        draws. Then the chunk size is part of the cell's id (bench.plan.cells.EvalCell). True unless a
        kind says otherwise (a plugin's kind is assumed to draw)."""
        return True

    @classmethod
    def merge_notes(cls, notes: list[dict], columns: dict) -> dict:
        """The cell's notes from its chunks' notes (in chunk order) and its assembled rows: a key's value
        where every chunk recorded the same, else the list of the chunks' values. Kinds whose notes
        summarise rows recompute them from ``columns``."""
        if len(notes) == 1:
            return notes[0]
        out = {}
        for key in dict.fromkeys(k for n in notes for k in n):
            values = [n.get(key) for n in notes]
            out[key] = values[0] if all(v == values[0] for v in values) else values
        return out

    def __init__(self, name: str, params: dict):
        self.name = name
        self.params = params

    def run(self, model, x: torch.Tensor, y: torch.Tensor, ctx: EvalContext) -> dict[str, np.ndarray]:
        raise NotImplementedError


def concat(blocks: list[dict]) -> dict:
    """One evaluation's rows from its blocks (dicts of equal-length columns with the same keys)."""
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}

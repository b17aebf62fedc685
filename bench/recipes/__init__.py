"""Recipe registry: training methods. One file per method, each a Recipe subclass whose docstring names
the paper, the loss and the defaults.

The engine (bench.train) owns the loop, the optimizer and the schedule; a recipe owns one update:
``loss(model, x, y, state)`` returns (scalar loss, logits for the running train accuracy), and ``step``
(backward + optimizer step) can be overridden by methods that change the update itself (AWP, ADT-AM).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.registry import Registry
from bench.yamlio import Field, parse

RECIPES: Registry = Registry("recipe")


@dataclass
class TrainContext:
    """What a recipe may know about the run: the dataset, the length of training, the device."""

    info: object  # bench.data.DatasetInfo
    epochs: int
    steps_per_epoch: int
    device: torch.device

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass
class StepState:
    epoch: int  # 0-based
    step: int  # global step, 0-based
    ctx: TrainContext

    @property
    def progress(self) -> float:
        """Fraction of training done, in [0, 1)."""
        return self.step / max(1, self.ctx.total_steps)


class Recipe:
    """Base class. ``params`` declares the method's arguments (bench.yamlio.Field) with the paper's
    defaults; an ``eps``/``alpha`` default of None means the dataset's Linf budget (alpha: eps/4)."""

    name = "base"
    paper = ""
    params: dict[str, Field] = {}

    def __init__(self, args: dict, ctx: TrainContext):
        self.args = dict(args)
        self.ctx = ctx

    @classmethod
    def resolve(cls, args: dict, info, field: str = "args", where: str | None = None) -> dict:
        """Validate the card's args and fill defaults, including dataset-dependent eps/alpha."""
        out = parse(args or {}, cls.params, field, where)
        if "eps" in out and out["eps"] is None:
            out["eps"] = float(info.eps["linf"])
        if "alpha" in out and out["alpha"] is None:
            out["alpha"] = out["eps"] / 4
        return out

    def setup(self, model: nn.Module) -> None:
        """Called once before training (a place for auxiliary networks or state)."""

    def extra_parameters(self) -> list[nn.Parameter]:
        """Parameters besides the model's that the engine's optimizer should also train."""
        return []

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, state: StepState):
        raise NotImplementedError

    def step(self, model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, state: StepState):
        loss, logits = self.loss(model, x, y, state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), logits.detach()


def eps_field() -> Field:
    """The eps argument of a recipe: None (the default) means the dataset's Linf budget."""
    return Field("float", None, lo=0.0, hi=1.0)


from bench.discover import import_all  # noqa: E402

import_all(__name__, __path__)  # every module registers itself

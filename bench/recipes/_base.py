"""The recipes registry and base classes: a leaf module that imports none of the registered modules
(bench.recipes re-exports it and discovers them)."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from bench.registry import Registry
from bench.suite.yamlio import Field, parse

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
    """Base class. ``params`` declares the method's arguments (bench.suite.yamlio.Field) with the paper's
    defaults; an ``eps``/``alpha`` default of None means the dataset's Linf budget (alpha: eps/4)."""

    name = "base"
    paper = ""
    params: dict[str, Field] = {}
    amp = True  # may train under float16 autocast on CUDA (see the module docstring)
    version = 1  # bumped when a change alters the models this recipe trains (train cell ids hash it)

    def __init__(self, args: dict, ctx: TrainContext):
        self.args = dict(args)
        self.ctx = ctx
        self.scaler: torch.amp.GradScaler | None = None  # set by the engine when mixed precision is on

    def autocast(self):
        """The context the forward passes of a step run in: float16 autocast when mixed precision is on."""
        if self.scaler is None:
            return nullcontext()
        return torch.autocast(device_type=self.ctx.device.type, dtype=torch.float16)

    def backward(self, loss: torch.Tensor, optimizer) -> None:
        """Zero the gradients, backpropagate and step (through the GradScaler under mixed precision)."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

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

    CONFIG = ("args", "ctx")  # attributes set from the config, not state

    def state_dict(self) -> dict:
        """The recipe's own training state, for a training that resumes (bench.execute.resume): every
        attribute ``setup`` or a step set (networks, optimizers, the GradScaler, tensors, numbers, and lists
        of them), as tensors and plain values that ``torch.load(weights_only=True)`` reads back. A recipe
        that keeps anything else overrides this and ``load_state_dict``."""
        return {name: _state(value, f"{type(self).__name__}.{name}") for name, value in vars(self).items()
                if name not in self.CONFIG}

    def load_state_dict(self, state: dict) -> None:
        for name, saved in state.items():
            setattr(self, name, _load(getattr(self, name, None), saved))

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, state: StepState):
        raise NotImplementedError

    def step(self, model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, state: StepState):
        with self.autocast():
            loss, logits = self.loss(model, x, y, state)
        self.backward(loss, optimizer)
        return loss.detach().float(), logits.detach().float()


PLAIN = (int, float, bool, str, type(None))


def _state(value, name: str):
    if hasattr(value, "state_dict") and hasattr(value, "load_state_dict"):  # module, optimizer, GradScaler
        return value.state_dict()
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [_state(v, name) for v in value]
    if isinstance(value, PLAIN):
        return value
    raise TypeError(f"{name}: a {type(value).__name__} is not saved when training resumes; give the recipe "
                    "its own state_dict and load_state_dict")


def _load(current, saved):
    if hasattr(current, "load_state_dict"):
        current.load_state_dict(saved)
        return current
    if isinstance(current, torch.Tensor):
        return saved.to(current.device)
    if isinstance(current, (list, tuple)):
        return type(current)(_load(c, s) for c, s in zip(current, saved))
    return saved


def eps_field() -> Field:
    """The eps argument of a recipe: None (the default) means the dataset's Linf budget."""
    return Field("float", None, lo=0.0, hi=1.0)

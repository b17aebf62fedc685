"""Context managers that set a model's mode or the numeric precision for a block and restore it after.

``eval_mode(model)`` runs the block with the model in eval mode (BatchNorm running statistics, no
dropout) and puts back the mode it had; ``eval_mode(model, False)`` leaves the mode as it is (a search
that the reference runs in train mode). ``float32(device_type)`` turns autocast off for the block, so
the forward and backward passes in it run in the parameters' dtype (float32) even inside a mixed
precision step.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def eval_mode(model: torch.nn.Module, on: bool = True):
    was_training = model.training
    if on:
        model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextmanager
def float32(device_type: str):
    with torch.autocast(device_type=device_type, enabled=False):
        yield


@contextmanager
def inner_search(model: torch.nn.Module, x: torch.Tensor, eval: bool = True):
    """The mode of an adversarial search inside a training step: eval mode (unless ``eval`` is False)
    and float32 on x's device, whatever autocast the step runs under."""
    with eval_mode(model, eval), float32(x.device.type):
        yield

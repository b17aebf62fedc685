"""Builders for `models: - module: toy_nets:...` in the tests."""
from torch import nn

from bench.data import DATASETS
from bench.nets import build


def small(width: int = 8, dataset: str = "digits", classes: int | None = None) -> nn.Module:
    """bench's small_cnn for a dataset (classes overridable, to test the class-count check)."""
    info = DATASETS.get(dataset)
    if classes is not None:
        from dataclasses import replace
        info = replace(info, num_classes=classes)
    return build("small_cnn", info, width=width)


def flat(inputs: int = 100) -> nn.Module:
    """A linear net for inputs of ``inputs`` pixels (to test the input-shape check)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 10))


def broken() -> nn.Module:
    raise ValueError("no such width")

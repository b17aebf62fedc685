"""Every registered recipe, through the registry: one training step on a tiny batch has a finite loss,
returns logits for the batch, and changes the weights. Parametrised over RECIPES at collection time,
so recipes added later are covered without editing this file."""
from __future__ import annotations

import sys

import pytest
import torch

from bench.data import DATASETS
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext



@pytest.fixture(scope="module")
def batch():
    train, _ = DATASETS.get("digits").load()
    return train.x[:8], train.y[:8]


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_takes_a_step(name, batch):
    torch.manual_seed(0)
    info = DATASETS.get("digits")
    # cnn7: convolutions, BatchNorm and linear layers only, which every method (IBP included) supports
    model = build("cnn7", info, width=4, linear=16)
    model.train()
    cls = RECIPES.get(name)
    ctx = TrainContext(info=info, epochs=1, steps_per_epoch=1, device=torch.device("cpu"))
    recipe = cls(cls.resolve({}, info), ctx)
    recipe.setup(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = batch
    loss, logits = recipe.step(model, optimizer, x, y, StepState(epoch=0, step=0, ctx=ctx))
    assert loss.dim() == 0 and torch.isfinite(loss), f"{name}: loss {loss}"
    assert logits.shape == (len(y), info.num_classes)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters())), f"{name} left the weights as they were"


def test_every_recipe_names_its_paper_and_has_a_card():
    from pathlib import Path

    models = Path(__file__).resolve().parents[1] / "models"
    for name, cls in RECIPES.items():
        assert cls.paper, f"{name} names no paper"
        assert (sys.modules[cls.__module__].__doc__ or "").strip(), f"{name}'s module has no docstring"
        assert (models / f"{name}.yaml").exists(), f"no model card models/{name}.yaml"

"""A test plugin package: what a researcher's own package registers into bench through `plugins:`.

- recipe ``toy-ls``: cross-entropy with label smoothing (Szegedy et al. 2016, "Rethinking the Inception
  Architecture", Sec. 7), arg ``smoothing`` (0.1).
- attack ``ToySign``: one signed-gradient step of size eps on the cross-entropy (FGSM, Goodfellow et al.
  2015), clipped to [0, 1].
- evaluation kind ``toy-margin``: a sample counts when its true-class logit exceeds every other logit by
  more than ``margin`` (default 1.0); its rows declare one metric, ``margin_rate`` (bench.results.metrics),
  which `bench report` and `bench check` find by importing this module when a results folder's run.json
  names it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from bench.attacks import ATTACKS, AttackInfo
from bench.evals import EVALS, Evaluation
from bench.recipes import RECIPES, Recipe
from bench.results.metrics import Metric, declare
from bench.suite.yamlio import Field


@RECIPES.register("toy-ls")
class LabelSmoothing(Recipe):
    """Cross-entropy with label smoothing (Szegedy et al. 2016)."""

    name = "toy-ls"
    paper = "Szegedy et al. 2016 (label smoothing)"
    params = {"smoothing": Field("float", 0.1, lo=0.0, hi=1.0)}

    def loss(self, model, x, y, state):
        logits = model(x)
        return F.cross_entropy(logits, y, label_smoothing=self.args["smoothing"]), logits


class ToySign:
    def __init__(self, model, eps: float = 0.1):
        self.model, self.eps = model, eps

    def __call__(self, x, y):
        x = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(self.model(x), y), x)
        return (x + self.eps * grad.sign()).clamp(0, 1).detach()


ATTACKS.add("ToySign", AttackInfo("ToySign", ToySign, "linf", {"eps": 0.1}, source="bench_toyplugin",
                                  budget="eps", doc="one FGSM step"))


def margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    true = logits.gather(1, y[:, None]).squeeze(1)
    return true - logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)


@EVALS.register("toy-margin")
class Margin(Evaluation):
    kind = "toy-margin"
    fields = {"margin": Field("float", 1.0, lo=0.0)}

    def run(self, model, x, y, ctx):
        with torch.no_grad():
            logits = torch.cat([model(x[i:i + ctx.batch_size].to(ctx.device)).cpu()
                                for i in range(0, len(y), ctx.batch_size)])
        return {"evaluation": np.full(len(y), self.name, dtype=object), "pred": logits.argmax(1).numpy(),
                "correct": (margins(logits, y) > self.params["margin"]).numpy()}


declare("toy-margin", Metric("margin_rate", "correct", headline=True, display="margin rate"))

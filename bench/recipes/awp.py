"""awp-at, awp-trades: adversarial weight perturbation (Wu, Xia & Wang 2020, 'Adversarial Weight
Perturbation Helps Robust Generalization', NeurIPS) on PGD adversarial training and on TRADES.

Each step: (1) the input adversary at the current weights w (PGD on CE for awp-at, with the model in
train mode as the at-awp code; TRADES' KL search in eval mode for awp-trades, as trades-awp's
perturb_input), in float32; (2) one gradient *ascent* direction g of the method's loss with respect to the weights
(awp-at: CE(f(x'), y); awp-trades: CE(f(x), y) + beta * KL), taken layer by layer for the weight
matrices and kernels (parameters named 'weight' with more than one dimension) and scaled to the layer's
norm: v = gamma * ||w_l|| * g_l / ||g_l||; (3) the training loss at w + v, backward, optimizer step;
(4) v is subtracted again; awp-at then runs the clean batch through the net in train mode, as
at-awp does after each update (BatchNorm's running statistics see clean inputs). BatchNorm statistics
are left as they were before step (2) (the authors use a proxy copy of the net for the same reason).
The first ``warmup`` epochs train without the weight perturbation. Defaults follow the authors' code: awp-at gamma 0.01, warmup 0 (at-awp, PreAct ResNet-18,
eps 8/255, alpha 2/255, 10 steps, SGD 0.1 wd 5e-4, 200 epochs, lr x0.1 at 100 and 150); awp-trades
gamma 5e-3, warmup 9, beta 6 (trades_AWP/train_trades_cifar.py: 1-based epochs, AWP once
``epoch >= awp_warmup`` = 10, so 9 epochs without; WRN-34-10, lr x0.1 at its 1-based epochs 100 and 150).
The paper's text uses gamma 5e-3.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe
from bench.recipes._losses import trades_adversary, trades_objective
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.recipes.trades import trades_params
from bench.suite.yamlio import Field


def _perturbed(model) -> list[torch.nn.Parameter]:
    return [p for n, p in model.named_parameters() if p.dim() > 1 and n.split(".")[-1] == "weight"]


class _AWP(Recipe):
    """The AWP update around a base method's adversary and objective (subclasses)."""

    def adversary(self, model, x, y):
        raise NotImplementedError

    def objective(self, model, x, adv, y):
        """(training loss, clean or adversarial logits) at the current weights."""
        raise NotImplementedError

    def weight_perturbation(self, model, x, adv, y) -> list[torch.Tensor]:
        params = _perturbed(model)
        buffers = [b.detach().clone() for b in model.buffers()]
        loss, _ = self.objective(model, x, adv, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for b, saved in zip(model.buffers(), buffers):
                b.copy_(saved)
        gamma = self.args["gamma"]
        return [gamma * p.detach().norm() / (g.norm() + 1e-20) * g for p, g in zip(params, grads)]

    def step(self, model, optimizer, x, y, state):
        adv = self.adversary(model, x, y)
        on = self.args["gamma"] > 0 and state.epoch >= self.args["warmup"]
        params = _perturbed(model)
        if on:
            v = self.weight_perturbation(model, x, adv, y)
            with torch.no_grad():
                for p, d in zip(params, v):
                    p.add_(d)
        loss, logits = self.objective(model, x, adv, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on:
            with torch.no_grad():
                for p, d in zip(params, v):
                    p.sub_(d)
        return loss.detach(), logits.detach()


@RECIPES.register("awp-at")
class AWPAT(_AWP):

    version = 3  # PGD in train mode (issue 15); the clean forward after each update, as AWP's code
    name = "awp-at"
    paper = "Wu et al. 2020, Adversarial Weight Perturbation Helps Robust Generalization (NeurIPS), on PGD-AT"
    params = {**pgd_params(), "gamma": Field("float", 0.01, lo=0.0), "warmup": Field("int", 0, lo=0)}

    def step(self, model, optimizer, x, y, state):
        """The AWP step, then one forward of the clean batch in train mode, as at-awp's train_*.py do after
        each update (for their training log): BatchNorm's running statistics see clean inputs too."""
        out = super().step(model, optimizer, x, y, state)
        with torch.no_grad():
            model(x)
        return out

    def adversary(self, model, x, y):
        a = self.args
        return pgd_linf(model, x, y, a["eps"], a["alpha"], a["steps"], eval_mode=False)  # train mode, as at-awp

    def objective(self, model, x, adv, y):
        logits = model(adv)
        return F.cross_entropy(logits, y), logits


@RECIPES.register("awp-trades")
class AWPTRADES(_AWP):
    version = 2  # the KL's clean target from a forward pass of its own, as train_trades_cifar.py
    name = "awp-trades"
    paper = "Wu et al. 2020, Adversarial Weight Perturbation Helps Robust Generalization (NeurIPS), on TRADES"
    params = {**trades_params(beta=6.0), "gamma": Field("float", 0.005, lo=0.0), "warmup": Field("int", 9, lo=0)}

    def adversary(self, model, x, y):
        a = self.args
        return trades_adversary(model, x, a["eps"], a["alpha"], a["steps"])

    def objective(self, model, x, adv, y):
        return trades_objective(model, x, adv, y, self.args["beta"])

"""Inference modes for evaluation: how a trained model turns an input into a label.

- plain: argmax of the logits.
- vote: the certified-PR paper's h-dagger ("Towards Certified Probabilistic Robustness with High
  Accuracy", Eq. 6): the majority class over n samples of a vicinity (bench.pr.vicinity) of the input.
  Keys: vicinity (linf), eps (the vicinity's default for the dataset), n (100), eot (16).
- smooth: Cohen et al.'s (ICML 2019) smoothed classifier, PREDICT with Gaussian noise sigma; abstains
  (label -1) when the binomial test of the top two counts fails at alpha. Keys: sigma (0.25), n (1000),
  alpha (0.001), eot (16).

A suite gives ``predictor: vote`` or ``predictor: {name: vote, eps: 0.1, n: 100}`` on ``clean`` and on
``attack``; evaluation names get ``[vote]``. A randomised predictor's gradients are random, so an attack
run through it as is can look weak without being so. ``attack`` with a predictor therefore reports two
blocks: ``attack:X[vote]``, the attack crafted on the plain model and evaluated through the predictor
(non-adaptive), and ``attack:X[vote,EOT]``, crafted adaptively on the expectation over the randomness
(Athalye et al., "Synthesizing Robust Adversarial Examples", ICML 2018; EOT): the attacked module returns
log of the mean softmax over ``eot`` fresh samples per forward, so gradients average over the noise.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.attacks import ATTACKS
from bench.attacks.run import norms
from bench.certify import smoothing
from bench.errors import UserError
from bench.pr.vicinity import VICINITIES, radii, sample
from bench.suite.yamlio import Field, parse

SPECS = {
    "plain": {},
    "vote": {"vicinity": Field("str", "linf"), "eps": Field("float", None, lo=0.0), "n": Field("int", 100, lo=1),
             "eot": Field("int", 16, lo=1)},
    "smooth": {"sigma": Field("float", 0.25, lo=0.0, open_lo=True), "n": Field("int", 1000, lo=1),
               "alpha": Field("float", 0.001, lo=0.0, hi=0.5, open_lo=True), "eot": Field("int", 16, lo=1)},
}


def parse_predictor(value, info, where) -> dict | None:
    """A suite's ``predictor:`` value -> resolved dict (None for plain)."""
    if value is None:
        return None
    if isinstance(value, str):
        name, opts = value, {}
    elif isinstance(value, dict) and "name" in value:
        name, opts = value["name"], {k: v for k, v in value.items() if k != "name"}
    else:
        raise UserError("expected a predictor name (plain, vote, smooth) or a mapping with `name:`", where,
                        "predictor")
    if name not in SPECS:
        from bench.registry import did_you_mean
        raise UserError(f"unknown predictor {name!r}{did_you_mean(str(name), SPECS)}", where, "predictor")
    p = parse(opts, SPECS[name], "predictor", where)
    if name == "plain":
        return None
    if name == "vote":
        VICINITIES.get(p["vicinity"], where, "predictor.vicinity")
        p["eps"] = radii(p["vicinity"], None if p["eps"] is None else [p["eps"]], info, where, "predictor.eps")[0]
    return {"name": name, **p}


class Expectation(nn.Module):
    """Differentiable expectation over the predictor's randomness: log mean softmax over m samples."""

    def __init__(self, model: nn.Module, draw, m: int):
        super().__init__()
        self.model, self.draw, self.m = model, draw, m

    def forward(self, x):
        probs = self.model(self.draw(x, self.m)).softmax(1).view(len(x), self.m, -1).mean(1)
        return probs.clamp_min(1e-12).log()


def _draw(spec: dict):
    if spec["name"] == "vote":
        return lambda x, m: sample(spec["vicinity"], x, m, spec["eps"])
    return lambda x, m: (lambda r: r + spec["sigma"] * torch.randn_like(r))(x.repeat_interleave(m, 0))


@torch.no_grad()
def predictions(model, spec: dict | None, x: torch.Tensor, num_classes: int, batch_size: int, device) -> np.ndarray:
    """Labels of x under the inference mode ``spec`` (None: plain); -1 where smoothing abstains."""
    model.eval()
    if spec is None:
        return np.concatenate([model(x[i:i + batch_size].to(device)).argmax(1).cpu().numpy()
                               for i in range(0, len(x), batch_size)] or [np.zeros(0, dtype=np.int64)])
    if spec["name"] == "smooth":
        return smoothing.smoothed_predictions(model, x, spec["sigma"], spec["n"], spec["alpha"], num_classes,
                                 max(batch_size, 1024), device)
    n, per = spec["n"], max(1, batch_size // spec["n"])
    out = []
    for i in range(0, len(x), per):
        xb = x[i:i + per].to(device)
        votes = model(sample(spec["vicinity"], xb, n, spec["eps"])).argmax(1).view(len(xb), n)
        out.append(torch.nn.functional.one_hot(votes, num_classes).sum(1).argmax(1).cpu().numpy())
    return np.concatenate(out)


def attack_through(model, spec: dict, attack: str, params: dict, x, y, num_classes: int, batch_size: int,
                   device) -> list[tuple[bool, dict]]:
    """The attack ``attack`` against the predictor: (adaptive, columns pred, adv_pred, linf, l2, l0) for the
    non-adaptive block (crafted on the plain model) and the adaptive EOT block (crafted on
    ``Expectation``). Only inputs the predictor gets right are attacked; the others keep their prediction."""
    pred = predictions(model, spec, x, num_classes, batch_size, device)
    todo = np.flatnonzero(pred == y.numpy())
    blocks = []
    for eot in (False, True):
        target = Expectation(model, _draw(spec), spec["eot"]).eval() if eot else model
        atk = ATTACKS.get(attack).make(target, **params)
        adv = x.clone()
        step = max(1, batch_size // (spec["eot"] if eot else 1))
        for i in range(0, len(todo), step):
            idx = torch.from_numpy(todo[i:i + step])
            adv[idx] = atk(x[idx].to(device), y[idx].to(device)).detach().cpu()
        adv_pred = np.where(pred == y.numpy(), predictions(model, spec, adv, num_classes, batch_size, device), pred)
        linf, l2, l0 = (v.double().numpy() for v in norms(x, adv))
        blocks.append((eot, {"pred": pred, "adv_pred": adv_pred, "linf": linf, "l2": l2, "l0": l0}))
    return blocks

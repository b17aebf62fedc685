"""ibp: certified training with interval bound propagation (Gowal et al. 2018, 'On the Effectiveness of
Interval Bound Propagation for Training Verifiably Robust Models'), with the initialisation, warm-up and
regularisers of Shi et al. 2021 ('Fast Certified Robust Training with Short Warmup', NeurIPS) - the IBP
baseline of the certified-PR paper, which uses Shi et al.'s code.

Loss: kappa * CE(f(x), y) + (1 - kappa) * CE(z_worst, y), where z_worst are the worst-case logits from
the interval bounds at the current eps (bench.certify.ibp, output layer folded with the specification).
Schedule (per step): ``warmup_epochs`` of clean training (eps = 0, plain CE), then eps ramps from 0 to
``eps`` over ``ramp_epochs`` with Shi et al.'s smoothed schedule (auto_LiRPA SmoothedScheduler: a
power-law ramp t^4 for the first quarter, then linear with matching slope), and kappa ramps linearly from
``kappa_start`` to ``kappa_end`` over the same window (Gowal et al.: 1 -> 0.5; Shi et al. train on the
verified loss alone, kappa_end 0).

Shi et al.'s additions: IBP initialisation (every Conv2d/Linear weight but the output layer's drawn from
N(0, sigma^2), sigma = sqrt(2 pi) / fan_in, and halved for layers fed by a residual addition), and during
the warm-up (until the ramp ends) the regularisers L_tightness (the mean radius of every ReLU's
pre-activation bounds should stay within 1/tol of the input radius) and L_relu (balance of active and
inactive ReLUs: ratios of their mean centres and of their variances kept above tol), weighted by
reg_lambda * (1 - eps_t / eps). BatchNorm bounds use the current batch's statistics in training.
Gradients are clipped to norm 10 (their code's --grad-norm). With ``reg_eps`` > 0 (Shi et al.'s
--min-eps-reg 1e-6, certified.py) a batch of the clean warm-up epochs (eps_t = 0) still computes its
bounds at reg_eps, so the regulariser acts from the first epoch; its loss is then CE + the regulariser.

Two cards: models/ibp.yaml (Gowal et al.'s kappa 1 -> 0.5 with Shi et al.'s initialisation and
regulariser) and models/ibp-shi.yaml (Shi et al.'s train.py: the verified loss alone once eps_t > 0,
kappa 0, reg_eps 1e-6, MNIST trained at eps 0.4 for a test eps of 0.3).

Defaults (Shi et al.'s code): reg_lambda 0.5, tol 0.5, grad_clip 10; per dataset in models/ibp.yaml:
MNIST CNN7, Adam 5e-4, batch 256, 70 epochs (x0.2 at 50, 60), ramp 20 epochs from the first;
CIFAR-10 CNN7, batch 128, 160 epochs (x0.2 at 120, 140), 1 clean epoch, ramp 80 epochs.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bench.certify.ibp import Trace, margin_bounds, output_layer, worst_case_logits
from bench.nets.resnets import BasicBlock
from bench.recipes._base import RECIPES, Recipe, eps_field
from bench.suite.yamlio import Field


def smoothed_eps(step: float, start: float, length: float, eps: float, mid: float = 0.25, beta: float = 4.0) -> float:
    """Shi et al.'s eps at a (fractional) step: 0 before ``start``; from there a power law
    alpha * t^beta up to ``mid`` of the ramp, then linear to ``eps`` at ``start + length``, the power
    law's alpha chosen so both pieces meet with the same slope."""
    if step <= start or eps == 0:
        return 0.0
    if length <= 0 or step >= start + length:
        return eps
    t, m = step - start, mid * length
    if m <= 0:
        return eps * t / length
    alpha = eps / ((length - m) * beta * m ** (beta - 1) + m ** beta)
    if t < m:
        return alpha * t ** beta
    at_mid = alpha * m ** beta
    return min(eps, at_mid + (eps - at_mid) * (t - m) / (length - m))


def ibp_init(model: nn.Module) -> None:
    """Shi et al.'s IBP initialisation: N(0, (sqrt(2 pi)/fan_in)^2) for every Conv2d/Linear weight but
    the output layer's, so that interval radii keep their size from layer to layer at initialisation; a
    layer reading the sum of a residual block (the first conv and the shortcut of every BasicBlock after
    the first) is halved, since the sum doubles the radius."""
    head = output_layer(model)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m is not head:
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0.0, math.sqrt(2 * math.pi) / fan_in)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    with torch.no_grad():
        for block in blocks[1:]:
            block.conv1.weight.div_(2)
            for layer in block.shortcut:
                if isinstance(layer, nn.Conv2d):
                    layer.weight.div_(2)


def warmup_regulariser(trace: Trace, tol: float) -> torch.Tensor:
    """Shi et al.'s L_tightness + L_relu, averaged over the ReLUs of one bounds pass."""
    r0 = trace.input_radius.mean()
    tight = relu = torch.zeros((), device=r0.device)
    for lo, hi in trace.pre_relu:
        centre, radius = (hi + lo) / 2, (hi - lo) / 2
        tight = tight + F.relu(tol - r0 / radius.mean().clamp(min=1e-12)) / tol
        active, inactive = (lo > 0).float(), (hi < 0).float()
        mean_ratio = (centre * active).mean() / -(centre * inactive).mean()
        spread = (centre - centre.mean()) ** 2
        var_ratio = (spread * active).sum() / (spread * inactive).sum()
        mean_ratio = torch.min(mean_ratio, 1 / mean_ratio.clamp(min=1e-12))
        var_ratio = torch.min(var_ratio, 1 / var_ratio.clamp(min=1e-12))
        term = (F.relu(tol - mean_ratio) + F.relu(tol - var_ratio)) / tol
        if torch.isfinite(term):  # a layer with no active or no inactive unit has no ratio
            relu = relu + term
    return (tight + relu) / max(1, len(trace.pre_relu))


@RECIPES.register("ibp")
class IBP(Recipe):
    name = "ibp"
    paper = ("Gowal et al. 2018, On the Effectiveness of Interval Bound Propagation for Training Verifiably "
             "Robust Models; Shi et al. 2021, Fast Certified Robust Training with Short Warmup (NeurIPS)")
    params = {
        "eps": eps_field(),
        "warmup_epochs": Field("float", 0.0, lo=0.0),
        "ramp_epochs": Field("float", 20.0, lo=0.0),
        "kappa_start": Field("float", 1.0, lo=0.0, hi=1.0),
        "kappa_end": Field("float", 0.5, lo=0.0, hi=1.0),
        "init": Field("str", "ibp", choices=("ibp", "default")),
        "reg_lambda": Field("float", 0.5, lo=0.0),
        "tol": Field("float", 0.5, lo=0.0, open_lo=True),
        "grad_clip": Field("float", 10.0, lo=0.0),
        "reg_eps": Field("float", 0.0, lo=0.0),
    }

    def setup(self, model):
        if self.args["init"] == "ibp":
            ibp_init(model)

    def schedule(self, step: int) -> tuple[float, float, float]:
        """(eps, kappa, fraction of the ramp done) at a global step."""
        a, spe = self.args, self.ctx.steps_per_epoch
        start, length = a["warmup_epochs"] * spe, a["ramp_epochs"] * spe
        eps = smoothed_eps(step + 1, start, length, a["eps"])
        done = 1.0 if length <= 0 else min(1.0, max(0.0, (step + 1 - start) / length))
        kappa = a["kappa_start"] + (a["kappa_end"] - a["kappa_start"]) * done
        return eps, kappa, done

    def loss(self, model, x, y, state):
        a = self.args
        eps, kappa, done = self.schedule(state.step)
        regularise = a["reg_lambda"] > 0 and done < 1.0
        if eps <= 0 and not (regularise and a["reg_eps"] > 0):
            logits = model(x)
            return F.cross_entropy(logits, y), logits
        trace = Trace()
        if eps <= 0:  # Shi et al.: a clean batch of the warm-up still gets the regulariser, bounds at reg_eps
            _, logits = margin_bounds(model, x, y, a["reg_eps"], trace)
            loss = F.cross_entropy(logits, y)
        else:
            margin_lo, logits = margin_bounds(model, x, y, eps, trace)
            loss = kappa * F.cross_entropy(logits, y) + (1 - kappa) * F.cross_entropy(worst_case_logits(margin_lo), y)
        if regularise:
            loss = loss + a["reg_lambda"] * (1 - eps / a["eps"]) * warmup_regulariser(trace, a["tol"])
        return loss, logits

    def step(self, model, optimizer, x, y, state):
        loss, logits = self.loss(model, x, y, state)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.args["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), self.args["grad_clip"])
        optimizer.step()
        return loss.detach(), logits.detach()

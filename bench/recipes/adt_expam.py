"""adt-expam: adversarial distributional training with an amortised explicit distribution (Dong et al.
2020, 'Adversarial Distributional Training for Robust Deep Learning', NeurIPS; ADT_EXP-AM).

A conditional generator g_phi maps [x, grad, grad_fgsm] (the input, the CE gradient at x and at its FGSM
point x + eps sign(grad), computed with the model in eval mode) to the per-pixel (mu, rho) of ADT_EXP's
tanh-Gaussian, sigma = softplus(rho). One draw delta = eps tanh(mu + sigma n) per input; model and
generator train together on one backward of CE(f(x + delta), y) - lambda H(delta): the model descends
the CE, the generator ascends it (the gradient is reversed at x + delta) and ascends the entropy.

Generator (authors' code, 'resnet_3blocks'): 3x3 conv to ngf + BN + ReLU; residual blocks ngf -> 2 ngf,
2 ngf -> 2 ngf, 2 ngf -> ngf (two 3x3 conv + BN, 1x1 conv + BN shortcut when widths differ, ReLU after
the sum); 3x3 conv to the output; weights N(0, 0.02), BN weights N(1, 0.02). ngf 256 (10.3M parameters
on CIFAR); Adam lr 2e-4, betas (0.5, 0.999); lambda 0.01. Reference file: dongyp13/Adversarial-Distributional-
Training adt_expam.py (models/generator.py).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bench.recipes._modes import eval_mode
from bench.recipes._base import RECIPES, Recipe, eps_field
from bench.recipes.adt_exp import entropy_per_example, sample_tanh_gaussian
from bench.suite.yamlio import Field


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )
        self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
                      if cin != cout else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class Generator(nn.Module):
    """The ResNet generator of ADT's code, at width ``ngf``."""

    def __init__(self, cin: int, cout: int, ngf: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, ngf, 3, padding=1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(),
            ResBlock(ngf, 2 * ngf), ResBlock(2 * ngf, 2 * ngf), ResBlock(2 * ngf, ngf),
            nn.Conv2d(ngf, cout, 3, padding=1, bias=False),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x)


def generator_inputs(model, x, y, eps: float) -> torch.Tensor:
    """[x, grad, grad_fgsm]: the CE gradients (batch mean) at x and at x + eps sign(grad), model in eval."""
    with eval_mode(model), torch.enable_grad():
        x0 = x.detach().requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x0), y), x0)
        x1 = (x + eps * grad.sign()).clamp(0, 1).requires_grad_(True)
        grad_fgsm, = torch.autograd.grad(F.cross_entropy(model(x1), y), x1)
    return torch.cat([x, grad, grad_fgsm], 1).detach()


def reverse_grad(t: torch.Tensor) -> torch.Tensor:
    """t, with its gradient negated on the way back (the generator ascends what the model descends)."""
    t.register_hook(torch.neg)
    return t


class AmortisedADT(Recipe):
    """Shared training step of the amortised variants: model and generator(s) in one backward."""

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.args["lr_g"], betas=(0.5, 0.999))

    def objective(self, model, x, y):
        """(loss for one backward, logits)."""
        raise NotImplementedError

    def step(self, model, optimizer, x, y, state):
        loss, logits = self.objective(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for opt in self.optimizers:
            opt.step()
        return loss.detach(), logits.detach()

    def loss(self, model, x, y, state):
        return self.objective(model, x, y)


@RECIPES.register("adt-expam")
class ADTExpAM(AmortisedADT):
    name = "adt-expam"
    paper = "Dong et al. 2020, Adversarial Distributional Training for Robust Deep Learning (NeurIPS), ADT_EXP-AM"
    params = {
        "eps": eps_field(),
        "lam": Field("float", 0.01, lo=0.0),
        "ngf": Field("int", 256, lo=1),
        "lr_g": Field("float", 2e-4, lo=0.0, open_lo=True),
    }

    def setup(self, model):
        c = self.ctx.info.shape[0]
        self.generator = Generator(3 * c, 2 * c, self.args["ngf"]).to(self.ctx.device).train()
        self.optimizers = [self.make_optimizer(self.generator.parameters())]

    def objective(self, model, x, y):
        a = self.args
        c = x.shape[1]
        phi = self.generator(generator_inputs(model, x, y, a["eps"]))
        delta, neg_logp = sample_tanh_gaussian(phi[:, :c], F.softplus(phi[:, c:]), a["eps"])
        logits = model(reverse_grad((x + delta).clamp(0, 1)))
        loss = F.cross_entropy(logits, y) - a["lam"] * entropy_per_example(neg_logp).mean()
        return loss, logits

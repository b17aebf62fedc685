"""adt-impam: adversarial distributional training with an amortised implicit distribution (Dong et al.
2020, 'Adversarial Distributional Training for Robust Deep Learning', NeurIPS; ADT_IMP-AM).

delta = eps * tanh(g_phi([x, grad, grad_fgsm], z)), z ~ U(-1, 1)^z_dim: the noise enters the generator
(ADT_EXP-AM's ResNet generator, bench.recipes.adt_expam) as one extra input channel, an MLP
z -> 256 -> H*W reshaped to the image size. Its entropy has no closed form; ADT maximises a variational
lower bound, H(delta) >= I(delta; z) >= H(z) + E[log q_psi(z | delta)], with an encoder q_psi(z | delta) =
N(m(delta), diag(v(delta))), v = softplus. With H(z) constant, the penalty is
lambda * relu(-E[mean_k log q_psi(z_k | delta)] - threshold), which the generator and the encoder minimise
(the encoder fits q, the generator keeps z recoverable from delta: diverse perturbations) while the
generator ascends CE(f(x + delta), y) and the model descends it, in one backward.

Defaults (authors' code, adt_impam.py): z_dim 64, lambda 1, threshold 0.9, ngf 256, generator and encoder Adam 2e-4
(generator betas (0.5, 0.999)). Encoder: conv 32, 64 (stride 2), 128, 256 (stride 2) with BN and
LeakyReLU, average pooling, linear to 2 z_dim; the reference's kernel sizes assume 32x32 inputs, ours
(3x3 and 4x4 stride 2, padded, then global average pooling) fit any input size.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bench.recipes._base import RECIPES, eps_field
from bench.recipes.adt_expam import AmortisedADT, Generator, generator_inputs, reverse_grad
from bench.suite.yamlio import Field


class NoiseGenerator(nn.Module):
    """g(inputs, z): the ResNet generator on [inputs, MLP(z) as one H x W channel]."""

    def __init__(self, cin: int, cout: int, ngf: int, z_dim: int, size: int):
        super().__init__()
        self.size = size
        self.z_map = nn.Sequential(nn.Linear(z_dim, 256), nn.ReLU(), nn.Linear(256, size * size), nn.ReLU())
        self.body = Generator(cin + 1, cout, ngf)

    def forward(self, inputs, z):
        zmap = self.z_map(z).view(len(z), 1, self.size, self.size)
        return self.body(torch.cat([inputs, zmap], 1))


class Encoder(nn.Module):
    """q(z | delta): mean and softplus variance of a diagonal Gaussian over z."""

    def __init__(self, cin: int, z_dim: int):
        super().__init__()
        layers, c = [], cin
        for cout, k, s in ((32, 3, 1), (64, 4, 2), (128, 3, 1), (256, 4, 2)):
            layers += [nn.Conv2d(c, cout, k, s, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU()]
            c = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(256, 2 * z_dim)
        self.z_dim = z_dim

    def forward(self, delta):
        h = self.out(self.features(delta))
        return h[:, :self.z_dim], F.softplus(h[:, self.z_dim:])


def neg_log_q(z: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """-mean_k log N(z_k; mean_k, var_k), averaged over the batch: minus the entropy bound up to H(z)."""
    log_q = -((z - mean) ** 2) / (2 * var + 1e-8) - torch.log(var + 1e-8) / 2 - 0.5 * math.log(2 * math.pi)
    return -log_q.mean()


@RECIPES.register("adt-impam")
class ADTImpAM(AmortisedADT):
    name = "adt-impam"
    paper = "Dong et al. 2020, Adversarial Distributional Training for Robust Deep Learning (NeurIPS), ADT_IMP-AM"
    params = {
        "eps": eps_field(),
        "lam": Field("float", 1.0, lo=0.0),
        "threshold": Field("float", 0.9),
        "z_dim": Field("int", 64, lo=1),
        "ngf": Field("int", 256, lo=1),
        "lr_g": Field("float", 2e-4, lo=0.0, open_lo=True),
    }

    def setup(self, model):
        c, size = self.ctx.info.shape[0], self.ctx.info.shape[1]
        dev = self.ctx.device
        self.generator = NoiseGenerator(3 * c, c, self.args["ngf"], self.args["z_dim"], size).to(dev).train()
        self.encoder = Encoder(c, self.args["z_dim"]).to(dev).train()
        self.optimizers = [self.make_optimizer(self.generator.parameters()),
                           torch.optim.Adam(self.encoder.parameters(), lr=self.args["lr_g"])]

    def objective(self, model, x, y):
        a = self.args
        z = torch.rand(len(x), a["z_dim"], device=x.device) * 2 - 1
        pert = torch.tanh(self.generator(generator_inputs(model, x, y, a["eps"]), z))
        bound = neg_log_q(z, *self.encoder(pert))
        logits = model(reverse_grad((x + a["eps"] * pert).clamp(0, 1)))
        loss = F.cross_entropy(logits, y) + a["lam"] * F.relu(bound - a["threshold"])
        return loss, logits

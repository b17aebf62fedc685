"""alp: Adversarial Logit Pairing (Kannan, Kurakin & Goodfellow 2018, 'Adversarial Logit Pairing').

Loss: the adversarial-training loss on a mixed minibatch (half clean, half PGD adversarial, as in the
paper: 0.5 * CE(f(x), y) + 0.5 * CE(f(x'), y)) plus lambda * L(f(x), f(x')), the logit pairing term
with L the squared L2 distance of the logits (mean over batch and logits, a mean-squared error).
x' comes from PGD on CE with a uniform random start (Madry et al.), in eval mode and float32. As the TF
reference (research/adversarial_logit_pairing/train.py), clean and adversarial images go through the
model in one concatenated forward pass (in train mode BatchNorm normalises over all 2B images). Defaults: lambda 0.5 (the paper's
logit-pairing weight for ImageNet; the reproduction in MTandHJ/PyTorch-Robust uses 0.5 on MNIST and
CIFAR-10 too), eps the dataset's Linf budget, alpha eps/4, 10 steps (paper MNIST: eps 0.3, 40 steps of
0.01, Adam 1e-4, batch 50; models/alp.yaml).
"""
import torch
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.suite.yamlio import Field


@RECIPES.register("alp")
class ALP(Recipe):

    version = 2  # issue 15: one concatenated forward, as the TF reference
    name = "alp"
    paper = "Kannan et al. 2018, Adversarial Logit Pairing (arXiv:1803.06373)"
    params = {**pgd_params(), "lam": Field("float", 0.5, lo=0.0)}

    def loss(self, model, x, y, state):
        a = self.args
        adv = pgd_linf(model, x, y, a["eps"], a["alpha"], a["steps"])
        logits, logits_adv = model(torch.cat([x, adv])).split(len(x))  # one forward: BatchNorm over 2B
        mixed = 0.5 * F.cross_entropy(logits, y) + 0.5 * F.cross_entropy(logits_adv, y)
        return mixed + a["lam"] * F.mse_loss(logits_adv, logits), logits

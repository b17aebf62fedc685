"""gaussian: Gaussian-noise augmentation, the training of randomized smoothing (Cohen, Rosenfeld & Kolter
2019, 'Certified Adversarial Robustness via Randomized Smoothing'; the RS baseline of the certified-PR
paper).

Loss: CE(f(x + delta), y) with delta ~ N(0, sigma^2 I) per pixel, drawn afresh every step. As in Cohen et
al. (locuslab/smoothing, code/train.py) the noise is added in [0,1] pixel space (before the net's
normalisation layer) and not clipped.
Default sigma 0.25 (Cohen et al. train sigma in {0.12, 0.25, 0.5, 1.0}; 0.25 is their main CIFAR-10
model). Cohen et al.'s CIFAR-10 settings (ResNet-110, SGD lr 0.1 momentum 0.9 wd 1e-4, batch 256,
90 epochs, lr x0.1 every 30) are in models/gaussian.yaml.
"""
import torch
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe
from bench.suite.yamlio import Field


@RECIPES.register("gaussian")
class Gaussian(Recipe):
    name = "gaussian"
    paper = "Cohen et al. 2019, Certified Adversarial Robustness via Randomized Smoothing (ICML)"
    params = {"sigma": Field("float", 0.25, lo=0.0)}

    def loss(self, model, x, y, state):
        logits = model(x + self.args["sigma"] * torch.randn_like(x))
        return F.cross_entropy(logits, y), logits

"""mart: Misclassification Aware adveRsarial Training (Wang et al. 2020, 'Improving Adversarial
Robustness Requires Revisiting Misclassified Examples').

Inner max: PGD on CE from x + 0.001 * N(0, 1), model in eval mode. Outer loss:
  BCE(p(x'), y) + beta * mean_i [ KL(p(x_i) || p(x'_i)) * (1 - p_y(x_i)) ],
with the boosted CE  BCE = CE(f(x'), y) - log(1 - max_{k != y} p_k(x')), the KL weighted by how badly
the clean input is classified (1 - its true-class probability). Defaults: beta 6 (the paper's value
and the mart_loss default of the authors' code), eps the dataset's Linf budget, alpha eps/4 (paper:
2/255 at 8/255), 10 steps. The authors' ResNet-18 script uses beta 5, SGD lr 0.01, wd 3.5e-3,
120 epochs, lr x0.1 at its 1-based epochs 75, 90, 100: set per dataset in models/mart.yaml. Reference
files: YisenWang/MART mart.py (mart_loss) and train_resnet.py; the search runs in float32.
"""
import torch

from bench.recipes._base import RECIPES, Recipe
from bench.recipes._losses import mart_bce, mart_kl
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.suite.yamlio import Field


def mart_objective(logits: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    return mart_bce(logits_adv, y).mean() + beta * mart_kl(logits_adv, logits, y).mean()


@RECIPES.register("mart")
class MART(Recipe):
    name = "mart"
    paper = "Wang et al. 2020, Improving Adversarial Robustness Requires Revisiting Misclassified Examples (ICLR)"
    params = {**pgd_params(), "beta": Field("float", 6.0, lo=0.0)}

    def loss(self, model, x, y, state):
        a = self.args
        adv = pgd_linf(model, x, y, a["eps"], a["alpha"], a["steps"], random_start="normal")
        logits = model(x)
        return mart_objective(logits, model(adv), y, a["beta"]), logits

"""pgdt: PGD adversarial training (Madry et al. 2018, 'Towards Deep Learning Models Resistant to
Adversarial Attacks').

Loss: cross-entropy on PGD adversarial examples, x' = argmax_{||x'-x||inf <= eps} CE(f(x'), y), found by
``steps`` steps of size ``alpha`` from a uniform random start. Paper defaults: CIFAR-10 eps 8/255,
alpha 2/255, 7 steps (10 in the TRADES/MART/MAIL code bases, and here); MNIST eps 0.3, alpha 0.01,
40 steps (set per dataset in models/pgdt.yaml). eps defaults to the dataset's Linf budget, alpha to eps/4.
The PGD (bench.recipes._pgd.pgd_linf) follows the TRADES/MART code bases' training loop: eval mode, float32.
Two options follow other papers' PGD-AT baselines:
- ``search: train``: the search in the model's train mode (BatchNorm batch statistics, running statistics
  updated), as AT-PR's pgd_loss (attack_algorithms.py; suites/papers/atpr.yaml); ``eval`` (default) as above.
- ``start: normal``: x + 0.001 N(0, I) instead of the uniform start, as MAIL's AT baseline (at_loss.py, method
  'at': eps 0.031, step 0.007, eval mode; suites/papers/mail-table2.yaml, mail-table3.yaml).
"""
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.suite.yamlio import Field


@RECIPES.register("pgdt")
class PGDT(Recipe):
    name = "pgdt"
    paper = "Madry et al. 2018, Towards Deep Learning Models Resistant to Adversarial Attacks (ICLR)"
    params = {
        **pgd_params(),
        "search": Field("str", "eval", choices=("eval", "train")),
        "start": Field("str", "uniform", choices=("uniform", "normal")),
    }

    def loss(self, model, x, y, state):
        a = self.args
        adv = pgd_linf(model, x, y, a["eps"], a["alpha"], a["steps"], random_start=a["start"],
                       eval_mode=a["search"] == "eval")
        logits = model(adv)
        return F.cross_entropy(logits, y), logits

"""trades: TRADES (Zhang et al. 2019, 'Theoretically Principled Trade-off between Robustness and
Accuracy').

Loss: CE(f(x), y) + beta * KL(f(x) || f(x')), the KL of the softmax outputs averaged over the batch,
where x' maximises that KL in the Linf ball: ``steps`` signed-gradient steps of size alpha from
x + 0.001 * N(0, 1), model in eval mode (bench.recipes._losses.trades_adversary). Paper defaults:
beta 6 (CIFAR-10; 1/lambda in the paper), eps 0.031, alpha 0.007, 10 steps; MNIST beta 1, eps 0.3,
alpha 0.01, 40 steps (per dataset in models/trades.yaml). eps defaults to the dataset's Linf budget and
alpha to eps/4. Reference files: yaodongyu/TRADES trades.py (trades_loss) and train_trades_*.py (1-based
epochs: the cards' lr milestones are the code's minus one); the search runs in float32.
"""
from bench.recipes._base import RECIPES, Recipe
from bench.recipes._losses import trades_adversary, trades_objective
from bench.recipes._pgd import pgd_params
from bench.suite.yamlio import Field


def trades_params(beta: float) -> dict:
    return {**pgd_params(), "beta": Field("float", beta, lo=0.0)}


@RECIPES.register("trades")
class TRADES(Recipe):
    name = "trades"
    paper = "Zhang et al. 2019, Theoretically Principled Trade-off between Robustness and Accuracy (ICML)"
    params = trades_params(beta=6.0)
    version = 2  # the KL's clean target from a forward pass of its own, as trades.py

    def loss(self, model, x, y, state):
        a = self.args
        adv = trades_adversary(model, x, a["eps"], a["alpha"], a["steps"])
        return trades_objective(model, x, adv, y, a["beta"])

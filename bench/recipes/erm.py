"""erm: empirical risk minimisation, plain cross-entropy on clean inputs (the baseline of every paper)."""
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe


@RECIPES.register("erm")
class ERM(Recipe):
    """Standard training: minimise cross-entropy on clean inputs. No arguments."""

    name = "erm"
    paper = "standard training (empirical risk minimisation)"
    params = {}

    def loss(self, model, x, y, state):
        logits = model(x)
        return F.cross_entropy(logits, y), logits

"""da: data augmentation with uniform samples of the vicinity, the DA baseline of the certified-PR paper
('Towards Certified Probabilistic Robustness with High Accuracy', baseline after Shorten & Khoshgoftaar
2019).

Loss: mean over the batch and over n samples t ~ U(B(x)) of CE(f(t), y), B(x) the vicinity of radius
eps (default: Linf, per-pixel U(max(x-eps,0), min(x+eps,1)), eps the dataset's Linf budget; any
bench.pr.vicinity name works, e.g. rotation). It is VMT with lambda = 0 (the paper, RQ4). Defaults: one
sample per input (plain augmentation); the certified-PR paper's training settings per dataset are in
models/da.yaml. The samples come from one batched call of bench.pr.vicinity.sample.
"""
from bench.recipes._base import RECIPES
from bench.recipes._losses import VicinityRecipe, vicinity_params


@RECIPES.register("da")
class DA(VicinityRecipe):
    name = "da"
    paper = "certified-PR paper's DA baseline: augmentation with uniform vicinity samples (Shorten & Khoshgoftaar 2019)"
    params = vicinity_params(samples=1)

    def loss(self, model, x, y, state):
        losses, logits = self.vicinity_losses(model, x, y)
        return losses.mean(), logits[:, 0]

"""prl: probabilistically robust learning (Robey, Chamon, Pappas & Hassani 2022, 'Probabilistically
Robust Learning: Balancing Average- and Worst-case Performance'), the CVaR_SGD algorithm of the
authors' advbench code.

The loss is the conditional value at risk at level beta of the per-sample loss over the vicinity,
in the Rockafellar-Uryasev form  CVaR_beta = min_t  t + E_t'[(CE(f(t'), y) - t)_+] / beta,
t' = x + U(-eps, eps) per pixel, clipped to [0,1] (the linf-clip vicinity: advbench's sample_deltas then
img_clamp; ``vicinity: linf`` samples the clipped box instead). Per input, t starts at t_init and takes
t_steps gradient steps of size t_lr on the batch-mean objective (gradient (1 - P[l > t] / beta) / B,
P estimated from M fresh samples each step, no gradient to the net). The loss that trains the net,
mean_b [ t_b + mean_j (l_bj - t_b)_+ / beta ], is the last t-step's objective, as CVaR_SGD (advbench
algorithms.py) backpropagates it: that step's M samples at t after the t_steps - 1 updates before it.
With beta <= 1 it is at least the mean sample loss. Defaults (advbench CVaR_SGD as used by the certified-PR paper): M = 20,
beta = 0.5, 5 t-steps, t_init 1, t_lr 1.0; eps the dataset's Linf budget. As CVaR_SGD (and AT-PR's CVaR_loss,
attack_algorithms.py), each t-step runs M forward passes of the batch, the j-th on sample j of every input,
in the model's train mode: BatchNorm normalises over the B inputs and updates its running statistics
t_steps x M times a training step (``batched: false``, the default). ``batched: true`` sends all B*M samples
through one forward pass (faster on a GPU; BatchNorm statistics over B*M, running statistics updated
t_steps times); on a net without BatchNorm the two give the same losses, up to float rounding.
"""
import torch
from torch.nn import functional as F

from bench.recipes._modes import float32
from bench.recipes._base import RECIPES
from bench.recipes._losses import VicinityRecipe, vicinity_params
from bench.suite.yamlio import Field


def cvar(losses: torch.Tensor, t: torch.Tensor, beta: float) -> torch.Tensor:
    """Batch mean of t_b + mean_j relu(l_bj - t_b) / beta for losses (B, M) and thresholds t (B,)."""
    return (t + F.relu(losses - t[:, None]).mean(dim=1) / beta).mean()


def t_step(losses: torch.Tensor, t: torch.Tensor, beta: float, lr: float) -> torch.Tensor:
    """One CVaR_SGD step on the thresholds: t - lr * (1 - P[l > t] / beta) / B, the gradient of the batch
    mean of ``cvar`` in t. Its fixed points are the beta-upper quantiles of each row's losses."""
    above = (losses > t[:, None]).float().mean(dim=1)
    return t - lr * (1 - above / beta) / len(t)


@RECIPES.register("prl")
class PRL(VicinityRecipe):

    version = 4  # M forwards of B per t-step, as CVaR_SGD (issue 25); version 3: the loss of the last t-step
    name = "prl"
    paper = "Robey et al. 2022, Probabilistically Robust Learning: Balancing Average- and Worst-case Performance (ICML)"
    params = {
        **vicinity_params(samples=20, vicinity="linf-clip"),
        "beta": Field("float", 0.5, lo=0.0, hi=1.0, open_lo=True),
        "t_steps": Field("int", 5, lo=0),
        "t_init": Field("float", 1.0),
        "t_lr": Field("float", 1.0, lo=0.0),
        "batched": Field("bool", False),
    }

    def thresholds(self, model, x, y, steps: int | None = None) -> torch.Tensor:
        """t per input after ``steps`` (default t_steps) CVaR_SGD steps from t_init, each on M fresh samples
        (float32)."""
        a = self.args
        t = torch.full((len(x),), a["t_init"], device=x.device, dtype=x.dtype)
        with torch.no_grad(), float32(x.device.type):
            for _ in range(a["t_steps"] if steps is None else steps):
                t = t_step(self.vicinity_losses(model, x, y)[0], t, a["beta"], a["t_lr"])
        return t

    def loss(self, model, x, y, state):
        """CVaR_SGD backpropagates the objective of its last t-step: that step's M samples at t after the
        t_steps - 1 updates before it (its own update of t is never used), so t_steps x M forward passes."""
        t = self.thresholds(model, x, y, max(self.args["t_steps"] - 1, 0))
        losses, logits = self.vicinity_losses(model, x, y)
        return cvar(losses, t, self.args["beta"]), logits[:, 0]

"""atpr: adversarial training for probabilistic robustness, AT-PR (Zhang et al., ICCV 2025,
'Adversarial Training for Probabilistic Robustness'; code: wellzline/AT-PR, wellzline/PRBenchmark).

Inner maximisation: among randomised PGD candidates, pick per input the adversarial example that lies
in the widest adversarial region. Candidate 0 is PGD with (eps, alpha, steps) from a uniform start; the
other candidates - 1 draw eps' ~ U(eps - eps_spread, eps), alpha' ~ U(alpha -+ alpha_spread) and
steps' ~ randint(steps - 2, steps + steps_extra). From each candidate, sign-gradient *descent* on CE
(step alpha, clipped to [0,1]) moves the samples that are still misclassified, while more than
refine_share of that candidate's batch is misclassified (at most refine_cap iterations); the
candidate whose adversarial example is farthest (Linf) from its refined point, i.e. deepest inside an
adversarial region, is chosen (ties: the first). Outer loss: CE on the chosen examples.
Defaults (reference code): 10 candidates, eps_spread 0.02, alpha_spread 0.003, steps_extra 7
(PRBenchmark's attack_algorithms.py; an earlier AT-PR version used 10), refine_share 0.1, refine_cap 40;
CIFAR-10 eps 8/255, alpha 2/255, 10 steps, SGD 0.1 momentum 0.9 wd 5e-4, batch 256, 100 epochs, lr x0.1
at 75 and 90 (models/atpr.yaml). Reference file: PRBenchmark's attack_algorithms.py (PR, pick_best_ae).
As there, the candidates' PGD and then their refinements run one candidate after the other over the whole
batch with the model in its current mode: train mode during training (BatchNorm uses each candidate's
batch statistics and updates its running statistics). The search runs in float32 under mixed precision.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench._modes import inner_search
from bench.recipes._base import RECIPES, Recipe
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.yamlio import Field


def _ce_grad(model, x: torch.Tensor, y: torch.Tensor):
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        grad, = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x)
    return logits.detach(), grad


def candidate_pgd(model, x, y, eps: torch.Tensor, alpha: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """PGD (uniform start) for C candidates with eps, alpha, steps of shape (C,), one candidate after the
    other over the whole batch, in the model's current mode (the reference's pgd_loss calls: in train mode
    BatchNorm sees each candidate's batch on its own). Returns (C*B, ...) candidate-major."""
    return torch.cat([pgd_linf(model, x, y, float(e), float(a), int(k), eval_mode=False)
                      for e, a, k in zip(eps, alpha, steps)])


def refine_distance(model, adv: torch.Tensor, y: torch.Tensor, c: int, lr: float, share: float, cap: int):
    """pick_best_ae's refinement, candidate by candidate over the whole batch: while more than ``share``
    of the batch is misclassified (at most ``cap`` steps), move the misclassified samples by sign-gradient
    descent on CE; returns the Linf distance (C, B) from each adversarial example to its refined point."""
    b = len(y)
    out = []
    for k in range(c):
        start = adv[k * b:(k + 1) * b]
        cur = start.clone()
        logits, grad = _ce_grad(model, cur, y)
        for _ in range(cap):
            wrong = logits.argmax(1) != y
            if wrong.float().mean() <= share:
                break
            cur[wrong] = (cur[wrong] - lr * grad[wrong].sign()).clamp(0, 1)
            logits, grad = _ce_grad(model, cur, y)
        out.append((start - cur).flatten(1).abs().amax(dim=1))
    return torch.stack(out)


def atpr_adversary(model, x, y, eps: float, alpha: float, steps: int, candidates: int = 10,
                   eps_spread: float = 0.02, alpha_spread: float = 0.003, steps_extra: int = 7,
                   refine_share: float = 0.1, refine_cap: int = 40) -> torch.Tensor:
    """AT-PR's inner maximisation: the candidate adversarial example in the widest adversarial region.
    Runs in the model's current mode (train mode during training, as the reference) and in float32."""
    k = candidates - 1
    eps_c = torch.cat([torch.tensor([eps]), torch.empty(k).uniform_(max(eps - eps_spread, 0.0), eps)])
    alpha_c = torch.cat([torch.tensor([alpha]),
                         torch.empty(k).uniform_(max(alpha - alpha_spread, 0.0), alpha + alpha_spread)])
    steps_c = torch.cat([torch.tensor([steps]), torch.randint(max(steps - 2, 0), steps + steps_extra + 1, (k,))])
    with inner_search(model, x, eval=False):
        adv = candidate_pgd(model, x, y, eps_c, alpha_c, steps_c)
        dist = refine_distance(model, adv, y, candidates, alpha, refine_share, refine_cap)
    best = dist.argmax(dim=0)  # first candidate among equals, as the reference's strict '>' update
    return adv.view(candidates, len(x), *x.shape[1:])[best, torch.arange(len(x), device=x.device)]


@RECIPES.register("atpr")
class ATPR(Recipe):

    version = 2  # issue 15: inner search in the model's training mode, as PRBenchmark
    name = "atpr"
    paper = "Zhang et al. 2025, Adversarial Training for Probabilistic Robustness (ICCV)"
    params = {
        **pgd_params(),
        "candidates": Field("int", 10, lo=1),
        "eps_spread": Field("float", 0.02, lo=0.0),
        "alpha_spread": Field("float", 0.003, lo=0.0),
        "steps_extra": Field("int", 7, lo=0),
        "refine_share": Field("float", 0.1, lo=0.0, hi=1.0),
        "refine_cap": Field("int", 40, lo=0),
    }

    def loss(self, model, x, y, state):
        a = self.args
        adv = atpr_adversary(model, x, y, a["eps"], a["alpha"], a["steps"], a["candidates"], a["eps_spread"],
                             a["alpha_spread"], a["steps_extra"], a["refine_share"], a["refine_cap"])
        logits = model(adv)
        return F.cross_entropy(logits, y), logits

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
The reference's refinement calls model.zero_grad() and loss.backward() at each step, and its training
loop zeroes the gradients before the search: the parameter gradient of the last candidate's last
refinement step (mean CE at its point before the final move, train mode) stays in .grad and is added to
the outer CE's. ``refine_grad: true`` (the default) keeps that term, as the code; ``false`` trains on the
outer CE alone, as the paper describes the method.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes._modes import inner_search
from bench.recipes._base import RECIPES, Recipe
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.suite.yamlio import Field


def _ce_grad(model, x: torch.Tensor, y: torch.Tensor, keep: bool = False):
    """Logits, the input gradient of the summed CE, and (``keep``) the mean CE with its graph to the weights,
    else None."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        grad, = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x, retain_graph=keep)
        loss = F.cross_entropy(logits, y) if keep else None
    return logits.detach(), grad, loss


def candidate_pgd(model, x, y, eps: torch.Tensor, alpha: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """PGD (uniform start) for C candidates with eps, alpha, steps of shape (C,), one candidate after the
    other over the whole batch, in the model's current mode (the reference's pgd_loss calls: in train mode
    BatchNorm sees each candidate's batch on its own). Returns (C*B, ...) candidate-major."""
    return torch.cat([pgd_linf(model, x, y, float(e), float(a), int(k), eval_mode=False)
                      for e, a, k in zip(eps, alpha, steps)])


def refine_distance(model, adv: torch.Tensor, y: torch.Tensor, c: int, lr: float, share: float, cap: int,
                    keep_grad: bool = False):
    """pick_best_ae's refinement, candidate by candidate over the whole batch: while more than ``share``
    of the batch is misclassified (at most ``cap`` steps), move the misclassified samples by sign-gradient
    descent on CE. Returns the Linf distance (C, B) from each adversarial example to its refined point, and
    with ``keep_grad`` the mean CE (with its graph to the weights) whose parameter gradient pick_best_ae
    leaves behind: that of the last candidate's last refinement step (None when that candidate took no
    step: its model.zero_grad() cleared the others)."""
    b = len(y)
    out, kept = [], None
    for k in range(c):
        start = adv[k * b:(k + 1) * b]
        cur = start.clone()
        keep = keep_grad and k == c - 1
        logits, grad, loss = _ce_grad(model, cur, y, keep)
        for _ in range(cap):
            wrong = logits.argmax(1) != y
            if wrong.float().mean() <= share:
                break
            kept = loss if keep else None
            cur[wrong] = (cur[wrong] - lr * grad[wrong].sign()).clamp(0, 1)
            logits, grad, loss = _ce_grad(model, cur, y, keep)
        out.append((start - cur).flatten(1).abs().amax(dim=1))
    return torch.stack(out), kept


def atpr_adversary(model, x, y, eps: float, alpha: float, steps: int, candidates: int = 10,
                   eps_spread: float = 0.02, alpha_spread: float = 0.003, steps_extra: int = 7,
                   refine_share: float = 0.1, refine_cap: int = 40, keep_grad: bool = False):
    """AT-PR's inner maximisation: the candidate adversarial example in the widest adversarial region.
    Runs in the model's current mode (train mode during training, as the reference) and in float32. With
    ``keep_grad`` returns (example, the refinement loss whose gradient the reference leaves; or None)."""
    k = candidates - 1
    eps_c = torch.cat([torch.tensor([eps]), torch.empty(k).uniform_(max(eps - eps_spread, 0.0), eps)])
    alpha_c = torch.cat([torch.tensor([alpha]),
                         torch.empty(k).uniform_(max(alpha - alpha_spread, 0.0), alpha + alpha_spread)])
    steps_c = torch.cat([torch.tensor([steps]), torch.randint(max(steps - 2, 0), steps + steps_extra + 1, (k,))])
    with inner_search(model, x, eval=False):
        adv = candidate_pgd(model, x, y, eps_c, alpha_c, steps_c)
        dist, kept = refine_distance(model, adv, y, candidates, alpha, refine_share, refine_cap, keep_grad)
    best = dist.argmax(dim=0)  # first candidate among equals, as the reference's strict '>' update
    chosen = adv.view(candidates, len(x), *x.shape[1:])[best, torch.arange(len(x), device=x.device)]
    return (chosen, kept) if keep_grad else chosen


@RECIPES.register("atpr")
class ATPR(Recipe):

    version = 3  # inner search in train mode (issue 15); the refinement's leftover gradient, as PRBenchmark
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
        "refine_grad": Field("bool", True),
    }

    def loss(self, model, x, y, state):
        a = self.args
        adv, kept = atpr_adversary(model, x, y, a["eps"], a["alpha"], a["steps"], a["candidates"], a["eps_spread"],
                                   a["alpha_spread"], a["steps_extra"], a["refine_share"], a["refine_cap"],
                                   keep_grad=a["refine_grad"])
        logits = model(adv)
        loss = F.cross_entropy(logits, y)
        return (loss if kept is None else loss + kept), logits

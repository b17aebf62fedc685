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
at 75 and 90 (models/atpr.yaml). All candidates run as one batch of candidates x B inputs with per-row
eps, alpha and step counts, and the refinement is batched the same way: no per-candidate Python loop, and
each PGD or refinement step computes only the rows that still move.
The search runs with the model in eval mode (as bench's other adversaries).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes import RECIPES, Recipe, eps_field
from bench.yamlio import Field


def _rows(values: torch.Tensor, b: int) -> torch.Tensor:
    """Per-candidate values (C,) -> per-row values (C*b, 1, 1, 1), candidate-major."""
    return values.repeat_interleave(b).view(-1, 1, 1, 1)


def _ce_grad(model, x: torch.Tensor, y: torch.Tensor):
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        grad, = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x)
    return logits.detach(), grad


def candidate_pgd(model, x, y, eps: torch.Tensor, alpha: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """PGD for C candidates at once: eps, alpha, steps of shape (C,). Returns (C*B, ...) candidate-major.
    Step s runs only on the rows of candidates with more than s steps."""
    b, c = len(x), len(eps)
    xr, yr = x.repeat(c, 1, 1, 1), y.repeat(c)
    e, a = _rows(eps, b), _rows(alpha, b)
    n = steps.repeat_interleave(b)
    adv = (xr + (2 * torch.rand_like(xr) - 1) * e).clamp(0, 1)
    for s in range(int(steps.max())):
        i = (n > s).nonzero().squeeze(1)
        _, grad = _ce_grad(model, adv[i], yr[i])
        adv[i] = torch.min(torch.max(adv[i] + a[i] * grad.sign(), xr[i] - e[i]), xr[i] + e[i]).clamp(0, 1)
    return adv.detach()


def refine_distance(model, adv: torch.Tensor, y: torch.Tensor, c: int, lr: float, share: float, cap: int):
    """Move each candidate's still-misclassified samples back by sign-gradient descent on CE while more
    than ``share`` of that candidate's batch is misclassified (at most ``cap`` steps); returns the Linf
    distance (C, B) from each adversarial example to its refined point. A sample that does not move keeps
    its prediction, so each step classifies only the samples it moves."""
    b = len(y)
    yr = y.repeat(c)
    cur = adv.clone()
    logits, grad = _ce_grad(model, cur, yr)
    wrong = logits.argmax(1) != yr  # (C*B,), for the current points
    for _ in range(cap):
        going = wrong.view(c, b).float().mean(dim=1) > share
        i = (wrong.view(c, b) & going[:, None]).flatten().nonzero().squeeze(1)
        if not len(i):
            break
        cur[i] = (cur[i] - lr * grad[i].sign()).clamp(0, 1)
        logits, grad[i] = _ce_grad(model, cur[i], yr[i])
        wrong[i] = logits.argmax(1) != yr[i]
    return (adv - cur).flatten(1).abs().amax(dim=1).view(c, b)


def atpr_adversary(model, x, y, eps: float, alpha: float, steps: int, candidates: int = 10,
                   eps_spread: float = 0.02, alpha_spread: float = 0.003, steps_extra: int = 7,
                   refine_share: float = 0.1, refine_cap: int = 40) -> torch.Tensor:
    """AT-PR's inner maximisation: the candidate adversarial example in the widest adversarial region."""
    was_training = model.training
    model.eval()
    dev, k = x.device, candidates - 1
    eps_c = torch.cat([torch.tensor([eps]), torch.empty(k).uniform_(max(eps - eps_spread, 0.0), eps)])
    alpha_c = torch.cat([torch.tensor([alpha]),
                         torch.empty(k).uniform_(max(alpha - alpha_spread, 0.0), alpha + alpha_spread)])
    steps_c = torch.cat([torch.tensor([steps]), torch.randint(max(steps - 2, 0), steps + steps_extra + 1, (k,))])
    adv = candidate_pgd(model, x, y, eps_c.to(dev, x.dtype), alpha_c.to(dev, x.dtype), steps_c.to(dev))
    dist = refine_distance(model, adv, y, candidates, alpha, refine_share, refine_cap)
    best = dist.argmax(dim=0)  # first candidate among equals, as the reference's strict '>' update
    model.train(was_training)
    return adv.view(candidates, len(x), *x.shape[1:])[best, torch.arange(len(x), device=dev)]


@RECIPES.register("atpr")
class ATPR(Recipe):
    name = "atpr"
    paper = "Zhang et al. 2025, Adversarial Training for Probabilistic Robustness (ICCV)"
    params = {
        "eps": eps_field(),
        "alpha": Field("float", None, lo=0.0, hi=1.0),
        "steps": Field("int", 10, lo=1),
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

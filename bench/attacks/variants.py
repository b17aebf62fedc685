"""Named attack variants that the papers' tables use, registered beside torchattacks' classes.

- ``PGD-20`` and ``PGD-100``: torchattacks' PGD (Madry et al. 2018) with 20 and 100 steps, as in the
  ADT table (Dong et al. 2020: PGD-20, PGD-100) and the MAIL table (Wang et al. 2021: PGD-100); random
  start, step eps/4 from the threat-model table (2/255 at 8/255).
- ``CWinf``: Linf PGD on the Carlini-Wagner margin loss, the "C&W" / "CW" column of the ADT, MAIL and
  AT-PR tables. Defaults from the GAIRAT/MAIL evaluation code: 30 steps, step eps/4, a uniform random
  start in the eps-ball, confidence (kappa) 50 in the margin max(z_y - max_{j != y} z_j + kappa, 0).
"""
from __future__ import annotations

import torch
import torchattacks

from bench.attacks._base import ATTACKS, AttackInfo, signature_defaults


class CWinf(torchattacks.attack.Attack):
    """Linf PGD that minimises the CW margin max(z_y - max_{j != y} z_j + kappa, 0) (Carlini & Wagner
    2017's loss under Madry et al. 2018's projected sign-gradient steps)."""

    def __init__(self, model, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 30, kappa: float = 50.0,
                 random_start: bool = True):
        super().__init__("CWinf", model)
        self.eps, self.alpha, self.steps, self.kappa, self.random_start = eps, alpha, steps, kappa, random_start
        self.supported_mode = ["default"]

    def margin(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        true = logits.gather(1, labels[:, None]).squeeze(1)
        others = logits.masked_fill(torch.nn.functional.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
        return torch.clamp(true - others.amax(1) + self.kappa, min=0)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv = images.clone()
        if self.random_start:
            adv = torch.clamp(adv + torch.empty_like(adv).uniform_(-self.eps, self.eps), 0, 1)
        for _ in range(self.steps):
            adv.requires_grad_(True)
            loss = -self.margin(self.get_logits(adv), labels).sum()
            (grad,) = torch.autograd.grad(loss, adv)
            step = adv.detach() + self.alpha * grad.sign()
            adv = torch.clamp(images + torch.clamp(step - images, -self.eps, self.eps), 0, 1).detach()
        return adv


def _pgd_steps(steps: int) -> AttackInfo:
    defaults = {**signature_defaults(torchattacks.PGD), "steps": steps}
    return AttackInfo(f"PGD-{steps}", lambda model, **params: torchattacks.PGD(model, **params), "linf", defaults,
                      source="torchattacks 3.5.1 PGD", budget="eps",
                      doc=f"PGD (Madry et al. 2018) with {steps} steps, as in the ADT/MAIL tables")


ATTACKS.add("PGD-20", _pgd_steps(20))
ATTACKS.add("PGD-100", _pgd_steps(100))
ATTACKS.add("CWinf", AttackInfo("CWinf", CWinf, "linf", signature_defaults(CWinf), source="bench (GAIRAT/MAIL eval)",
                                budget="eps", doc=CWinf.__doc__.splitlines()[0]))

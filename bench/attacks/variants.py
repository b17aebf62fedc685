"""Named attack variants that the papers' tables use, registered beside torchattacks' classes.

- ``PGD-20`` and ``PGD-100``: torchattacks' PGD (Madry et al. 2018) with 20 and 100 steps; random start,
  step eps/4 from the threat-model table (2/255 at 8/255).
- ``CWinf``: Linf PGD on the Carlini-Wagner margin loss. Defaults from the FAT/GAIRAT evaluation code
  (attack_generator.py, loss "cw"): 30 steps, step eps/4, a uniform random start in the eps-ball,
  confidence (kappa) 50 in the margin max(z_y - max_{j != y} z_j + kappa, 0).

Each paper's own evaluation settings (REFERENCE-FACTS.md, read from the authors' evaluation code), as
named evaluations a suite uses and the paper's layout prefers (bench/report/layouts/shapes.py). Steps
are fixed; the step size is the paper's at eps = 8/255, rescaled with the budget like every step size of
the threat-model table (bench.attacks.threat), so it is exactly the paper's on CIFAR-10:

- ``MAIL-PGD-20``, ``MAIL-PGD-100``, ``MAIL-CWinf``: the MAIL, TRADES and MART evaluation code
  (eval_adv_test_whitebox): PGD-20 / PGD-100 with step 0.003, CW-inf 20 steps x 0.003.
- ``ADT-PGD-20``, ``ADT-PGD-100``, ``ADT-MIM``, ``ADT-CWinf``: the ADT evaluation (Dong et al. 2020):
  step 2/255; 20 steps for PGD-20, MIM (torchattacks' MIFGSM, decay 1) and C&W, 100 for PGD-100.
- FAT/GAIRAT's CW-inf (30 steps x eps/4) is ``CWinf`` itself.
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


def _preset(name: str, cls, source: str, doc: str, **fixed) -> AttackInfo:
    """A Linf attack class with some defaults fixed (steps, alpha at eps 8/255)."""
    return AttackInfo(name, lambda model, **params: cls(model, **params), "linf", {**signature_defaults(cls), **fixed},
                      source=source, budget="eps", doc=doc)


for _steps in (20, 100):
    ATTACKS.add(f"PGD-{_steps}", _preset(f"PGD-{_steps}", torchattacks.PGD, "torchattacks 3.5.1 PGD",
                                         f"PGD (Madry et al. 2018) with {_steps} steps", steps=_steps))
    ATTACKS.add(f"MAIL-PGD-{_steps}", _preset(
        f"MAIL-PGD-{_steps}", torchattacks.PGD, "torchattacks 3.5.1 PGD (MAIL/TRADES/MART eval code)",
        f"PGD-{_steps} with step 0.003 at eps 8/255, as the MAIL, TRADES and MART tables", steps=_steps, alpha=0.003))
    ATTACKS.add(f"ADT-PGD-{_steps}", _preset(
        f"ADT-PGD-{_steps}", torchattacks.PGD, "torchattacks 3.5.1 PGD (ADT eval)",
        f"PGD-{_steps} with step 2/255 at eps 8/255, as the ADT table", steps=_steps, alpha=2 / 255))
ATTACKS.add("CWinf", AttackInfo("CWinf", CWinf, "linf", signature_defaults(CWinf), source="bench (FAT/GAIRAT eval)",
                                budget="eps", doc=CWinf.__doc__.splitlines()[0]))
ATTACKS.add("MAIL-CWinf", _preset("MAIL-CWinf", CWinf, "bench (MAIL/TRADES/MART eval code)",
                                  "CW-inf, 20 steps of 0.003 at eps 8/255, as the MAIL table", steps=20, alpha=0.003))
ATTACKS.add("ADT-CWinf", _preset("ADT-CWinf", CWinf, "bench (ADT eval)",
                                 "CW-inf, 20 steps of 2/255 at eps 8/255, as the ADT table", steps=20, alpha=2 / 255))
ATTACKS.add("ADT-MIM", _preset("ADT-MIM", torchattacks.MIFGSM, "torchattacks 3.5.1 MIFGSM (ADT eval)",
                               "MIM (Dong et al. 2018), 20 steps of 2/255 at eps 8/255, as the ADT table", steps=20,
                               alpha=2 / 255))

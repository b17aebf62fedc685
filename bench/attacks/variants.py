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
  (eval_adv_test_whitebox in MAIL's train.py): PGD-20 / PGD-100 with step 0.003, CW-inf (kappa 50) 20 steps
  x 0.003. MAIL's code attacks at eps 0.031, not 8/255: suites/papers/mail-table*.yaml set it.
- ``ADT-PGD-20``, ``ADT-PGD-100``, ``ADT-MIM``, ``ADT-CWinf``: ADT's evaluate_attacks.py (Dong et al. 2020):
  step 2/255; 20 steps for PGD-20, MIM and C&W (kappa 50), 100 for PGD-100. ``ADT-MIM`` is ``MIMStart``:
  _mim_whitebox's uniform random start (``--random`` defaults to True), then MI-FGSM with decay 1.
- ``ATPR-CWinf``: AT-PR's evaluate.py (cw_attack, cw_loss): CW-inf with margin kappa 2, 20 steps of 2/255
  (main.py's eval phase sets attack_steps 20), a uniform random start clipped to [0, 1].
- FAT/GAIRAT's CW-inf (30 steps x eps/4) is ``CWinf`` itself.

The random start: ADT's and MAIL's whitebox functions take their first gradient at x + U(-eps, eps)
unclipped (``ADT-MIM`` does the same, ``clip_start: false``); torchattacks' PGD and ``CWinf`` clip the
start to [0, 1] (as AT-PR's evaluate.py and GAIRAT's attack_generator.py do), so ``MAIL-PGD-*``,
``MAIL-CWinf``, ``ADT-PGD-*`` and ``ADT-CWinf`` differ from their references there (README, "Attacks").
"""
from __future__ import annotations

import torch
import torchattacks

from bench.attacks._base import ATTACKS, AttackInfo, signature_defaults


class _SignSteps(torchattacks.attack.Attack):
    """Linf projected sign steps from an optional uniform random start: the loop CWinf and MIMStart share.
    Subclasses give the objective to ascend and the step direction (``stepper``: a fresh one per call)."""

    clip_start = True

    def objective(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def stepper(self):
        return torch.sign

    def start(self, images: torch.Tensor) -> torch.Tensor:
        if not self.random_start:
            return images.clone()
        adv = images + torch.empty_like(images).uniform_(-self.eps, self.eps)
        return torch.clamp(adv, 0, 1) if self.clip_start else adv

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.clone().detach().to(self.device)
        labels = labels.clone().detach().to(self.device)
        adv, direction = self.start(images), self.stepper()
        for _ in range(self.steps):
            adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(self.objective(self.get_logits(adv), labels), adv)
            step = adv.detach() + self.alpha * direction(grad)
            adv = torch.clamp(images + torch.clamp(step - images, -self.eps, self.eps), 0, 1).detach()
        return adv


class CWinf(_SignSteps):
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

    def objective(self, logits, labels):
        return -self.margin(logits, labels).sum()


class MIMStart(_SignSteps):
    """MI-FGSM (Dong et al. 2018) from a uniform random start in the Linf ball, as ADT's evaluate_attacks.py
    (_mim_whitebox): x + U(-eps, eps), not clipped to [0, 1] before the first gradient (``clip_start``:
    false, the code); each step g = grad CE / mean |grad CE| per input, momentum m = decay * m + g,
    x' = clip_[0,1](x + clip_[-eps,eps](x' + alpha sign(m) - x)). torchattacks' MIFGSM is this from x itself."""

    def __init__(self, model, eps: float = 8 / 255, alpha: float = 2 / 255, steps: int = 20, decay: float = 1.0,
                 random_start: bool = True, clip_start: bool = False):
        super().__init__("MIMStart", model)
        self.eps, self.alpha, self.steps, self.decay = eps, alpha, steps, decay
        self.random_start, self.clip_start = random_start, clip_start
        self.supported_mode = ["default"]

    def objective(self, logits, labels):
        return torch.nn.functional.cross_entropy(logits, labels)

    def stepper(self):
        momentum = 0.0

        def direction(grad: torch.Tensor) -> torch.Tensor:
            nonlocal momentum
            momentum = self.decay * momentum + grad / grad.abs().mean(dim=tuple(range(1, grad.dim())), keepdim=True)
            return momentum.sign()

        return direction


def _preset(name: str, cls, source: str, doc: str, version: int = 1, **fixed) -> AttackInfo:
    """A Linf attack class with some defaults fixed (steps, alpha at eps 8/255)."""
    return AttackInfo(name, lambda model, **params: cls(model, **params), "linf", {**signature_defaults(cls), **fixed},
                      source=source, budget="eps", doc=doc, version=version, random="random_start")


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
                                budget="eps", doc=CWinf.__doc__.splitlines()[0], random="random_start"))
ATTACKS.add("MAIL-CWinf", _preset("MAIL-CWinf", CWinf, "bench (MAIL/TRADES/MART eval code)",
                                  "CW-inf, 20 steps of 0.003 at eps 8/255, as the MAIL table", steps=20, alpha=0.003))
ATTACKS.add("ADT-CWinf", _preset("ADT-CWinf", CWinf, "bench (ADT eval)",
                                 "CW-inf, 20 steps of 2/255 at eps 8/255, as the ADT table", steps=20, alpha=2 / 255))
ATTACKS.add("ATPR-CWinf", _preset("ATPR-CWinf", CWinf, "bench (AT-PR evaluate.py)",
                                  "CW-inf, kappa 2, 20 steps of 2/255 at eps 8/255, as AT-PR's evaluation", steps=20,
                                  alpha=2 / 255, kappa=2.0))
ATTACKS.add("ADT-MIM", _preset("ADT-MIM", MIMStart, "bench (ADT evaluate_attacks.py, _mim_whitebox)",
                               "MIM (Dong et al. 2018) from a uniform random start, 20 steps of 2/255 at eps 8/255, "
                               "decay 1, as the ADT table", version=2))  # version 2: the random start (issue 25)

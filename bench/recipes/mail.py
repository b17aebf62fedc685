"""mail-at, mail-trades, mail-mart: margin-aware instance reweighting learning (Wang et al. 2021,
'Probabilistic Margins for Instance Reweighting in Adversarial Training', NeurIPS).

Each adversarial example gets the weight w_i = sigmoid(-slope * (PM_i - bias)) of its probabilistic
margin on the adversarial input, PM = p_y(x') - max_{j != y} p_j(x') (Eqs. 5, 8), and omega_i = 3 w_i as
in the authors' code (mail_loss.py, weight_assign; the default); with ``normalise: true`` the paper's
omega_i = M w_i / sum_j w_j over the batch of M (Sec. 3.2). During the burn-in, the first ``burn_in``
epochs (0-based epoch indices 0 .. burn_in - 1, whatever the length of the run), omega = 1, which makes
each method its base: AT, TRADES, MART.

- mail-at (Eq. 9): mean_i omega_i CE(f(x'_i), y_i); x' by PGD on CE. slope 10, bias -0.5.
- mail-trades (Eq. 10): CE(f(x), y) + beta mean_i omega_i KL(p(x_i) || p(x'_i)); x' by PGD on the KL
  (TRADES). slope 2, bias 0, beta 5.
- mail-mart (Appendix C): mean_i omega_i BCE(f(x'_i), y_i) + beta mean_i KL(p(x_i) || p(x'_i)) (1 - p_y(x_i)),
  the MART loss with reweighted adversarial term; x' by PGD on CE. slope 2, bias 0, beta 6.

PGD: 10 steps from x + 0.001 N(0, I), eval mode, as in the authors' code (its eps 0.031 and step 0.007 are
in the CIFAR/SVHN cards); float32. Reference files: mail_loss.py and train.py (QizhouWang/MAIL at HEAD).
train.py counts 0-based epochs (``for epoch in range(args.epochs)``, 120 by default; lr x0.1 at
``epoch >= 75``, x0.01 at 90, x0.001 at 100) and uses the base loss (at_loss.py) while ``epoch <= 75``: it
reweights from epoch index 76 however many epochs the run has, so ``burn_in`` is a number of epochs, 76
(the default). The paper's text says "the initial 74 epochs is burn-in period" (Sec. 4): ``burn_in: 74``.
The first release of train.py (commit 2ba5bbc) instead loaded the base method's weights after 70 epochs,
reweighted from epoch index 75 and stopped after epoch index 100 (101 epochs, the length the paper-table
suites train); the current train.py trains all 120 epochs (the cards' length).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from bench.recipes._base import RECIPES, Recipe
from bench.recipes._losses import kl_rows, mart_bce, mart_kl, probabilistic_margin, trades_adversary
from bench.recipes._pgd import pgd_linf, pgd_params
from bench.suite.yamlio import Field


def mail_weights(pm: torch.Tensor, slope: float, bias: float, normalise: bool = False) -> torch.Tensor:
    """omega = 3 sigmoid(-slope (PM - bias)) (the code), or scaled to mean 1 over the batch (normalise)."""
    w = torch.sigmoid(-slope * (pm - bias)).detach()
    return w * len(w) / w.sum() if normalise else 3 * w


class MAIL(Recipe):
    """Common part: arguments, the PGD call, burn-in and weights; ``objective`` is the base method."""

    version = 3  # issue 25: the burn-in is a number of epochs (train.py's `epoch <= 75`), not a share of training

    paper = ("Wang et al. 2021, Probabilistic Margins for Instance Reweighting in Adversarial Training "
             "(NeurIPS)")
    slope, bias, beta = 10.0, -0.5, 0.0

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.params = {
            **pgd_params(),
            "slope": Field("float", cls.slope, lo=0.0),
            "bias": Field("float", cls.bias),
            "burn_in": Field("int", 76, lo=0),  # epochs of the base method; reweighting from this epoch index
            "normalise": Field("bool", False),
            **({"beta": Field("float", cls.beta, lo=0.0)} if cls.beta else {}),
        }

    def weights(self, logits_adv, y, state) -> torch.Tensor:
        a = self.args
        if state.epoch < a["burn_in"]:
            return torch.ones(len(y), device=y.device)
        return mail_weights(probabilistic_margin(logits_adv.detach(), y), a["slope"], a["bias"], a["normalise"])

    def attack(self, model, x, y):
        a = self.args
        return pgd_linf(model, x, y, a["eps"], a["alpha"], a["steps"], random_start="normal")


@RECIPES.register("mail-at")
class MailAT(MAIL):
    name = "mail-at"

    def loss(self, model, x, y, state):
        logits_adv = model(self.attack(model, x, y))
        w = self.weights(logits_adv, y, state)
        return (w * F.cross_entropy(logits_adv, y, reduction="none")).mean(), logits_adv


@RECIPES.register("mail-trades")
class MailTRADES(MAIL):
    name = "mail-trades"
    slope, bias, beta = 2.0, 0.0, 5.0

    def attack(self, model, x, y):
        a = self.args
        return trades_adversary(model, x, a["eps"], a["alpha"], a["steps"])

    def loss(self, model, x, y, state):
        adv = self.attack(model, x, y)
        logits = model(x)
        logits_adv = model(adv)
        w = self.weights(logits_adv, y, state)
        loss = F.cross_entropy(logits, y) + self.args["beta"] * (w * kl_rows(logits_adv, logits)).mean()
        return loss, logits


@RECIPES.register("mail-mart")
class MailMART(MAIL):
    name = "mail-mart"
    slope, bias, beta = 2.0, 0.0, 6.0

    def loss(self, model, x, y, state):
        adv = self.attack(model, x, y)
        logits = model(x)
        logits_adv = model(adv)
        w = self.weights(logits_adv, y, state)
        loss = (w * mart_bce(logits_adv, y)).mean() + self.args["beta"] * mart_kl(logits_adv, logits, y).mean()
        return loss, logits_adv

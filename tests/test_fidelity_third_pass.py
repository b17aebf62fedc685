"""Issue 25 (fidelity, third pass): each test pins a number read from the reference code, through the
registries and the suite files, on tiny data. Every one of them failed on the code before the fix it pins."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from test_attacks_equivalence import trained  # noqa: F401  (the fixture: small_cnn trained 2 epochs on digits)
from torch.nn import functional as F

from bench.attacks import ATTACKS
from bench.attacks._threat import threat_params
from bench.cards import REPO_MODELS, load_card
from bench.config import load_suite
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext
from bench.grid import plan
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes.prl import cvar, t_step
from bench.vicinity import sample

INFO = DATASETS.get("digits")
CIFAR = DATASETS.get("cifar10")
PAPERS = Path(__file__).resolve().parents[1] / "suites" / "papers"
MAIL = ("mail-at", "mail-trades", "mail-mart")


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *INFO.shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def small(seed=0):
    torch.manual_seed(seed)
    return build("small_cnn", INFO, width=8)  # no BatchNorm


def bn_net(seed=0):
    torch.manual_seed(seed)
    return build("cnn7", INFO, width=4, linear=16).train()  # BatchNorm after every layer


def make(name, args=None, epochs=1, steps_per_epoch=1, info=INFO):
    cls = RECIPES.get(name)
    ctx = TrainContext(info=info, epochs=epochs, steps_per_epoch=steps_per_epoch, device=torch.device("cpu"))
    return cls(cls.resolve(args or {}, info), ctx), ctx


def card_args(name, dataset):
    return load_card(name, [REPO_MODELS], "test", "recipes").settings(dataset, {}, "test")["args"]


def train_cells(suite):
    return {t.recipe: t.config for t in plan(load_suite(PAPERS / f"{suite}.yaml"))[0] if t.seed == 0}


def eval_cells(suite):
    return {c.name: c for c in plan(load_suite(PAPERS / f"{suite}.yaml"))[1] if c.train.seed == 0}


def test_pgdt_search_train_and_normal_start_follow_atpr_and_mail_code():
    """search: train = AT-PR's pgd_loss (the model stays in train mode: BatchNorm batch statistics, running
    statistics updated); start: normal = MAIL's at_loss.py AT (x + 0.001 N(0, I), eval mode)."""
    x, y = batch(16)
    for args, train_mode in (({"search": "train"}, True), ({"start": "normal"}, False)):
        model = bn_net()
        reference = copy.deepcopy(model).train(train_mode)
        recipe, ctx = make("pgdt", {"steps": 3, **args})
        torch.manual_seed(4)
        loss, logits = recipe.loss(model, x, y, StepState(0, 0, ctx))
        torch.manual_seed(4)
        if args.get("start") == "normal":
            adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
        else:
            adv = (x + torch.empty_like(x).uniform_(-0.1, 0.1)).clamp(0, 1)
        for _ in range(3):
            adv = adv.detach().requires_grad_(True)
            F.cross_entropy(reference(adv), y).backward()
            adv = torch.min(torch.max(adv.detach() + 0.025 * adv.grad.sign(), x - 0.1), x + 0.1).clamp(0, 1)
        reference.train()
        assert loss.item() == pytest.approx(F.cross_entropy(reference(adv), y).item(), rel=1e-5), args
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(model.buffers(), reference.buffers())), args
    assert RECIPES.get("pgdt").resolve({}, INFO)["search"] == "eval"  # the default: TRADES/MART code bases


def test_gairat_cards_attack_at_gairat_py_eps_and_step():
    """GAIRAT.py: --epsilon 0.031, --step-size 0.007 (the card trained at 8/255 with eps/4)."""
    for ds in ("cifar10", "cifar100", "svhn"):
        a = RECIPES.get("gairat").resolve(card_args("gairat", ds), CIFAR)
        assert (a["eps"], a["alpha"]) == (0.031, 0.007), ds

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
from bench.attacks.threat import threat_params
from bench.suite.cards import REPO_MODELS, load_card
from bench.suite.config import load_suite
from bench.data import DATASETS
from bench.errors import UserError
from bench.evals import EVALS, EvalContext
from bench.plan.grid import plan
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes.prl import cvar, t_step
from bench.pr.vicinity import sample

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


# item 1: MAIL's burn-in is a number of epochs -------------------------------------------------------------
def first_reweighted(name, args, epochs, steps_per_epoch=7):
    """The first epoch index at which the recipe's weights are not all 1 (the base loss before it)."""
    recipe, ctx = make(name, args, epochs, steps_per_epoch, CIFAR)
    logits, y = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 2])
    for epoch in range(epochs):
        for step in (epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch - 1):  # first and last step
            w = recipe.weights(logits, y, StepState(epoch, step, ctx))
            if not torch.equal(w, torch.ones(2)):
                return epoch
    return None


@pytest.mark.parametrize("epochs", [101, 120])
def test_mail_reweights_from_epoch_index_76_in_a_101_and_a_120_epoch_run(epochs):
    """train.py: the base loss while its 0-based `epoch <= 75`, whatever the run's length (a fraction 76/120
    of a 101-epoch run started at epoch 64)."""
    for name in MAIL:
        assert first_reweighted(name, card_args(name, "cifar10"), epochs) == 76, name
    recipe, ctx = make("mail-at", card_args("mail-at", "cifar10"), epochs, 7, CIFAR)
    logits, y = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0]]), torch.tensor([0, 2])
    p = torch.softmax(logits, 1)
    pm = torch.tensor([p[0, 0] - p[0, 2], p[1, 2] - p[1, 1]])  # PM = p_y - max_{j != y} p_j, by hand
    assert recipe.weights(logits, y, StepState(76, 76 * 7, ctx)).tolist() == pytest.approx(
        (3 * torch.sigmoid(-10 * (pm + 0.5))).tolist())  # mail_loss.py weight_assign: 3 sigmoid(slope (-PM + bias))


@pytest.mark.parametrize("suite", ["mail-table1", "mail-table2", "mail-table3"])
def test_mail_paper_suites_train_101_epochs_and_reweight_from_epoch_76(suite):
    for label, cfg in train_cells(suite).items():
        if label in MAIL:
            assert cfg["epochs"] == 101 and cfg["args"]["burn_in"] == 76
            assert first_reweighted(label, cfg["args"], cfg["epochs"]) == 76


def test_mail_burn_in_is_an_integer_number_of_epochs_on_every_card():
    """digits/fashion-mnist: the epochs that start with the cosine lr above half its peak (8 of 15, 5 of 10);
    MNIST: the epoch after TRADES' first drop (55); CIFAR/SVHN: train.py's 76. A fraction is refused."""
    want = {"digits": 8, "fashion-mnist": 5, "mnist": 55, "svhn": 76, "cifar10": 76, "cifar100": 76}
    for name in MAIL:
        assert {ds: card_args(name, ds)["burn_in"] for ds in want} == want, name
        assert RECIPES.get(name).resolve({}, INFO)["burn_in"] == 76
        assert first_reweighted(name, card_args(name, "digits"), 15) == 8
        assert first_reweighted(name, card_args(name, "mnist"), 100) == 55
    with pytest.raises(UserError, match="burn_in"):
        RECIPES.get("mail-at").resolve({"burn_in": 0.5}, INFO)


# item 2: ADT-MIM starts from a uniform random point -----------------------------------------------------------
def mim_reference(model, x, y, eps, alpha, steps, decay=1.0):
    """ADT's evaluate_attacks.py, _mim_whitebox (--random True): x + U(-eps, eps), unclipped, then momentum
    on the L1-normalised gradient of the mean CE, sign steps, projection to the eps box and [0, 1]."""
    adv = x + torch.empty_like(x).uniform_(-eps, eps)
    previous = torch.zeros_like(x)
    for _ in range(steps):
        adv = adv.detach().requires_grad_(True)
        F.cross_entropy(model(adv), y).backward()
        grad = adv.grad / adv.grad.abs().mean(dim=(1, 2, 3), keepdim=True)
        previous = decay * previous + grad
        adv = adv.detach() + alpha * previous.sign()
        adv = torch.clamp(x + torch.clamp(adv - x, -eps, eps), 0, 1)
    return adv.detach()


def test_adt_mim_settings_are_evaluate_attacks_py():
    p = threat_params(ATTACKS.get("ADT-MIM"), CIFAR)
    assert (p["steps"], p["decay"], p["random_start"], p["clip_start"]) == (20, 1.0, True, False)
    assert (p["eps"], p["alpha"]) == (pytest.approx(8 / 255), pytest.approx(2 / 255))
    assert ATTACKS.get("ADT-MIM").version == 2  # eval cell ids change with the random start


def test_adt_mim_first_iterate_is_random_and_unclipped():
    x = torch.tensor([0.0, 0.02, 0.5, 0.99, 1.0]).view(5, 1, 1, 1).repeat(1, 1, 8, 8)
    y = torch.zeros(5, dtype=torch.long)
    model = small().eval()
    eps = 0.1
    starts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        start = ATTACKS.get("ADT-MIM").make(model, eps=eps, alpha=0.025, steps=0)(x, y)
        torch.manual_seed(seed)
        assert torch.equal(start, x + torch.empty_like(x).uniform_(-eps, eps))  # x + U(-eps, eps), not clipped
        assert (start - x).abs().max() <= eps and (start - x).abs().min() > 0
        assert start.min() < 0 and start.max() > 1  # the reference's first gradient is taken there
        starts.append(start)
    assert not torch.equal(*starts)  # two seeds, two starts
    # torchattacks' MIFGSM (what ADT-MIM ran before) is deterministic: the same result under both seeds
    runs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        runs.append(ATTACKS.get("ADT-MIM").make(model, eps=eps, alpha=0.025, steps=2)(x, y))
    assert not torch.equal(*runs)


def harness(model, x, y, name):
    cls = EVALS.get("attack")
    ev, params = cls.resolve(name, {}, INFO, "suite.yaml:1")
    return cls(ev, params).run(model, x, y, EvalContext(INFO, torch.device("cpu"), 256, 0, {}))


def test_adt_mim_matches_the_reference_loop_through_the_evaluation(trained):
    model, x, y = trained
    out = harness(model, x, y, "ADT-MIM")
    with torch.no_grad():
        clean = model(x).argmax(1)
    ok = clean == y
    torch.manual_seed(0)  # the harness seeds with the cell's seed, then attacks the clean-correct samples
    adv = mim_reference(model, x[ok], y[ok], 0.1, 2 / 255 * 0.1 / (8 / 255), 20)
    with torch.no_grad():
        direct = clean.clone()
        direct[ok] = model(adv).argmax(1)
    assert (out["adv_pred"] == direct.numpy()).all()
    for col, norm in (("linf", float("inf")), ("l2", 2)):
        got = torch.from_numpy(out[col][ok.numpy()]).float()
        assert torch.allclose(got, (adv - x[ok]).flatten(1).norm(p=norm, dim=1), atol=1e-5), col
    torch.manual_seed(0)  # and the adversarial examples themselves, from the registry's attack
    made = ATTACKS.get("ADT-MIM").make(model, **threat_params(ATTACKS.get("ADT-MIM"), INFO))(x[ok], y[ok])
    assert torch.allclose(made, adv, atol=1e-6)
    # the same attack from x itself (torchattacks' MIFGSM, the old ADT-MIM) ends elsewhere
    torch.manual_seed(0)
    import torchattacks

    plain = torchattacks.MIFGSM(model, eps=0.1, alpha=2 / 255 * 0.1 / (8 / 255), steps=20, decay=1.0)(x[ok], y[ok])
    assert not torch.allclose(plain, adv)


# item 4: AT-PR's CW-inf -----------------------------------------------------------------------------------------
def atpr_cw_reference(model, x, y, eps, alpha, steps, margin=2.0):
    """AT-PR's evaluate.py cw_attack / cw_loss: clipped uniform start; the mean over the batch of
    -max(z_y - max_{j != y} z_j + margin, 0), the true class masked by -1000; sign steps, projection."""
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv = adv.detach().requires_grad_(True)
        logits = model(adv)
        onehot = F.one_hot(y, logits.shape[1]).float()
        own = (onehot * logits).sum(1)
        other = ((1 - onehot) * logits - onehot * 1000).max(1)[0]
        (-torch.clamp(own - other + margin, min=0).sum() / len(y)).backward()
        adv = adv.detach() + alpha * adv.grad.sign()
        adv = torch.clamp(x + torch.clamp(adv - x, -eps, eps), 0, 1)
    return adv.detach()


def test_atpr_cwinf_is_evaluate_py_cw_attack(trained):
    p = threat_params(ATTACKS.get("ATPR-CWinf"), CIFAR)
    assert (p["steps"], p["kappa"], p["random_start"]) == (20, 2.0, True)
    assert (p["eps"], p["alpha"]) == (pytest.approx(8 / 255), pytest.approx(2 / 255))
    model, x, y = trained
    out = harness(model, x, y, "ATPR-CWinf")
    with torch.no_grad():
        clean = model(x).argmax(1)
    ok = clean == y
    torch.manual_seed(0)
    adv = atpr_cw_reference(model, x[ok], y[ok], 0.1, 0.025, 20)
    with torch.no_grad():
        direct = clean.clone()
        direct[ok] = model(adv).argmax(1)
    assert (out["adv_pred"] == direct.numpy()).all()
    assert torch.allclose(torch.from_numpy(out["l2"][ok.numpy()]).float(), (adv - x[ok]).flatten(1).norm(dim=1),
                          atol=1e-5)
    torch.manual_seed(0)
    made = ATTACKS.get("ATPR-CWinf").make(model, **threat_params(ATTACKS.get("ATPR-CWinf"), INFO))(x[ok], y[ok])
    assert torch.allclose(made, adv, atol=1e-6)
    torch.manual_seed(0)  # CWinf's kappa 50 and 30 steps end elsewhere
    assert not torch.allclose(ATTACKS.get("CWinf").make(model, **threat_params(ATTACKS.get("CWinf"), INFO))(x[ok], y[ok]),
                              adv)


def test_atpr_suite_trains_every_method_at_8_255_as_the_atpr_code():
    """main.py passes --attack_eps 8 / --attack_lr 2 (/255) to every method; CVaR_loss gets M = --cvar (10);
    pgd_loss searches in train mode; evaluate.py's CW: margin 2, 20 steps."""
    cells = train_cells("atpr")
    for label in ("pgdt", "trades", "mart", "prl", "atpr"):
        assert cells[label]["args"]["eps"] == pytest.approx(8 / 255), label
    for label in ("pgdt", "trades", "mart", "atpr"):
        a = cells[label]["args"]
        assert (a["alpha"], a["steps"]) == (pytest.approx(2 / 255), 10), label
    assert cells["prl"]["args"]["samples"] == 10 and cells["prl"]["args"]["batched"] is False
    assert cells["pgdt"]["args"]["search"] == "train"
    assert (cells["trades"]["args"]["beta"], cells["mart"]["args"]["beta"]) == (6.0, 5.0)
    cw = eval_cells("atpr")["attack:CWinf"].params
    assert cw["attack"] == "ATPR-CWinf"
    assert (cw["params"]["kappa"], cw["params"]["steps"], cw["params"]["alpha"]) == (2.0, 20, pytest.approx(2 / 255))


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


# item 3: the evaluation and training budgets ------------------------------------------------------------------
@pytest.mark.parametrize("suite", ["mail-table1", "mail-table2", "mail-table3"])
def test_mail_suites_evaluate_at_the_codes_eps_0031(suite):
    """MAIL's train.py: _pgd_whitebox at --epsilon 0.031 with step 0.003 (PGD and CW), AutoAttack eps=0.031."""
    evals = eval_cells(suite)
    assert evals["attack:AutoAttack"].params["eps"] == [0.031]
    for name in ("attack:PGD-100", "attack:CWinf", "attack:APGD"):
        if name in evals:
            p = evals[name].params["params"]
            assert p["eps"] == 0.031, name
            assert name == "attack:APGD" or p["alpha"] == 0.003
    assert evals["attack:PGD-100"].params["params"]["steps"] == 100


@pytest.mark.parametrize("suite", ["mail-table1", "mail-table2", "mail-table3"])
def test_mail_suites_train_at_the_codes_budgets(suite):
    """MAIL's train.py / at_loss.py (and GAIRAT.py, FAT.py, TRADES, MART): eps 0.031, step 0.007; AWP's own
    code 8/255, 2/255; MAIL's AT baseline from x + 0.001 N(0, I)."""
    for label, cfg in train_cells(suite).items():
        a = cfg["args"]
        if label == "awp":
            assert (a["eps"], a["alpha"]) == (pytest.approx(8 / 255), pytest.approx(2 / 255))
        else:
            assert (a["eps"], a["alpha"]) == (0.031, 0.007), label
    if suite != "mail-table1":
        assert train_cells(suite)["pgdt"]["args"]["start"] == "normal"


def test_gairat_cards_attack_at_gairat_py_eps_and_step():
    """GAIRAT.py: --epsilon 0.031, --step-size 0.007 (the card trained at 8/255 with eps/4)."""
    for ds in ("cifar10", "cifar100", "svhn"):
        a = RECIPES.get("gairat").resolve(card_args("gairat", ds), CIFAR)
        assert (a["eps"], a["alpha"]) == (0.031, 0.007), ds


# item 5: PRL's forward passes ---------------------------------------------------------------------------------
def cvar_sgd_reference(model, x, y, eps, m, t_steps, beta=0.5, lr=1.0):
    """advbench's CVaR_SGD step (algorithms.py): per t-step, M forwards of the batch in train mode, the
    indicator mean, t -= lr (1 - P/beta) / B; the last t-step's objective is the loss. The samples are drawn
    as bench draws them (one call per t-step), so the two sides see the same noise."""
    t = torch.ones(len(x))
    for _ in range(t_steps):
        s = sample("linf-clip", x, m, eps).view(len(x), m, *x.shape[1:])
        losses = torch.stack([F.cross_entropy(model(s[:, j]), y, reduction="none") for j in range(m)], dim=1)
        loss = cvar(losses, t, beta)
        t = t_step(losses.detach(), t, beta, lr)
    return loss


def test_prl_runs_m_forwards_of_the_batch_as_cvar_sgd():
    x, y = batch(8)
    sizes = []
    model = bn_net()
    reference = copy.deepcopy(model)
    model.register_forward_hook(lambda mod, i, o: sizes.append(len(i[0])))
    recipe, ctx = make("prl", {"samples": 4, "t_steps": 3})
    torch.manual_seed(6)
    loss, _ = recipe.loss(model, x, y, StepState(0, 0, ctx))
    assert sizes == [8] * 12  # 3 t-steps x 4 samples, each a forward of the batch
    torch.manual_seed(6)
    expected = cvar_sgd_reference(reference, x, y, 0.1, 4, 3)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(model.buffers(), reference.buffers()))
    # batched: one forward of B*M per t-step: other BatchNorm statistics, another loss
    batched, _ = make("prl", {"samples": 4, "t_steps": 3, "batched": True})
    torch.manual_seed(6)
    other = batched.loss(bn_net(), x, y, StepState(0, 0, ctx))[0]
    assert abs(other.item() - loss.item()) > 1e-4
    # on a net without BatchNorm the two agree
    values = []
    for flag in (False, True):
        r, _ = make("prl", {"samples": 4, "t_steps": 3, "batched": flag})
        torch.manual_seed(6)
        values.append(r.loss(small(), x, y, StepState(0, 0, ctx))[0].item())
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    assert RECIPES.get("prl").version == 4

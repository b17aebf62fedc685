"""The attack registry, the threat-model table and the attack evaluation, on a tiny model in seconds."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torchattacks

from bench.attacks import ATTACKS
from bench.attacks.threat import threat_params
from bench.data import DATASETS, DatasetInfo
from bench.errors import UserError
from bench.evals import EVALS, EvalContext
from bench.listing import listing
from bench.nets import build
from bench.suite.yamlio import load_yaml

DIGITS = DATASETS.get("digits")
# Cheaper settings for the attacks whose defaults take seconds per sample on CPU (numbers only; the
# code paths are the same).
FAST = {
    "SparseFool": {"steps": 1}, "DeepFool": {"steps": 3}, "CW": {"steps": 5},
    "EADEN": {"max_iterations": 10, "binary_search_steps": 1}, "EADL1": {"max_iterations": 10, "binary_search_steps": 1},
    "Square": {"n_queries": 20}, "OnePixel": {"steps": 2, "popsize": 2}, "Pixle": {"restarts": 2, "max_iterations": 2},
    "SPSA": {"nb_sample": 8}, "PGD-100": {"steps": 5}, "MAIL-PGD-100": {"steps": 5},
    "ADT-PGD-100": {"steps": 5}, "PGDRS": {"noise_batch_size": 2},
    "PGDRSL2": {"noise_batch_size": 2}, "FAB": {"steps": 3},
}



@pytest.fixture(scope="module")
def tiny():
    """A random-init small_cnn on 6 digits: 4 labelled with its prediction (clean-correct), 2 not."""
    torch.manual_seed(0)
    model = build("small_cnn", DIGITS, width=4).eval()
    _, test = DIGITS.load()
    x = test.x[:6]
    with torch.no_grad():
        y = model(x).argmax(1)
    y[4:] = (y[4:] + 1) % 10
    return model, x, y


def ctx(seed=0):
    return EvalContext(DIGITS, torch.device("cpu"), 64, seed, {})


def evaluate(model, x, y, main, opts=None, info=DIGITS, seed=0):
    cls = EVALS.get("attack")
    name, params = cls.resolve(main, opts or {}, info, "suite.yaml:3")
    return cls(name, params).run(model, x, y, ctx(seed))


def test_registry_holds_every_torchattacks_attack_under_its_name():
    shipped = {n for n in dir(torchattacks) if inspect.isclass(getattr(torchattacks, n))
               and issubclass(getattr(torchattacks, n), torchattacks.attack.Attack)}
    shipped -= {"Attack", "MultiAttack", "LGV", "AutoAttack"}
    names = set(ATTACKS)
    assert shipped <= names and len(shipped) == 36
    assert "torchattacks.AutoAttack" in names and "AutoAttack" not in names
    assert {"PGD-20", "PGD-100", "CWinf"} <= names
    assert len([n for n, a in ATTACKS.items() if a.source == "torchattacks 3.5.1"]) == 37


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_runs_through_the_evaluation(tiny, name):
    model, x, y = tiny
    out = evaluate(model, x, y, name, {"params": FAST.get(name, {})})
    assert set(out["evaluation"]) == {f"attack:{name}"} and len(out["pred"]) == 6
    wrong = out["pred"] != y.numpy()
    assert wrong[4:].all()  # the two mislabelled samples: failures, not attacked
    assert (out["adv_pred"][wrong] == out["pred"][wrong]).all() and (out["linf"][wrong] == 0).all()
    assert not out["correct"][wrong].any()
    assert (out["correct"] == (out["adv_pred"] == y.numpy()) & ~wrong).all()
    assert (out["linf"] <= 1 + 1e-6).all() and (out["l0"] <= 64).all()
    if ATTACKS.get(name).norm is not None:
        assert out["in_budget"].all(), (out["linf"], out["l2"], out["eps"])
        assert np.isfinite(out["eps"]).all() and set(out["norm"]) == {ATTACKS.get(name).norm}
    else:  # unbounded: no eps nor norm, in_budget against the dataset's Linf budget
        assert np.isnan(out["eps"]).all() and set(out["norm"]) == {None}
        assert (out["in_budget"] == (out["linf"] <= DIGITS.eps["linf"] + 1e-5)).all()


PAPER_SETTINGS = {  # (steps, step size at eps 8/255): REFERENCE-FACTS.md, the papers' evaluation code
    "MAIL-PGD-20": (20, 0.003), "MAIL-PGD-100": (100, 0.003), "MAIL-CWinf": (20, 0.003),
    "ADT-PGD-20": (20, 2 / 255), "ADT-PGD-100": (100, 2 / 255), "ADT-CWinf": (20, 2 / 255), "ADT-MIM": (20, 2 / 255),
    "CWinf": (30, 2 / 255),  # FAT/GAIRAT: 30 x eps/4
    "ATPR-CWinf": (20, 2 / 255),  # AT-PR's evaluate.py: 20 x 2/255 (kappa 2)
}


@pytest.mark.parametrize("name", sorted(PAPER_SETTINGS))
def test_paper_settings_pin_steps_and_step_size(name):
    steps, alpha = PAPER_SETTINGS[name]
    cifar = DATASETS.get("cifar10")
    p = threat_params(ATTACKS.get(name), cifar)
    assert (p["steps"], p["alpha"], p["eps"]) == (steps, pytest.approx(alpha, abs=1e-12), pytest.approx(8 / 255))
    assert threat_params(ATTACKS.get(name), DIGITS)["alpha"] == pytest.approx(alpha * 0.1 / (8 / 255))  # rescaled
    made = ATTACKS.get(name).make(torch.nn.Linear(4, 2), **p)
    assert (made.steps, made.alpha, made.eps) == (steps, pytest.approx(alpha), pytest.approx(8 / 255))
    assert ATTACKS.get(name).norm == "linf"


def test_threat_table_follows_the_dataset_and_torchattacks_ratios():
    p = threat_params(ATTACKS.get("PGD"), DIGITS)
    assert p["eps"] == pytest.approx(0.1) and p["alpha"] == pytest.approx(0.025) and p["steps"] == 10
    assert threat_params(ATTACKS.get("FFGSM"), DIGITS)["alpha"] == pytest.approx(0.125)  # 1.25 eps
    l2 = threat_params(ATTACKS.get("PGDL2"), DIGITS)
    assert l2["eps"] == pytest.approx(0.5) and l2["alpha"] == pytest.approx(0.1)
    assert threat_params(ATTACKS.get("PIFGSM"), DIGITS)["max_epsilon"] == pytest.approx(0.1)
    assert threat_params(ATTACKS.get("APGDT"), DIGITS)["n_classes"] == 10
    assert threat_params(ATTACKS.get("GN"), DIGITS) == {"std": 0.1}
    assert threat_params(ATTACKS.get("CW"), DIGITS) == {"c": 1, "kappa": 0, "steps": 50, "lr": 0.01}
    assert threat_params(ATTACKS.get("PGD-100"), DIGITS)["steps"] == 100
    cw = threat_params(ATTACKS.get("CWinf"), DIGITS)
    assert (cw["steps"], cw["kappa"], cw["alpha"]) == (30, 50.0, pytest.approx(0.025))
    sq = threat_params(ATTACKS.get("Square"), DIGITS, {"norm": "L2"})
    assert sq["eps"] == pytest.approx(0.5)
    cifar = threat_params(ATTACKS.get("PGD"), DATASETS.get("cifar10"))
    assert cifar["eps"] == pytest.approx(8 / 255) and cifar["alpha"] == pytest.approx(2 / 255)
    over = threat_params(ATTACKS.get("PGD"), DIGITS, {"eps": 0.2})  # the budget alone rescales alpha
    assert over["alpha"] == pytest.approx(0.05)


def test_suite_overrides_are_checked_and_fractions_accepted():
    node = load_yaml("s.yaml", "e:\n  params: {eps: 8/255, steps: 3}\n")["e"]
    _, params = EVALS.get("attack").resolve("PGD", node, DIGITS, "s.yaml:1")
    assert params["params"]["eps"] == pytest.approx(8 / 255) and params["params"]["steps"] == 3
    bad = load_yaml("s.yaml", "e:\n  params:\n    stpes: 3\n")["e"]
    with pytest.raises(UserError, match=r"s.yaml:3: params.stpes: PGD takes no parameter 'stpes' \(did you mean 'steps'"):
        EVALS.get("attack").resolve("PGD", bad, DIGITS, "s.yaml:1")
    with pytest.raises(UserError, match="autoattack: standard"):
        EVALS.get("attack").resolve("AutoAttack", {}, DIGITS, "s.yaml:1")


@pytest.mark.parametrize("main,opts,need", [("APGDT", {}, 4), ("torchattacks.AutoAttack", {}, 4),
                                            ("APGD", {"params": {"loss": "dlr"}}, 3)])
def test_dlr_attacks_need_enough_classes(main, opts, need):
    few = DatasetInfo("pair", (1, 8, 8), need - 1, (0.5,), (0.5,), {"linf": 0.1, "l2": 0.5}, loader=None)
    with pytest.raises(UserError) as e:
        EVALS.get("attack").resolve(main, opts, few, "suite.yaml:9")
    assert str(e.value) == (f"suite.yaml:9: attack: {main} uses the DLR loss, which needs at least {need} classes; "
                            f"dataset 'pair' has {need - 1}")
    EVALS.get("attack").resolve("APGD", {}, few, "suite.yaml:9")  # cross-entropy APGD is fine


@pytest.mark.parametrize("main", ["EADEN", "EADL1"])
def test_ead_needs_ten_iterations_with_abort_early(tiny, main):
    node = load_yaml("s.yaml", "e:\n  params:\n    max_iterations: 5\n")["e"]
    with pytest.raises(UserError) as e:
        EVALS.get("attack").resolve(main, node, DIGITS, "s.yaml:1")
    assert str(e.value) == (f"s.yaml:1: params.max_iterations: {main} with abort_early checks its progress every "
                            "max_iterations // 10 iterations, so max_iterations must be at least 10 (got 5); "
                            "or set abort_early: false")
    model, x, y = tiny  # without early abort, 5 iterations run
    out = evaluate(model, x, y, main, {"params": {"max_iterations": 5, "abort_early": False, "binary_search_steps": 1}})
    assert len(out["adv_pred"]) == len(y)


def test_tifgsm_fixed_on_grey_images(tiny):
    model, x, y = tiny
    with pytest.raises(RuntimeError):  # why the adapter exists: torchattacks hard-codes groups=3
        torchattacks.TIFGSM(model, eps=0.1, alpha=0.025)(x, y)
    out = evaluate(model, x, y, "TIFGSM")
    assert out["in_budget"].all() and (out["linf"][:4] > 0).all()


def test_eps_sweep_blocks_match_single_runs(tiny):
    model, x, y = tiny
    out = evaluate(model, x, y, "PGD", {"eps": [0.05, 0.2]})
    assert list(out["evaluation"]) == ["attack:PGD@0.05"] * 6 + ["attack:PGD@0.2"] * 6
    assert list(out["eps"]) == [0.05] * 6 + [0.2] * 6
    assert (out["linf"][:6] <= 0.05 + 1e-5).all() and out["linf"][6:].max() > 0.05
    single = evaluate(model, x, y, "PGD", {"eps": 0.2})  # a number sets the budget: no suffix
    assert set(single["evaluation"]) == {"attack:PGD"}
    assert (single["adv_pred"] == out["adv_pred"][6:]).all() and np.allclose(single["linf"], out["linf"][6:])
    with pytest.raises(UserError, match="CW has no norm budget to sweep"):
        EVALS.get("attack").resolve("CW", {"eps": [0.1]}, DIGITS, "s.yaml:1")


def test_seeded_runs_repeat(tiny):
    model, x, y = tiny
    a, b = evaluate(model, x, y, "Pixle", {"params": FAST["Pixle"]}), evaluate(model, x, y, "Pixle", {"params": FAST["Pixle"]})
    assert (a["adv_pred"] == b["adv_pred"]).all() and np.array_equal(a["l2"], b["l2"])


def test_cwinf_margin_and_strength(tiny):
    model, x, y = tiny
    attack = ATTACKS.get("CWinf").make(model, eps=0.1, alpha=0.025, steps=10, kappa=0.0)
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
    assert attack.margin(logits, torch.tensor([0, 2])).tolist() == [1.0, 0.0]
    out = evaluate(model, x, y, "CWinf")
    assert out["correct"].sum() < 4 and out["in_budget"].all()


def test_listing_shows_norms_and_the_threat_rule():
    text = listing("attacks")
    line = next(l for l in text.splitlines() if l.startswith("PGDL2 "))
    assert "eps=dataset l2," in line and "alpha=0.2*eps" in text.split("PGDL2 ")[1].split("\nPGDRS ")[0]
    assert next(l for l in text.splitlines() if l.startswith("OnePixel ")).split()[1] == "unbounded"


# Tests the mutation testing found missing (issue 23).
class _Counting(torch.nn.Module):
    """A model that counts its forward calls."""

    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("name,steps", [("CWinf", 1), ("CWinf", 3), ("CWinf", None), ("ATPR-CWinf", None),
                                        ("ADT-MIM", 2)])
def test_sign_step_attacks_take_every_step(tiny, name, steps):
    """One forward (and gradient) per step: a loop one step short is caught."""
    model, x, y = tiny
    counted = _Counting(model).eval()
    info = ATTACKS.get(name)
    params = {**info.defaults, **({} if steps is None else {"steps": steps})}  # as the evaluation passes them
    attack = info.make(counted, **params)
    attack(x[:4], y[:4])
    assert counted.calls == (steps or info.defaults["steps"]) > 0


def test_one_cwinf_step_by_hand(tiny):
    """x' = clip_[0,1](x + clip_[-eps,eps](alpha * sign(grad of -margin))), from x itself."""
    model, x, y = tiny
    x, y = x[:4], y[:4]
    eps, alpha, kappa = 0.1, 0.03, 5.0
    attack = ATTACKS.get("CWinf").make(model, eps=eps, alpha=alpha, steps=1, kappa=kappa, random_start=False)
    xr = x.clone().requires_grad_(True)
    z = model(xr)
    others = z.masked_fill(torch.nn.functional.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
    margin = torch.clamp(z.gather(1, y[:, None]).squeeze(1) - others + kappa, min=0)
    (grad,) = torch.autograd.grad(-margin.sum(), xr)
    expect = torch.clamp(x + torch.clamp(alpha * grad.sign(), -eps, eps), 0, 1)
    assert torch.allclose(attack(x, y), expect, atol=1e-6)


class _Noisy(torch.nn.Module):
    """A net whose train mode differs from its eval mode: BatchNorm (running statistics set away from the batch's)
    and Dropout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(4 * 8 * 8, 10)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        return self.head(self.drop(torch.relu(self.bn(self.conv(x)))).flatten(1))


@pytest.mark.parametrize("main,opts", [("FGSM", None), ("PGD", {"params": {"steps": 2}}), ("CWinf", {"params": {"steps": 2}})])
def test_attacks_run_the_model_in_eval_mode(main, opts):
    """A model handed over in train mode (as training leaves it) is attacked and predicted in eval mode: its
    BatchNorm statistics do not move and its predictions are eval mode's."""
    _, test = DIGITS.load()
    x, y = test.x[:16], test.y[:16]
    model = _Noisy()
    with torch.no_grad():
        expect = model.eval()(x).argmax(1)
    y = expect.clone()
    y[::3] = (y[::3] + 1) % 10  # some clean-correct, some not
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    out = evaluate(model, x, y, main, opts)
    for k, v in model.state_dict().items():
        assert torch.equal(v, stats[k]), k  # running_mean, running_var, num_batches_tracked unchanged
    assert (out["pred"] == expect.numpy()).all()
    again = evaluate(model, x, y, main, opts)  # no dropout noise: the same predictions again
    assert (again["adv_pred"] == out["adv_pred"]).all()

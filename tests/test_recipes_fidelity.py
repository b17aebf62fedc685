"""Issue 15, items 1-9: each recipe trains what its reference code trains. Every test here failed on the
code before the fix it pins (named in its docstring)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from bench.suite.cards import REPO_MODELS, load_card, resolve_training
from bench.data import DATASETS
from bench.nets import build
from bench.recipes import RECIPES, StepState, TrainContext
from bench.recipes.adt_exp import sample_tanh_gaussian
from bench.recipes.atpr import atpr_adversary, candidate_pgd
from bench.recipes.fat import early_stopped_pgd
from bench.recipes.gairat import geometry_pgd
from bench.recipes._losses import trades_adversary
from bench.recipes._pgd import pgd_linf
from bench.execute.train import lr_factor
from bench.pr.vicinity import draw, sample

INFO = DATASETS.get("digits")


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *INFO.shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def small(seed=0):
    torch.manual_seed(seed)
    return build("small_cnn", INFO, width=8)


def bn_net(seed=0):
    torch.manual_seed(seed)
    return build("cnn7", INFO, width=4, linear=16).train()


def make(name, args=None, epochs=1, steps_per_epoch=1):
    cls = RECIPES.get(name)
    ctx = TrainContext(info=INFO, epochs=epochs, steps_per_epoch=steps_per_epoch, device=torch.device("cpu"))
    return cls(cls.resolve(args or {}, INFO), ctx), ctx


def card(name, dataset):
    return load_card(name, [REPO_MODELS], "test", "recipes").settings(dataset, {}, "test")


class Fixed:
    """A source of randomness that returns the given uniform values (rand) in order."""

    def __init__(self, values):
        self.values = list(values)

    def rand(self, shape, like):
        return self.values.pop(0).reshape(shape).to(like)


# item 1 ------------------------------------------------------------------------------------------------
def test_linf_clip_adds_uniform_noise_then_clips():
    """advbench's sample_deltas + img_clamp: x + U(-r, r), then [0, 1]; the old sampler drew from the box."""
    x = torch.tensor([0.0, 0.05, 0.5, 1.0]).view(4, 1, 1, 1)
    u = torch.tensor([0.25, 0.75, 0.0, 0.9]).view(4, 1, 1, 1)  # noise 2u - 1 = -0.5, 0.5, -1, 0.8 times r
    out = draw("linf-clip", x, 0.3, Fixed([u])).flatten().tolist()
    assert out == pytest.approx([0.0, 0.2, 0.2, 1.0])
    # a 0-pixel: unchanged half the time, mean shift r/4 (the clipped box: never 0, mean r/2)
    torch.manual_seed(0)
    zeros = torch.zeros(1, 1, 100, 100)
    clip, box = sample("linf-clip", zeros, 4, 0.3), sample("linf", zeros, 4, 0.3)
    assert (clip == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert clip.mean().item() == pytest.approx(0.075, abs=0.002)
    assert box.mean().item() == pytest.approx(0.15, abs=0.002) and (box == 0).sum() == 0


def test_prl_and_vmt_sample_as_their_references_and_vmt_mnist_card():
    """prl, vmt default to linf-clip (their cards too); VMT's MNIST card: batch 32, Adadelta (was 128)."""
    for name in ("prl", "vmt"):
        assert RECIPES.get(name).resolve({}, INFO)["vicinity"] == "linf-clip"
        assert card(name, "digits")["args"]["vicinity"] == "linf-clip"
    mnist = card("vmt", "mnist")
    assert (mnist["batch_size"], mnist["optimizer"]["name"], mnist["optimizer"]["lr"]) == (32, "adadelta", 1.0)
    assert RECIPES.get("da").resolve({}, INFO)["vicinity"] == "linf"  # AT-PR-style box sampling elsewhere


# item 2 ------------------------------------------------------------------------------------------------
def test_ibp_shi_card_trains_on_the_verified_loss_alone_and_regularises_from_the_first_epoch():
    """Shi et al.'s card: kappa 0 (no clean CE once eps > 0), reg_eps 1e-6, MNIST at eps 0.4."""
    digits = card("ibp-shi", "digits")["args"]
    assert (digits["kappa_start"], digits["kappa_end"], digits["reg_eps"]) == (0.0, 0.0, 1e-6)
    assert card("ibp-shi", "mnist")["args"]["eps"] == 0.4
    assert card("ibp", "digits")["args"]["kappa_end"] == 0.5  # Gowal et al.'s card keeps its kappa
    for ds in ("cifar10", "cifar100", "svhn"):  # their crops: 2 pixels, edge padding (datasets.py)
        assert resolve_training(load_card("ibp-shi", [REPO_MODELS], "t", "r"), {}, ds, "t")["crop"] == \
            {"pad": 2, "mode": "edge"}
        assert "crop" not in resolve_training(load_card("ibp", [REPO_MODELS], "t", "r"), {}, ds, "t")
    x, y = batch(16)
    for reg_eps in (0.0, 1e-6):  # the clean warm-up epoch: CE, plus the regulariser when reg_eps > 0
        torch.manual_seed(0)
        net = build("cnn7", INFO, width=8, linear=32)
        recipe, ctx = make("ibp", {**digits, "reg_eps": reg_eps, "warmup_epochs": 1, "ramp_epochs": 2}, 4, 10)
        recipe.setup(net)
        loss, logits = recipe.loss(net, x, y, StepState(0, 3, ctx))
        assert recipe.schedule(3)[0] == 0
        ce = F.cross_entropy(logits, y).item()
        assert (loss.item() == pytest.approx(ce, rel=1e-6)) == (reg_eps == 0)
    assert loss.item() > ce
    # eps > 0 and the regulariser off: the loss is the worst-case CE alone
    from bench.certify.ibp import margin_bounds, worst_case_logits

    recipe, ctx = make("ibp", {**digits, "reg_lambda": 0.0, "warmup_epochs": 0, "ramp_epochs": 2}, 4, 10)
    loss, _ = recipe.loss(net, x, y, StepState(0, 12, ctx))
    eps = recipe.schedule(12)[0]
    margin_lo, _ = margin_bounds(net, x, y, eps)
    assert loss.item() == pytest.approx(F.cross_entropy(worst_case_logits(margin_lo), y).item(), rel=1e-5)


# item 3 ------------------------------------------------------------------------------------------------
def test_adt_exp_accumulates_the_distribution_gradients_over_steps_as_the_reference():
    """adt_exp.py never zeroes the gradients of (mean, var) between its steps (bench zeroed them)."""
    x, y = batch()
    model = small()
    recipe, _ = make("adt-exp", {"steps": 3, "samples": 2})
    torch.manual_seed(4)
    mu, sigma = recipe.distribution(model, x, y)
    torch.manual_seed(4)
    mean = torch.zeros_like(x, requires_grad=True)
    var = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([mean, var], lr=0.3, betas=(0.0, 0.0))
    for _ in range(3):  # the reference loop: backward() adds into .grad, which nothing zeroes
        for _ in range(2):
            delta, neg_logp = sample_tanh_gaussian(mean, F.softplus(var), 0.1)
            loss = -F.cross_entropy(model((x + delta).clamp(0, 1)), y) - 0.01 * neg_logp.mean()
            loss.backward()
        opt.step()
    assert torch.allclose(mu, mean.detach(), atol=1e-6)
    assert torch.allclose(sigma, F.softplus(var.detach()), atol=1e-6)


# item 4 ------------------------------------------------------------------------------------------------
def test_atpr_and_awp_at_search_in_train_mode_and_update_batchnorm():
    """Both references search with the model in train mode (bench used eval mode)."""
    x, y = batch(16)
    for search in (lambda m: atpr_adversary(m, x, y, 0.1, 0.025, 2, candidates=2, refine_cap=2),
                   lambda m: make("awp-at", {"steps": 2})[0].adversary(m, x, y)):
        model = bn_net()
        before = [b.clone() for b in model.buffers()]
        search(model)
        assert model.training
        assert not all(torch.equal(a, b) for a, b in zip(before, model.buffers()))


def test_atpr_candidates_run_one_at_a_time_over_the_whole_batch_in_train_mode():
    """With BatchNorm in train mode each candidate's PGD sees its own batch (the reference's loop)."""
    x, y = batch(16)
    eps, alpha, steps = torch.tensor([0.1, 0.08]), torch.tensor([0.025, 0.03]), torch.tensor([2, 3])
    model = bn_net()
    reference = copy.deepcopy(model)
    torch.manual_seed(5)
    adv = candidate_pgd(model, x, y, eps, alpha, steps).view(2, *x.shape)
    torch.manual_seed(5)
    for c in range(2):
        z = (x + torch.empty_like(x).uniform_(-float(eps[c]), float(eps[c]))).clamp(0, 1)
        for _ in range(int(steps[c])):
            z.requires_grad_(True)
            grad, = torch.autograd.grad(F.cross_entropy(reference(z), y, reduction="sum"), z)
            z = torch.min(torch.max(z.detach() + alpha[c] * grad.sign(), x - eps[c]), x + eps[c]).clamp(0, 1)
        assert torch.allclose(adv[c], z, atol=1e-6), c


# item 5 ------------------------------------------------------------------------------------------------
def test_gairat_reweights_from_the_one_based_epoch_60():
    """GAIRAT.py: `(epoch + 1) >= begin_epoch` with begin_epoch 60 (bench: half of training)."""
    x, y = batch(16)
    model = small()
    recipe, ctx = make("gairat", {"steps": 4}, epochs=100)
    for epoch, weighted in ((58, False), (59, True)):
        torch.manual_seed(1)
        loss, logits = recipe.loss(model, x, y, StepState(epoch, epoch, ctx))
        torch.manual_seed(1)
        _, kappa = geometry_pgd(model, x, y, 0.1, 0.025, 4)
        ce = F.cross_entropy(logits, y, reduction="none")
        w = (torch.tanh(-1.0 + (2 - kappa) * 5.0 / 2) + 1) / 2
        expected = (w * len(w) / w.sum() * ce).mean() if weighted else ce.mean()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6), epoch
    assert kappa.unique().numel() > 1  # the weights are not all equal: the two cases differ


# item 6 ------------------------------------------------------------------------------------------------
def test_alp_passes_clean_and_adversarial_images_in_one_forward():
    """The TF reference concatenates them (BatchNorm over 2B); bench ran two forwards."""
    x, y = batch(8)
    model = bn_net()
    sizes = []
    recipe, ctx = make("alp", {"steps": 1})
    torch.manual_seed(2)
    adv = pgd_linf(model, x, y, 0.1, 0.025, 1)
    handle = model.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    torch.manual_seed(2)
    loss, logits = recipe.loss(model, x, y, StepState(0, 0, ctx))
    handle.remove()
    assert sizes[-1] == 16 and sizes.count(16) == 1
    both = copy.deepcopy(model)(torch.cat([x, adv]))
    assert torch.allclose(logits, both[:8], atol=1e-5)


# item 7 ------------------------------------------------------------------------------------------------
def test_mail_cards_follow_train_py():
    """120 epochs, lr x0.1 at (0-based) 75, 90, 100; the base loss while `epoch <= 75`, so reweighting from
    epoch index 76 (was 100 / 0.75, then 75); PGD eps 0.031, step 0.007 as train.py."""
    for name in ("mail-at", "mail-trades", "mail-mart"):
        s = card(name, "cifar10")
        assert s["epochs"] == 120 and s["schedule"]["milestones"] == [75, 90, 100]
        recipe, ctx = make(name, s["args"], epochs=120, steps_per_epoch=391)
        assert (recipe.args["eps"], recipe.args["alpha"]) == (0.031, 0.007)
        logits, y = torch.tensor([[2.0, 0.0, 1.0]]), torch.tensor([0])
        last_burn_in = 76 * 391 - 1  # the last step of epoch index 75
        assert recipe.weights(logits, y, StepState(75, last_burn_in, ctx)).item() == 1.0
        assert recipe.weights(logits, y, StepState(76, last_burn_in + 1, ctx)).item() != 1.0
    assert RECIPES.get("mail-at").resolve({}, INFO)["burn_in"] == 76  # epochs (issue 25; was 76/120 of training)


# item 8 ------------------------------------------------------------------------------------------------
def epochs_at(name, dataset, factor):
    s = card(name, dataset)
    return sum(1 for e in range(s["epochs"]) if lr_factor(s["schedule"], e, 1, s["epochs"]) == pytest.approx(factor))


def test_milestones_fire_at_the_references_one_based_epochs():
    """TRADES' `epoch >= 75` over epochs 1..76: two epochs at 0.01 (bench gave one); MART, ADT, FAT too."""
    assert epochs_at("trades", "cifar10", 0.1) == 2
    # train_trades_mnist.py: x0.1, x0.01, x0.001 from its 1-based epochs 55, 75, 90 (three ifs since its commit
    # c56d2f2; an elif chain before); the cards that borrow TRADES' MNIST protocol too
    for name in ("trades", "mart", "awp-trades", "erm", "pgdt", "atpr", "awp-at", "gairat", "fat",
                 "adt-exp", "adt-expam", "adt-impam", "mail-at", "mail-trades", "mail-mart"):
        assert [epochs_at(name, "mnist", f) for f in (1.0, 0.1, 0.01, 0.001)] == [54, 20, 15, 11], name
    for name in ("mail-at", "mail-trades", "mail-mart"):  # MNIST: reweighting from the epoch after the first drop
        recipe, ctx = make(name, card(name, "mnist")["args"], epochs=100)
        logits, y = torch.tensor([[2.0, 0.0, 1.0]]), torch.tensor([0])
        assert recipe.weights(logits, y, StepState(54, 54, ctx)).item() == 1.0
        assert recipe.weights(logits, y, StepState(55, 55, ctx)).item() != 1.0
    assert epochs_at("mart", "cifar10", 1.0) == 74 and epochs_at("mart", "cifar10", 0.001) == 21
    for name in ("adt-exp", "adt-expam", "adt-impam"):
        assert epochs_at(name, "cifar10", 0.1) == 2
    assert epochs_at("fat", "cifar10", 1.0) == 59  # adjust_learning_rate(epoch + 1): x0.1 from epoch 60
    assert epochs_at("awp-trades", "cifar10", 1.0) == 99


def test_awp_trades_perturbs_weights_from_the_one_based_epoch_10():
    """trades-awp: `epoch >= awp_warmup` (10) over 1-based epochs, so epoch index 9 already perturbs."""
    x, y = batch(8)
    assert RECIPES.get("awp-trades").resolve({}, INFO)["warmup"] == 9
    moved = {}
    for epoch in (8, 9):
        model = small()
        recipe, ctx = make("awp-trades", {"steps": 1}, epochs=20)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(0)
        recipe.step(model, opt, x, y, StepState(epoch, epoch, ctx))
        moved[epoch] = [p.detach().clone() for p in model.parameters()]
    model, _ = small(), None
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(0)
    adv = trades_adversary(model, x, 0.1, 0.025, 1)
    from bench.recipes._losses import trades_objective

    loss, _ = trades_objective(model, x, adv, y, 6.0)
    opt.zero_grad()
    loss.backward()
    opt.step()  # a plain TRADES step: what the warm-up epoch does
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(moved[8], model.parameters()))
    assert not all(torch.allclose(a, b, atol=1e-7) for a, b in zip(moved[9], model.parameters()))


# item 9 ------------------------------------------------------------------------------------------------
SEARCHES = {
    "pgd": lambda m, x, y: pgd_linf(m, x, y, 0.1, 0.025, 3),
    "trades": lambda m, x, y: trades_adversary(m, x, 0.1, 0.025, 3),
    "atpr": lambda m, x, y: atpr_adversary(m, x, y, 0.1, 0.025, 2, candidates=2, refine_cap=3),
    "gairat": lambda m, x, y: torch.cat([geometry_pgd(m, x, y, 0.1, 0.025, 3)[0].flatten(),
                                         geometry_pgd(m, x, y, 0.1, 0.025, 3)[1]]),
    "fat": lambda m, x, y: early_stopped_pgd(m, x, y, 0.1, 0.025, 3, 1, 0.001),
    "adt-exp": lambda m, x, y: make("adt-exp", {"steps": 2, "samples": 2})[0].distribution(m, x, y)[0],
    "prl": lambda m, x, y: make("prl", {"samples": 4, "t_lr": 8.0})[0].thresholds(m, x, y),
}


@pytest.mark.parametrize("name", list(SEARCHES))
def test_inner_search_runs_in_float32_under_autocast(name):
    """Under bfloat16 autocast (CPU) every inner search moves exactly as in float32 (it used to run in
    the autocast dtype)."""
    x, y = batch(8)
    model = small()
    torch.manual_seed(3)
    plain = SEARCHES[name](model, x, y)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = SEARCHES[name](model, x, y)
    assert mixed.dtype == torch.float32 and torch.equal(plain, mixed)


# input normalisation ----------------------------------------------------------------------------------
def _norm(name, dataset):
    return resolve_training(load_card(name, [REPO_MODELS], "t", "r"), {}, dataset, "t").get("normalize")


def test_paper_cards_normalise_inputs_as_their_reference_code():
    """Most references feed raw [0,1] pixels (ToTensor only); AT_AWP, fast_adversarial, smoothing and Shi et
    al.'s CIFAR-10 normalise with their own statistics. bench's digits/fashion-mnist cards keep the dataset's."""
    raw3, raw1 = {"mean": [0.0] * 3, "std": [1.0] * 3}, {"mean": [0.0], "std": [1.0]}
    for name in ("erm", "da", "pgdt", "trades", "mart", "alp", "prl", "vmt", "atpr", "fat", "awp-trades",
                 "adt-exp", "adt-expam", "adt-impam", "mail-at", "mail-trades", "mail-mart", "gairat"):
        assert _norm(name, "cifar10") == raw3 and _norm(name, "svhn") == raw3 and _norm(name, "mnist") == raw1, name
        assert _norm(name, "digits") is None and _norm(name, "fashion-mnist") is None, name
    wong = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2471, 0.2435, 0.2616]}
    cohen = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2023, 0.1994, 0.2010]}
    assert _norm("fgsm-at", "cifar10") == wong and _norm("fgsm-at", "mnist") == raw1
    assert _norm("awp-at", "cifar10") == wong and _norm("awp-at", "svhn") == {"mean": [0.5] * 3, "std": [0.5] * 3}
    assert _norm("awp-at", "cifar100")["std"][0] == pytest.approx(0.2673342858792401)
    assert _norm("gaussian", "cifar10") == cohen and _norm("gaussian", "svhn") is None
    assert _norm("ibp-shi", "cifar10") == cohen and _norm("ibp-shi", "mnist") == raw1
    assert _norm("ibp", "cifar10") == cohen and _norm("ibp", "mnist") == raw1 and _norm("ibp", "svhn") is None


def test_svhn_cards_augment_as_their_reference_code():
    """ADT, AT-PR and the certified-PR code train SVHN on its test transform (no augmentation); GAIRAT, FAT and
    advbench crop and flip it as CIFAR; bench's SVHN default is a crop without flip."""
    def augment(name):
        return resolve_training(load_card(name, [REPO_MODELS], "t", "r"), {}, "svhn", "t")["augment"]

    assert {n: augment(n) for n in ("adt-exp", "adt-expam", "adt-impam", "atpr", "vmt", "da")} == dict.fromkeys(
        ("adt-exp", "adt-expam", "adt-impam", "atpr", "vmt", "da"), "none")
    assert augment("gairat") == augment("fat") == augment("prl") == "crop_flip"
    assert augment("trades") == "crop"


def test_trades_and_mart_cifar_cards_attack_at_the_codes_eps():
    """train_trades_cifar10.py and MART's train_resnet.py: --epsilon 0.031, --step-size 0.007 (not 8/255, 2/255)."""
    for name in ("trades", "mart"):
        for ds in ("cifar10", "cifar100", "svhn"):
            a = resolve_training(load_card(name, [REPO_MODELS], "t", "r"), {}, ds, "t")["args"]
            assert (a["eps"], a["alpha"]) == (0.031, 0.007), (name, ds)


def test_awp_at_ends_each_step_with_a_clean_train_mode_forward():
    """at-awp's train_*.py run model(normalize(X)) after every update (train mode): BatchNorm sees clean data."""
    x, y = batch(8)
    net = bn_net()
    seen = []
    net.register_forward_pre_hook(lambda m, inp: seen.append((inp[0].detach().clone(), m.training)))
    recipe, ctx = make("awp-at", {"steps": 2})
    recipe.setup(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    recipe.step(net, opt, x, y, StepState(0, 0, ctx))
    last, training = seen[-1]
    assert torch.equal(last, x) and training
    assert not torch.equal(seen[-2][0], x)  # the forward before it was the training loss's, on adversarial inputs


def test_reflect_padded_crop_mirrors_about_the_border():
    """crop: {mode: reflect} (AT_AWP's CIFAR-10, AT-PR): row -1 of the padded image is row 1, as np.pad(reflect)."""
    from bench.data import augment_batch

    img = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = augment_batch(img.repeat(300, 1, 1, 1), "crop", torch.Generator().manual_seed(0), pad=2, mode="reflect")
    import numpy as np

    padded = torch.from_numpy(np.pad(img[0, 0].numpy(), 2, mode="reflect"))
    windows = {(dy, dx): padded[dy:dy + 4, dx:dx + 4] for dy in range(5) for dx in range(5)}
    found = {k for o in out[:, 0] for k, w in windows.items() if torch.equal(o, w)}
    assert len(found) == 25 and all(any(torch.equal(o, w) for w in windows.values()) for o in out[:, 0])


def test_cards_take_the_reference_codes_protocols():
    """advbench HEAD (prl), the certified-PR code's e1.py/e3.py (vmt, da), fast_adversarial (fgsm-at), Gowal's and
    Shi's MNIST (ibp): each number below read from those files."""
    def cfg(name, ds):
        return resolve_training(load_card(name, [REPO_MODELS], "t", "r"), {}, ds, "t")

    prl = cfg("prl", "cifar10")
    assert (prl["batch_size"], prl["epochs"], list(prl["schedule"]["milestones"]), prl["args"]["eps"]) == (64, 115, [55, 75, 90], 0.031)
    assert list(cfg("prl", "mnist")["schedule"]["milestones"]) == [25, 35, 40] and cfg("prl", "svhn")["schedule"]["name"] == "none"
    vmt = cfg("vmt", "cifar10")
    assert (vmt["batch_size"], vmt["epochs"], vmt["args"]["lam"]) == (32, 114, 6.0) and cfg("vmt", "svhn")["args"]["lam"] == 1.0
    assert cfg("da", "mnist")["batch_size"] == 32
    for name in ("prl", "vmt", "da", "atpr"):
        assert cfg(name, "mnist")["arch"] == "pytorch_mnist", name
    fgsm = cfg("fgsm-at", "mnist")
    assert fgsm["arch"] == "wong_mnist" and (fgsm["schedule"]["name"], fgsm["schedule"]["peak"]) == ("cyclic", 0.4)
    assert cfg("fgsm-at", "cifar10")["schedule"]["peak"] == 0.5 and "peak" not in cfg("trades", "cifar10")["schedule"]
    assert cfg("ibp", "mnist")["args"]["eps"] == 0.4 and cfg("ibp-shi", "mnist")["args"]["eps"] == 0.4
    assert cfg("atpr", "cifar10")["crop"] == {"pad": 4, "mode": "reflect"}

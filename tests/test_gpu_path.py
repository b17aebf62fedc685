"""The GPU path of the training engine, tested on CPU: mixed precision only on CUDA and where the recipe
allows, the autocast/GradScaler step helpers, channels_last leaves every net's outputs equal, pinned
buffers only with CUDA, NaN detection with the deferred loss reads. A CUDA-only test trains for real."""
from __future__ import annotations

import copy

import pytest
import torch

from bench.data import DATASETS, Split
from bench.nets import ARCHS, build
from bench.recipes import RECIPES, Recipe, StepState, TrainContext
from bench.execute.train import Batches, make_optimizer, train, uses_amp

DIGITS = DATASETS.get("digits")
SETTINGS = {"arch": "small_cnn", "arch_args": {"width": 8}, "epochs": 1, "batch_size": 64,
            "optimizer": {"name": "adam", "lr": 3e-3}, "schedule": {"name": "none"}, "augment": "none", "args": {}}


def _ctx(device="cpu"):
    return TrainContext(info=DIGITS, epochs=1, steps_per_epoch=1, device=torch.device(device))


def test_amp_only_on_cuda_and_where_the_recipe_allows():
    erm = RECIPES.get("erm")({}, _ctx())
    assert uses_amp(erm, torch.device("cuda")) and not uses_amp(erm, torch.device("cpu"))
    erm.amp = False
    assert not uses_amp(erm, torch.device("cuda"))
    assert all(isinstance(RECIPES.get(n).amp, bool) for n in RECIPES)

    class OwnStep(Recipe):  # overrides step without declaring amp: stays float32
        def step(self, model, optimizer, x, y, state):
            raise NotImplementedError

    class OwnStepAmp(Recipe):  # overrides step with the helpers and says so
        amp = True

        def step(self, model, optimizer, x, y, state):
            raise NotImplementedError

    cuda = torch.device("cuda")
    assert not uses_amp(OwnStep({}, _ctx()), cuda) and uses_amp(OwnStepAmp({}, _ctx()), cuda)
    for name in RECIPES:  # the shipped recipes that override step (AWP, ADT-AM, IBP) stay float32
        cls = RECIPES.get(name)
        if "step" in vars(cls) and "amp" not in vars(cls):
            assert not uses_amp(cls({}, _ctx()), cuda), name


def test_cpu_training_is_float32_nchw():
    train_split, _ = DIGITS.load()
    net = build("small_cnn", DIGITS, width=8)
    meta = train(net, "erm", SETTINGS, Split(train_split.x[:256], train_split.y[:256]), DIGITS, 0,
                 torch.device("cpu"), show_bar=False)
    assert meta["amp"] is False and meta["channels_last"] is False
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in net.parameters())


def test_amp_step_helpers_match_float32_step():
    """The base step under autocast + GradScaler (run here with CPU float16 autocast) makes the same
    update as the float32 step, up to float16 rounding, and its forward really runs in float16."""
    torch.manual_seed(0)
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    net = build("small_cnn", DIGITS, width=8)
    results = []
    for scaler in (None, torch.amp.GradScaler("cpu")):
        model = copy.deepcopy(net)
        recipe = RECIPES.get("erm")({}, _ctx())
        recipe.scaler = scaler
        seen = []
        model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        opt = make_optimizer(model.parameters(), {"name": "sgd", "lr": 0.5, "momentum": 0.0})
        loss, logits = recipe.step(model, opt, x, y, StepState(0, 0, recipe.ctx))
        assert loss.dtype == logits.dtype == torch.float32 and torch.isfinite(loss)
        results.append((seen[0], torch.cat([p.detach().flatten() for p in model.parameters()])))
    (dtype32, w32), (dtype16, w16) = results
    assert dtype32 == torch.float32 and dtype16 == torch.float16
    before = torch.cat([p.detach().flatten() for p in net.parameters()])
    step32, step16 = w32 - before, w16 - before
    assert step32.abs().max() > 1e-3  # it did move
    assert torch.allclose(step16, step32, atol=2e-3 * step32.abs().max().item(), rtol=0.05)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_channels_last_leaves_outputs_equal(arch):
    small = {"wrn": {"depth": 10, "width": 1}, "resnet110": {"depth": 8}}.get(arch, {})
    info = DATASETS.get("cifar10")
    torch.manual_seed(0)
    net = build(arch, info, **small).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        want = net(x)
        cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
        got = cl(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)


def test_batches_plain_on_cpu_no_pinned_buffers():
    split = Split(torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10))
    batches = Batches(split, 4, torch.device("cpu"))
    assert batches.pinned is False and not hasattr(batches, "buffers")
    order = torch.tensor([3, 1, 4, 0, 9, 2, 6, 5, 8, 7])
    got = list(batches(order))
    assert [len(y) for _, y in got] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in got]), order)
    assert torch.equal(torch.cat([x.flatten() for x, _ in got]), order.float())


def test_diverging_loss_is_caught():
    train_split, _ = DIGITS.load()
    net = build("small_cnn", DIGITS, width=8)
    settings = dict(SETTINGS, optimizer={"name": "sgd", "lr": 1e12, "momentum": 0.9}, epochs=3)
    with pytest.raises(FloatingPointError, match="loss became (nan|inf) between steps"):
        train(net, "erm", settings, Split(train_split.x[:256], train_split.y[:256]), DIGITS, 0,
              torch.device("cpu"), show_bar=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_amp_channels_last_pinned():
    train_split, test = DIGITS.load()
    net = build("small_cnn", DIGITS)
    meta = train(net, "erm", dict(SETTINGS, epochs=5, arch_args={}), train_split, DIGITS, 0,
                 torch.device("cuda"), show_bar=False)
    assert meta["amp"] is True and meta["channels_last"] is True
    with torch.no_grad():
        acc = (net(test.x.cuda()).argmax(1).cpu() == test.y).float().mean().item()
    assert acc > 0.8

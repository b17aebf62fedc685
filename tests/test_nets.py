"""Every registered architecture: forward/backward through the registry on CPU, [0,1] input, normalisation inside."""
from __future__ import annotations

import pytest
import torch

from bench.data import DATASETS
from bench.nets import ARCHS, Normalize, build

SMALL_ARGS = {"wrn": {"depth": 10, "width": 1}, "resnet110": {"depth": 20}}
DATASET_FOR = {"small_cnn": "digits", "basic_convnet": "mnist", "cnn7": "mnist"}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_forward_backward(arch):
    info = DATASETS.get(DATASET_FOR.get(arch, "cifar10"))
    torch.manual_seed(0)
    net = build(arch, info, **SMALL_ARGS.get(arch, {}))
    assert isinstance(net[0], Normalize)
    x = torch.rand(4, *info.shape)
    out = net(x)
    assert out.shape == (4, info.num_classes)
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_default_wide_resnet_is_wrn_34_10():
    net = build("wrn", DATASETS.get("cifar10"))
    n = sum(p.numel() for p in net.parameters())
    assert 46_000_000 < n < 46_300_000  # WRN-34-10 has about 46.2M parameters


def test_normalize_layer_matches_dataset_stats():
    info = DATASETS.get("cifar10")
    norm = Normalize(info.mean, info.std)
    x = torch.rand(2, 3, 4, 4)
    expect = (x - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    assert torch.allclose(norm(x), expect)


def test_bad_depth_is_an_error():
    with pytest.raises(ValueError, match="6n\\+4"):
        build("wrn", DATASETS.get("cifar10"), depth=11)


def test_reference_initialisations():
    """basic_convnet as TRADES' small_cnn.py (Kaiming-normal fan-in kernels, zero conv biases, zero last layer);
    wrn and resnet110 as wideresnet.py / cifar_resnet.py (kernels ~ N(0, 2 / (k*k*out)), BatchNorm 1/0; WRN's
    linear bias 0); init: torch keeps PyTorch's defaults."""
    torch.manual_seed(0)
    body = build("basic_convnet", DATASETS.get("mnist"))[1]
    convs = [m for m in body if isinstance(m, torch.nn.Conv2d)]
    assert all(float(c.bias.abs().max()) == 0 for c in convs)
    assert float(body[-1].weight.abs().max()) == 0 and float(body[-1].bias.abs().max()) == 0
    c = convs[-1]  # 64 x 64 x 3 x 3: fan in 576, std sqrt(2 / 576) = 0.0589
    assert float(c.weight.std()) == pytest.approx((2 / 576) ** 0.5, rel=0.05)
    torch.manual_seed(0)
    plain = build("basic_convnet", DATASETS.get("mnist"), init="torch")[1]
    assert float(plain[-1].weight.abs().max()) > 0
    assert float(plain[-1].weight.std()) == pytest.approx((1 / 200) ** 0.5 / 3 ** 0.5, rel=0.15)  # U(+-1/sqrt(200))
    for arch, args, conv in (("wrn", {"depth": 10, "width": 2}, lambda n: n.stages[2][0].conv2),
                             ("resnet110", {"depth": 20}, lambda n: n.stages[2][0].conv2)):
        torch.manual_seed(0)
        net = build(arch, DATASETS.get("cifar10"), **args)[1]
        k = conv(net)
        fan_out = k.kernel_size[0] * k.kernel_size[1] * k.out_channels
        assert float(k.weight.std()) == pytest.approx((2 / fan_out) ** 0.5, rel=0.05), arch
    assert float(build("wrn", DATASETS.get("cifar10"), depth=10, width=1)[1].head.bias.abs().max()) == 0
    with pytest.raises(ValueError, match="init must be one of reference, torch"):
        build("wrn", DATASETS.get("cifar10"), depth=10, init="xavier")


def test_an_arch_that_cannot_be_built_on_the_meta_device_still_validates(monkeypatch):
    """Validation builds nets on the meta device to catch refused arguments early; a plugin net whose
    constructor needs real tensors (here: .item()) is left to its real build instead of failing the suite."""
    from torch import nn

    from bench.suite.cards import REPO_MODELS, load_card, resolve_training

    def hostile(in_ch: int, size: int, classes: int) -> nn.Module:
        scale = torch.ones(1).item()  # raises on the meta device
        return nn.Sequential(nn.Flatten(), nn.Linear(in_ch * size * size, classes)).requires_grad_(scale > 0)

    monkeypatch.setitem(ARCHS._items, "meta_hostile", hostile)
    monkeypatch.setitem(ARCHS._origin, "meta_hostile", "test")
    card = load_card("erm", [REPO_MODELS], "t", "r")
    assert resolve_training(card, {"arch": "meta_hostile"}, "digits", "t")["arch"] == "meta_hostile"
    assert build("meta_hostile", DATASETS.get("digits"))(torch.rand(2, 1, 8, 8)).shape == (2, 10)

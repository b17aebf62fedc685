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

"""Residual nets for 32x32 inputs: resnet18 (CIFAR variant), preact_resnet18, wrn (WideResNet with
depth and width), resnet110 (He et al. 2016's CIFAR ResNet-110, the randomized-smoothing baseline)."""
from torch import nn
from torch.nn import functional as F

from bench.nets._base import ARCHS, check_init, he_normal_fan_out


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class PreActBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, drop: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        short = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.drop:
            out = F.dropout(out, self.drop, self.training)
        return self.conv2(out) + short


def _stage(block, cin, cout, n, stride, **kw):
    layers = []
    for i in range(n):
        layers.append(block(cin if i == 0 else cout, cout, stride if i == 0 else 1, **kw))
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool), as in the TRADES/MART/AT-PR code."""

    def __init__(self, in_ch, classes, preact=False, blocks=(2, 2, 2, 2)):
        super().__init__()
        block = PreActBlock if preact else BasicBlock
        self.preact = preact
        self.stem = nn.Conv2d(in_ch, 64, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(512 if preact else 64)  # after the stages when pre-activated
        widths, cin, stages = (64, 128, 256, 512), 64, []
        for i, (w, n) in enumerate(zip(widths, blocks)):
            stages.append(_stage(block, cin, w, n, 1 if i == 0 else 2))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(512, classes)

    def forward(self, x):
        out = self.stem(x)
        if not self.preact:
            out = F.relu(self.bn(out))
        out = self.stages(out)
        if self.preact:
            out = F.relu(self.bn(out))
        return self.head(F.adaptive_avg_pool2d(out, 1).flatten(1))


@ARCHS.register("resnet18")
def resnet18(in_ch: int, size: int, classes: int) -> nn.Module:
    """ResNet-18 (He et al. 2016), CIFAR variant."""
    return ResNet(in_ch, classes)


@ARCHS.register("preact_resnet18")
def preact_resnet18(in_ch: int, size: int, classes: int) -> nn.Module:
    """Pre-activation ResNet-18 (He et al. 2016b), as in Rice et al. 2020 and Wong et al. 2020."""
    return ResNet(in_ch, classes, preact=True)


class WideResNet(nn.Module):
    def __init__(self, in_ch, classes, depth, width, drop):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError("WideResNet depth must be 6n+4 (10, 16, 22, 28, 34, ...)")
        n = (depth - 4) // 6
        widths = (16, 16 * width, 32 * width, 64 * width)
        self.stem = nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False)
        self.stages = nn.Sequential(
            _stage(PreActBlock, widths[0], widths[1], n, 1, drop=drop),
            _stage(PreActBlock, widths[1], widths[2], n, 2, drop=drop),
            _stage(PreActBlock, widths[2], widths[3], n, 2, drop=drop),
        )
        self.bn = nn.BatchNorm2d(widths[3])
        self.head = nn.Linear(widths[3], classes)

    def forward(self, x):
        out = F.relu(self.bn(self.stages(self.stem(x))))
        return self.head(F.adaptive_avg_pool2d(out, 1).flatten(1))


@ARCHS.register("wrn")
def wrn(in_ch: int, size: int, classes: int, depth: int = 34, width: int = 10, dropout: float = 0.0,
        init: str = "reference") -> nn.Module:
    """WideResNet-depth-width (Zagoruyko & Komodakis 2016); WRN-34-10 is MAIL's and MART's, WRN-28-10 ADT's.
    ``init: reference``: the wideresnet.py those codes share (he_normal_fan_out, linear bias 0); ``torch``:
    PyTorch's defaults."""
    net = WideResNet(in_ch, classes, depth, width, dropout)
    if check_init(init):
        he_normal_fan_out(net)
        nn.init.zeros_(net.head.bias)
    return net


class CifarResNet(nn.Module):
    def __init__(self, in_ch, classes, depth):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError("CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110)")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stages = nn.Sequential(
            _stage(BasicBlock, 16, 16, n, 1), _stage(BasicBlock, 16, 32, n, 2), _stage(BasicBlock, 32, 64, n, 2)
        )
        self.head = nn.Linear(64, classes)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1).flatten(1))


@ARCHS.register("resnet110")
def resnet110(in_ch: int, size: int, classes: int, depth: int = 110, init: str = "reference") -> nn.Module:
    """CIFAR ResNet-110 (He et al. 2016), the architecture of Cohen et al. 2019's smoothing results.
    ``init: reference``: their code/archs/cifar_resnet.py (he_normal_fan_out); ``torch``: PyTorch's defaults."""
    net = CifarResNet(in_ch, classes, depth)
    return he_normal_fan_out(net) if check_init(init) else net

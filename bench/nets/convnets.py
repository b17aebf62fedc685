"""Plain convolutional nets: small_cnn (digits), basic_convnet (TRADES/MART MNIST), pytorch_mnist (the PyTorch
example MNIST net of advbench, the certified-PR code and AT-PR), wong_mnist (fast_adversarial), cnn7 (Shi et al.)."""
from torch import nn

from bench.nets._base import ARCHS, check_init


@ARCHS.register("small_cnn")
def small_cnn(in_ch: int, size: int, classes: int, width: int = 32) -> nn.Module:
    """A small CNN for 8x8 digits: two 3x3 convs, a 2x2 max-pool and two linear layers."""
    return nn.Sequential(
        nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (size // 2) ** 2, 128), nn.ReLU(),
        nn.Linear(128, classes),
    )


@ARCHS.register("basic_convnet")
def basic_convnet(in_ch: int, size: int, classes: int, init: str = "reference") -> nn.Module:
    """The MNIST 'SmallCNN' of TRADES (Zhang et al. 2019) and MART (Wang et al. 2020):
    conv32-conv32-pool-conv64-conv64-pool-fc200-fc200-fc, dropout 0.5 after the first fc. ``init: reference``
    as TRADES' models/small_cnn.py: Kaiming-normal conv kernels (fan in), zero conv biases, and a zero last
    layer (weight and bias); ``init: torch`` keeps PyTorch's defaults."""
    s = ((size - 4) // 2 - 4) // 2
    net = nn.Sequential(
        nn.Conv2d(in_ch, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * s * s, 200), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(200, 200), nn.ReLU(),
        nn.Linear(200, classes),
    )
    if check_init(init):
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(net[-1].weight)
        nn.init.zeros_(net[-1].bias)
    return net


@ARCHS.register("pytorch_mnist")
def pytorch_mnist(in_ch: int, size: int, classes: int) -> nn.Module:
    """The PyTorch examples' MNIST ConvNet (pytorch/examples mnist/main.py), the MNIST net of advbench (PRL),
    the certified-PR paper's code (utils/nets.py ConvNet) and AT-PR (simpleCNN's MNISTNet): conv32-conv64
    (3x3, no padding), 2x2 max-pool, dropout 0.25, fc128, dropout 0.5, fc; PyTorch's default init."""
    s = (size - 4) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * s * s, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, classes),
    )


@ARCHS.register("wong_mnist")
def wong_mnist(in_ch: int, size: int, classes: int) -> nn.Module:
    """Wong et al. 2020's MNIST net (fast_adversarial MNIST/mnist_net.py): conv16 and conv32 (4x4, stride 2,
    padding 1), fc100, fc; PyTorch's default init."""
    s = size // 4
    return nn.Sequential(
        nn.Conv2d(in_ch, 16, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * s * s, 100), nn.ReLU(),
        nn.Linear(100, classes),
    )


@ARCHS.register("cnn7")
def cnn7(in_ch: int, size: int, classes: int, width: int = 64, linear: int = 512) -> nn.Module:
    """CNN7 of Shi et al. 2021 ('Fast certified robust training with short warmup'): five 3x3 convs
    (64, 64, 128, 128, 128; the third with stride 2), each followed by BatchNorm and ReLU, then a
    512-unit linear layer with BatchNorm and ReLU, and the classifier."""
    w = width
    half = (size + 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * w * half * half, linear), nn.BatchNorm1d(linear), nn.ReLU(),
        nn.Linear(linear, classes),
    )

"""A digits model for the benchmarks: small_cnn trained briefly with ERM (seconds on a CPU)."""
import torch

from bench.data import DATASETS
from bench.nets import build


def digits_model(epochs: int = 4, device="cpu"):
    info = DATASETS.get("digits")
    torch.manual_seed(0)
    net = build("small_cnn", info).to(device)
    train, test = info.load()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(train))
        for i in range(0, len(train), 64):
            j = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(net(train.x[j].to(device)), train.y[j].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval(), info, test

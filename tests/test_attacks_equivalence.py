"""For deterministic attacks, the harness's per-sample adv_pred equals running the same torchattacks class
directly, with the papers' parameters written out, on the same trained model and clean-correct samples."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchattacks

from bench.data import DATASETS
from bench.evals import EVALS, EvalContext
from bench.nets import build

DIGITS = DATASETS.get("digits")
EPS = 0.1  # digits' Linf budget



@pytest.fixture(scope="module")
def trained():
    """small_cnn trained 2 epochs on digits (a second), and 32 test samples."""
    torch.manual_seed(0)
    train, test = DIGITS.load()
    model = build("small_cnn", DIGITS)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(2):
        for i in range(0, len(train), 64):
            loss = torch.nn.functional.cross_entropy(model(train.x[i:i + 64]), train.y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model, test.x[:32], test.y[:32]


DIRECT = {  # the parameters written out: the threat table must produce exactly these on digits
    "FGSM": lambda m: torchattacks.FGSM(m, eps=EPS),
    "BIM": lambda m: torchattacks.BIM(m, eps=EPS, alpha=EPS / 4, steps=10),
    "MIFGSM": lambda m: torchattacks.MIFGSM(m, eps=EPS, alpha=EPS / 4, steps=10, decay=1.0),
    "TPGD": lambda m: torchattacks.TPGD(m, eps=EPS, alpha=EPS / 4, steps=10),
    "FFGSM": lambda m: torchattacks.FFGSM(m, eps=EPS, alpha=1.25 * EPS),
    "PGD": lambda m: torchattacks.PGD(m, eps=EPS, alpha=EPS / 4, steps=10, random_start=True),
    "PGD-20": lambda m: torchattacks.PGD(m, eps=EPS, alpha=EPS / 4, steps=20, random_start=True),
    "PGDL2": lambda m: torchattacks.PGDL2(m, eps=0.5, alpha=0.1, steps=10),
    "APGD": lambda m: torchattacks.APGD(m, eps=EPS, steps=10, seed=0),
    "APGDT": lambda m: torchattacks.APGDT(m, eps=EPS, steps=10, n_classes=10, seed=0),
    "CW": lambda m: torchattacks.CW(m, c=1, kappa=0, steps=50, lr=0.01),
}


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_harness_adv_pred_equals_direct_torchattacks(trained, name):
    model, x, y = trained
    cls = EVALS.get("attack")
    ev, params = cls.resolve(name, {}, DIGITS, "suite.yaml:1")
    out = cls(ev, params).run(model, x, y, EvalContext(DIGITS, torch.device("cpu"), 256, 0, {}))
    with torch.no_grad():
        clean = model(x).argmax(1)
    ok = clean == y
    assert 20 < ok.sum() < 32  # a trained model with some mistakes
    torch.manual_seed(0)  # the harness seeds the cell's generators with the cell seed (0 here)
    adv = DIRECT[name](model)(x[ok], y[ok]).detach()
    with torch.no_grad():
        direct = clean.clone()
        direct[ok] = model(adv).argmax(1)
    assert np.array_equal(out["adv_pred"], direct.numpy())
    assert np.array_equal(out["correct"], (direct == y).numpy() & ok.numpy())
    delta = (adv - x[ok]).flatten(1)
    assert np.allclose(out["linf"][ok.numpy()], delta.abs().amax(1).numpy(), atol=1e-6)

"""The training engine: optimizers, schedules, a real decrease of the loss, checkpoints."""
from __future__ import annotations

import hashlib
import os
import math

import pytest
import torch

from bench.errors import UserError
from bench.results import integrity, store
from bench.execute.compute import compute
from bench.plan.cells import TrainCell
from bench.suite.config import canonical
from bench.execute.train import lr_factor, make_optimizer


def test_multistep_schedule_per_step():
    s = {"name": "multistep", "milestones": (2, 3), "gamma": 0.1}
    factors = [lr_factor(s, step, steps_per_epoch=10, total_steps=40) for step in (0, 19, 20, 29, 30, 39)]
    assert factors == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_goes_from_one_to_zero():
    s = {"name": "cosine"}
    assert lr_factor(s, 0, 10, 100) == 1.0
    assert lr_factor(s, 50, 10, 100) == pytest.approx(0.5)
    assert lr_factor(s, 100, 10, 100) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adadelta", torch.optim.Adadelta)])
def test_optimizers(name, cls):
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = make_optimizer(p, {"name": name, "lr": 0.5, "momentum": 0.8, "weight_decay": 1e-4})
    assert isinstance(opt, cls) and opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[0]["weight_decay"] == 1e-4


def _cell(method="erm", epochs=3, seed=0, args=None):
    cfg = {"arch": "small_cnn", "arch_args": {"width": 8}, "epochs": epochs, "batch_size": 128,
           "optimizer": {"name": "adam", "lr": 3e-3}, "schedule": {"name": "cosine"}, "augment": "none",
           "args": args or {}}
    return TrainCell("digits", method, method, seed, canonical(cfg), None, False)


def test_training_learns_and_checkpoint_round_trips(tmp_path):
    cell = _cell()
    compute(cell, tmp_path, "cpu", progress=False)
    meta = store.model_meta(tmp_path, cell.id)
    assert meta["final_train_accuracy"] > 0.7 and math.isfinite(meta["final_train_loss"])
    assert meta["steps"] == 3 * math.ceil(1297 / 128) and meta["train_seconds"] > 0
    assert meta["versions"]["torch"].startswith(torch.__version__.split("+")[0])
    state = store.load_state(tmp_path, cell.id)  # weights_only=True
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    model = cell.load(tmp_path, "cpu")
    from bench.data import DATASETS

    _, test = DATASETS.get("digits").load()
    acc = (model(test.x).argmax(1) == test.y).float().mean().item()
    assert acc > 0.7
    # a finished cell is not trained again
    before = (tmp_path / "models" / f"{cell.id}.pt").stat().st_mtime_ns
    compute(cell, tmp_path, "cpu", progress=False)
    assert (tmp_path / "models" / f"{cell.id}.pt").stat().st_mtime_ns == before


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    a, b, c = _cell(epochs=1, seed=0), _cell(epochs=1, seed=0), _cell(epochs=1, seed=1)
    assert a.id == b.id and a.id != c.id
    compute(a, tmp_path / "a", "cpu", progress=False)
    compute(b, tmp_path / "b", "cpu", progress=False)
    compute(c, tmp_path / "c", "cpu", progress=False)
    sa, sb, sc = (store.load_state(tmp_path / d, x.id) for d, x in (("a", a), ("b", b), ("c", c)))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())  # a module-level function whose name no other test patches

    (tmp_path / "models").mkdir()
    torch.save({"x": Evil()}, tmp_path / "models" / "bad.pt")
    with pytest.raises(UserError, match=r"bad\.json: missing"):  # no record: not even read
        store.load_state(tmp_path, "bad")
    digest = hashlib.sha256((tmp_path / "models" / "bad.pt").read_bytes()).hexdigest()
    (tmp_path / "models" / "bad.json").write_bytes(integrity.seal_record({"id": "bad"}, digest))
    with pytest.raises(UserError, match=r"bad\.pt: not a plain state_dict: it pickles posix\.getcwd,"):
        store.load_state(tmp_path, "bad")  # a record that vouches for it: weights_only refuses it all the same


def test_normalize_setting_sets_the_nets_first_layer(tmp_path):
    """`normalize: none` trains on raw [0,1] pixels (mean 0, std 1); {mean, std} broadcasts one value to every
    channel; without the key the net keeps the dataset's statistics, and the cell's config (so its id) has
    no normalize key."""
    from bench.suite.cards import REPO_MODELS, load_card, resolve_training
    from bench.data import DATASETS

    def cfg(**over):
        return resolve_training(load_card("erm", [REPO_MODELS], "t", "r"), over, "digits", "t")

    assert "normalize" not in cfg(epochs=1)
    assert cfg(normalize="none")["normalize"] == {"mean": [0.0], "std": [1.0]}
    assert cfg(normalize={"mean": 0.5, "std": [0.25]})["normalize"] == {"mean": [0.5], "std": [0.25]}
    base = _cell(epochs=1)
    raw = TrainCell("digits", "erm", "erm", 0, canonical({**base.config, "normalize": {"mean": [0.0], "std": [1.0]}}),
                    None, False)
    assert raw.id != base.id
    compute(raw, tmp_path, "cpu", progress=False)
    net = raw.load(tmp_path, "cpu")
    assert net[0].mean.flatten().tolist() == [0.0] and net[0].std.flatten().tolist() == [1.0]
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(net[0](x), x)
    info = DATASETS.get("digits")
    compute(base, tmp_path, "cpu", progress=False)
    assert base.load(tmp_path, "cpu")[0].std.flatten().tolist() == pytest.approx(list(info.std))


def test_cyclic_schedule_is_one_linear_cycle():
    """Wong et al.'s one-cycle lr: np.interp(t, [0, peak, 1], [0, 1, 0]) of the base lr, per step."""
    import numpy as np

    for peak in (0.4, 0.5):
        sched = {"name": "cyclic", "peak": peak}
        for step in range(0, 101, 7):
            want = float(np.interp(step / 100, [0, peak, 1], [0, 1, 0]))
            assert lr_factor(sched, step, 10, 100) == pytest.approx(want, abs=1e-12)
    assert lr_factor({"name": "cyclic", "peak": 0.4}, 40, 10, 100) == pytest.approx(1.0)

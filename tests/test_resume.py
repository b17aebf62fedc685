"""Training that resumes (bench.execute.resume): every registered recipe, through the registry, trained for
two epochs on a tiny split, killed after its first epoch and resumed, ends bit-identical to an
uninterrupted training on the CPU (model, optimizer and the recipe's own state all count: a missed piece
shows in the weights). Parametrised over RECIPES at collection time, so a recipe added later is covered.
Also: the CLI prints where a training resumes, removes the partial state when the cell is done, and
`bench gc` removes partial states no cell names."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bench.data import DATASETS, Split
from bench.execute import progress
from bench.execute.resume import Checkpoint
from bench.execute.train import train
from bench.nets import build
from bench.plan.grid import plan
from bench.recipes import RECIPES
from bench.results import partial, store
from bench.suite.config import load_suite

# epoch-indexed switches moved inside the two epochs, so the resumed epoch crosses them
EARLY = {"burn_in": 1, "begin_epoch": 2, "warmup": 1, "ramp_epochs": 1.5, "warmup_epochs": 0.5}
# and the costs made small (searches, samples, generator widths): seconds per recipe
LIGHT = {"steps": 2, "samples": 2, "candidates": 2, "steps_extra": 1, "refine_cap": 2, "ngf": 8, "z_dim": 4,
         "t_steps": 1}


class Killed(Exception):
    pass


def _settings(name: str, info) -> dict:
    cls = RECIPES.get(name)
    args = cls.resolve({k: v for k, v in {**EARLY, **LIGHT}.items() if k in cls.params}, info)
    return {"batch_size": 8, "epochs": 2, "augment": "crop_flip", "crop": {"pad": 1},
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
            "schedule": {"name": "cosine"}, "args": args}


def _train(name: str, split, checkpoint=None):
    info = DATASETS.get("digits")
    torch.manual_seed(0)
    # cnn7: convolutions, BatchNorm and linear layers only, which every method (IBP included) supports
    net = build("cnn7", info, width=4, linear=16)
    stats = train(net, name, _settings(name, info), split, info, 0, torch.device("cpu"), show_bar=False,
                  checkpoint=checkpoint)
    return net, stats


@pytest.fixture(scope="module")
def split():
    train_split, _ = DATASETS.get("digits").load()
    return Split(train_split.x[:24], train_split.y[:24])


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_resumed_training_is_bit_identical(name, split, tmp_path, monkeypatch):
    whole, stats = _train(name, split)
    checkpoint = Checkpoint(tmp_path, "cell", name)

    def kill_after_first(label, epoch, *args):
        if epoch == 1:
            raise Killed

    monkeypatch.setattr(progress, "epoch", kill_after_first)
    with pytest.raises(Killed):
        _train(name, split, checkpoint)
    monkeypatch.undo()
    assert checkpoint.path.exists()
    # a new process: other generator states, a fresh model
    torch.manual_seed(1234)
    np.random.seed(5)
    random.seed(7)
    resumed, resumed_stats = _train(name, split, checkpoint)
    for (key, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name}: {key} differs after resuming"
    for key in ("steps", "final_train_loss", "final_train_accuracy"):
        assert stats[key] == resumed_stats[key], key


def test_recipe_state_refuses_what_it_cannot_save():
    info = DATASETS.get("digits")
    cls = RECIPES.get("erm")
    recipe = cls(cls.resolve({}, info), None)
    recipe.lookup = {"a": object()}
    with pytest.raises(TypeError, match="lookup"):
        recipe.state_dict()


SUITE = """\
    name: resume
    datasets:
      digits: {n_test: 20}
    recipes:
      - {card: erm, epochs: 3}
    evaluations: [clean]
    """


def test_cli_resumes_training_and_cleans_up(tiny_suite, cli, tmp_path, monkeypatch):
    path = tiny_suite(SUITE)
    code, _, err = cli("run", path, "--out", tmp_path / "whole", "--device", "cpu", "--quiet")
    assert code == 0, err
    (tid,) = [c.id for c in plan(load_suite(path))[0]]
    real = progress.Board.epoch

    def kill_after_second(self, label, epoch, *args):
        real(self, label, epoch, *args)
        if epoch == 2:
            raise KeyboardInterrupt

    out = tmp_path / "killed"
    monkeypatch.setattr(progress.Board, "epoch", kill_after_second)
    code, _, err = cli("run", path, "--out", out, "--device", "cpu", "--log", "run.log")
    assert code == 130 and "finished cells are kept" in err
    assert partial.train_state_path(out, tid).exists()
    monkeypatch.undo()
    code, _, err = cli("run", path, "--out", out, "--device", "cpu", "--log", "run.log")
    assert code == 0, err
    assert "resuming digits/erm/s0 at epoch 3/3" in (out / "run.log").read_text()
    assert not partial.train_state_path(out, tid).exists()
    a, b = store.load_state(tmp_path / "whole", tid), store.load_state(out, tid)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a damaged training state (one flipped byte) is never loaded: the training starts again, said in one line
    kill = tmp_path / "damaged"
    monkeypatch.setattr(progress.Board, "epoch", kill_after_second)
    assert cli("run", path, "--out", kill, "--device", "cpu", "--quiet")[0] == 130
    monkeypatch.undo()
    state = partial.train_state_path(kill, tid)
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0x01
    state.write_bytes(bytes(data))
    code, _, err = cli("run", path, "--out", kill, "--device", "cpu", "--log", "run.log")
    log = (kill / "run.log").read_text()
    assert code == 0, err
    assert "do not match the sha256" in log and "from epoch 1" in log and "resuming" not in log
    c = store.load_state(kill, tid)
    assert all(torch.equal(a[k], c[k]) for k in a)
    # a partial state of a cell the suite no longer names, and one of a done cell: bench gc removes both
    stray = partial.train_state_path(out, "0" * 16)
    stray.write_bytes(b"x")
    done = partial.train_state_path(out, tid)
    done.write_bytes(b"x")
    code, stdout, _ = cli("gc", out)
    assert code == 0 and not stray.exists() and not done.exists()

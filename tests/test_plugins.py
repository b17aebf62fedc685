"""Plugins (bench.suite.plugins): a package under tests/ registers a recipe, an attack and an evaluation kind that
a suite then runs; clashes and bad modules are one line; `bench list` names each entry's module."""
from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from bench.suite import plugins
from bench.data import DATASETS, subset
from bench.nets import build
from bench.results.folder import read_rows

CARD = """\
method: toy-ls
paper: label smoothing
args: {smoothing: 0.2}
datasets:
  digits: {arch: small_cnn, arch_args: {width: 8}, epochs: 1, batch_size: 128, optimizer: {name: adam, lr: 3.0e-3}}
"""
SUITE = """\
name: toy
plugins: [{module}]
cards: cards
datasets:
  digits: {{n_test: 60}}
recipes: [{{card: toy, as: toy}}]
evaluations:
  - clean
  - attack: ToySign
  - {{toy-margin: null, margin: 0.5}}
"""


def _env() -> dict:
    """The environment of a fresh bench process that can import the test plugin package (tests/ on the path)."""
    tests = str(Path(__file__).resolve().parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(autouse=True)
def unregister():
    """Take the plugin's registrations out again, so registry-wide tests see bench's own entries only."""
    from bench.attacks import ATTACKS
    from bench.evals import EVALS
    from bench.recipes import RECIPES
    from bench.results.metrics import METRICS

    saved = [(reg, dict(reg._items), dict(reg._origin)) for reg in (ATTACKS, EVALS, RECIPES, METRICS)]
    yield
    for reg, items, origin in saved:
        reg._items, reg._origin = items, origin
    for name in [m for m in sys.modules if m.split(".")[0] == "bench_toyplugin"]:
        del sys.modules[name]


def test_plugin_recipe_attack_and_evaluation_run_in_a_suite(tmp_path, cli):
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "toy.yaml").write_text(CARD)
    suite = tmp_path / "toy.yaml"
    suite.write_text(SUITE.format(module="bench_toyplugin"))
    code, _, err = cli("run", suite, "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    rows = read_rows(tmp_path / "out")
    assert sorted(set(rows["evaluation"])) == ["attack:ToySign", "clean", "toy-margin"]
    info = DATASETS.get("digits")
    net = build("small_cnn", info, width=8)
    net.load_state_dict(torch.load(next((tmp_path / "out" / "models").glob("*.pt")), weights_only=True))
    net.eval()
    _, test = info.load()
    idx, sub = subset(test, 60, 0)
    with torch.no_grad():
        logits = net(sub.x)
    true = logits.gather(1, sub.y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(sub.y, 10).bool(), float("-inf")).amax(1)
    margin = rows[rows["evaluation"] == "toy-margin"].set_index("index").loc[idx.numpy()]
    assert (margin["correct"].to_numpy() == ((true - others) > 0.5).numpy()).all()
    assert 0 < margin["correct"].sum() < (logits.argmax(1) == sub.y).sum().item()
    # the attack: one sign step of the dataset's Linf budget (0.1 on digits) from each clean-correct input
    x = sub.x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(net(x), sub.y, reduction="sum"), x)
    with torch.no_grad():
        adv_pred = net((sub.x + 0.1 * grad.sign()).clamp(0, 1)).argmax(1)
    attack = rows[rows["evaluation"] == "attack:ToySign"].set_index("index").loc[idx.numpy()]
    ok = (logits.argmax(1) == sub.y).numpy()
    assert (attack["adv_pred"].to_numpy()[ok] == adv_pred.numpy()[ok]).all()
    assert attack["correct"].sum() < ok.sum()  # the step flips some predictions
    # the leaderboard shows them: a board for the toy attack's threat model, the toy evaluation on the entry page
    code, _, err = cli("report", tmp_path / "out", "--site", tmp_path / "site")
    assert code == 0, err
    index = (tmp_path / "site" / "index.html").read_text()
    board = re.search(r'href="(board-[0-9a-f]+\.html)">digits, Linf, ε = 0.1<', index).group(1)
    page = (tmp_path / "site" / board).read_text()
    assert "attack:ToySign" in page and ">toy</a>" in page and "recipe toy-ls (card toy)" in page
    entry = re.search(r'href="(entry-[0-9a-f]+\.html)">toy<', page).group(1)
    assert "<td data-value=\"toy-margin\">toy-margin</td>" in (tmp_path / "site" / entry).read_text()
    # a fresh `bench check` process has the plugin's metric declaration: it imports the module run.json names
    ref = tmp_path / "ref.csv"
    done = subprocess.run([sys.executable, "-m", "bench", "check", str(tmp_path / "out"), "--reference", str(ref),
                           "--write"], capture_output=True, text=True, cwd=tmp_path, env=_env())
    assert done.returncode == 0, done.stderr
    assert "toy-margin,margin_rate," in ref.read_text()
    code, text, _ = cli("list", "recipes", "toy*")
    assert code == 0 and "toy-ls" in text and next(l for l in text.splitlines() if l.startswith("toy-ls ")).split()[-1] \
        == "bench_toyplugin"
    _, text, _ = cli("list", "attacks", "PGD")
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))
    start = lines[0].rindex("from")  # the last column, wrapped onto continuation lines when long
    assert "".join(line[start:].strip() for line in lines[rule + 1:]) == "bench.attacks.torchattacks_registry"


def test_clashing_and_missing_plugins_are_one_line(tmp_path, cli):
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "toy.yaml").write_text(CARD)
    suite = tmp_path / "toy.yaml"
    suite.write_text(SUITE.format(module="bench_toyplugin.clash"))
    code, _, err = cli("validate", suite)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert ("toy.yaml:2: plugins: attack 'PGD' is registered by both bench.attacks.torchattacks_registry and "
            "bench_toyplugin.clash") in err
    suite.write_text(SUITE.format(module="bench_toyplugin.nothing"))
    code, _, err = cli("validate", suite)
    assert code == 2 and "cannot import plugin module 'bench_toyplugin.nothing'" in err


def test_entry_point_group_is_imported(monkeypatch):
    assert plugins.GROUP == "bench.plugins"  # the group installed packages declare (README)
    calls = []
    ep = importlib.metadata.EntryPoint(name="toy", value="bench_toyplugin", group=plugins.GROUP)
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: calls.append(group) or ([ep] if group == plugins.GROUP else []))
    monkeypatch.setattr(plugins, "_import", lambda module, where, field: calls.append(module))
    plugins.load([])
    assert calls == [plugins.GROUP, "bench_toyplugin"]


def test_a_results_folder_names_plugins_but_never_brings_them(tmp_path):
    """run.json's `plugins:` are imported only when installed outside the folder, never from the standard
    library or from the folder itself (a results folder is data)."""
    from bench.errors import UserError

    (tmp_path / "evil_plugin.py").write_text("raise SystemExit('ran code from the results folder')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(UserError, match="from inside the results folder"):
            plugins.load_recorded(tmp_path, ["evil_plugin"])
    finally:
        sys.path.remove(str(tmp_path))
    assert "evil_plugin" not in sys.modules
    with pytest.raises(UserError, match="'antigravity' is part of Python"):
        plugins.load_recorded(tmp_path, ["antigravity"])
    with pytest.raises(UserError, match="'no_such_plugin_xyz' is not installed"):
        plugins.load_recorded(tmp_path, ["no_such_plugin_xyz"])

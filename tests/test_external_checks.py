"""External models and the checks before a run (issue 24): a `module:` builder beside the suite imports
without PYTHONPATH (item 7); `normalize:` is required, `none` allowed, with the reason (item 8); `bench
validate` and `--dry-run` check datasets and load models before saying ok, and name model cells for what
they do (item 9)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from bench.data import DATASETS, check_installed
from bench.nets import build
from bench.plan.grid import plan
from bench.suite.config import load_suite

BUILDER = '''\
from torch import nn


def build(width=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
'''


def _suite(folder: Path, models: str, datasets: str = "digits: {n_test: 12}") -> Path:
    path = folder / "s.yaml"
    path.write_text(f"name: s\ndatasets:\n  {datasets}\nmodels:\n{models}evaluations: [clean]\n")
    return path


def test_a_builder_beside_the_suite_imports_without_pythonpath(tmp_path, cli):
    (tmp_path / "beside_mynets.py").write_text(BUILDER)
    suite = _suite(tmp_path, "  - {as: mine, module: 'beside_mynets:build', normalize: none}\n")
    before = list(sys.path)
    try:
        code, text, err = cli("validate", suite)
        assert code == 0 and ": ok (" in text, err
        code, text, err = cli("run", suite, "--out", tmp_path / "out", "--quiet")
        assert code == 0 and "[load 1/1] digits mine seed 0" in text, err
        assert sys.path == before  # the suite's folder is on the path only while the suite is read and run
        meta = [json.loads(p.read_text()) for p in (tmp_path / "out" / "models").glob("*.json")]
        assert meta[0]["files"] == {"import_path": str(tmp_path.resolve())}
        # another process (a Ray worker) builds it from the import path the cell carries
        sys.modules.pop("beside_mynets")
        cell = plan(load_suite(suite))[0][0]
        sys.modules.pop("beside_mynets")
        assert isinstance(cell.model(None), torch.nn.Module) and sys.path == before
    finally:
        sys.modules.pop("beside_mynets", None)


def test_normalize_is_required_but_for_robustbench(tmp_path, cli):
    torch.save(build("small_cnn", DATASETS.get("digits"), width=8).state_dict(), tmp_path / "net.pt")
    for entry in ("{as: mine, arch: small_cnn, arch_args: {width: 8}, checkpoint: net.pt}",
                  "{as: mine, module: 'toy_nets:small'}", "{as: mine, torchscript: net.pt}"):
        code, _, err = cli("validate", _suite(tmp_path, f"  - {entry}\n"))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "s.yaml:5: models.normalize: mine: give `normalize:`: `none` if the model takes [0,1] pixels" in err
        assert "silently loses robust accuracy" in err
    code, _, err = cli("validate", _suite(tmp_path, "  - {as: mine, module: 'toy_nets:small', normalize: [1]}\n"))
    assert code == 2 and "expected none or {mean: [...], std: [...]}, got [1]" in err
    # a RobustBench entry takes [0,1] pixels (RobustBench's models normalise inside): no normalize needed
    rb = _suite(tmp_path, "  - {as: rb, robustbench: Wang2020Improving}\n", "cifar10: {n_test: 12}")
    assert "normalize" not in load_suite(rb).models[0].settings
    # `normalize: none` keeps the id an entry without the key had; a normalisation is another model
    ids = []
    for norm in ("none", "{mean: [0.5], std: [0.5]}"):
        suite = _suite(tmp_path, f"  - {{as: m, arch: small_cnn, arch_args: {{width: 8}}, checkpoint: net.pt, "
                                 f"normalize: {norm}}}\n")
        cell = plan(load_suite(suite))[0][0]
        ids.append(cell.id)
    assert "normalize" not in json.loads(plan(load_suite(_suite(tmp_path, "  - {as: m, torchscript: net.pt, "
                                                                          "normalize: none}\n")))[0][0].settings_json)
    assert ids[0] != ids[1]


def test_validate_and_dry_run_check_datasets_and_models(tmp_path, cli):
    """Before: `ok` for a dataset that is not installed and a checkpoint that does not load; the error came
    only after run.json was written."""
    state = build("small_cnn", DATASETS.get("digits"), width=8).state_dict()
    torch.save(state, tmp_path / "net.pt")
    torch.save({k: v for k, v in state.items() if not k.endswith("bias")}, tmp_path / "broken.pt")
    entry = "  - {as: mine, arch: small_cnn, arch_args: {width: 8}, checkpoint: %s, normalize: none}\n"
    out = tmp_path / "out"
    good = _suite(tmp_path, entry % "net.pt")
    code, text, err = cli("run", good, "--dry-run", "--out", out)
    assert code == 0 and "1 model cells (1 trained elsewhere; 1 to run)" in text and "\n  load  " in text, err
    broken = _suite(tmp_path, entry % "broken.pt")
    for args in (["validate", broken], ["run", broken, "--dry-run", "--out", out], ["run", broken, "--out", out]):
        code, text, err = cli(*args)
        assert code == 2 and text == "" and "mine: checkpoint has missing keys" in err and len(err.splitlines()) == 1
    missing = _suite(tmp_path, entry % "net.pt", "mnist: {n_test: 12}")
    for args in (["validate", missing, "--data-root", tmp_path / "data"],
                 ["run", missing, "--dry-run", "--data-root", tmp_path / "data", "--out", out],
                 ["run", missing, "--data-root", tmp_path / "data", "--out", out]):
        code, text, err = cli(*args)
        assert code == 2 and text == "" and err.startswith(f"bench: error: dataset 'mnist' not found under {tmp_path}")
    assert not out.exists()  # nothing written, run.json included
    # a dataset the suite downloads (`download: true`) is fetched at run time: not checked, nothing read
    check_installed("mnist", str(tmp_path / "data"), download=True)
    assert not (tmp_path / "data").exists()

"""External models (bench.external): a net trained by bench, exported as a state_dict, a builder +
checkpoint and a TorchScript file, gives the same rows as the recipe; every bad entry is one line, exit 2,
nothing written."""
from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.data import DATASETS
from bench.errors import UserError
from bench.nets import build
from bench.report.render import md
from bench.results.folder import read_rows

SUITE = """\
name: ext
datasets:
  digits: {{n_test: 40}}
recipes: [erm]
{models}
evaluations:
  - clean
  - attack: PGD
    params: {{steps: 3}}
  - {{pr: linf, n: 20}}
  - {{certify: linf, certifier: fixed, n: 50}}
  - {{smooth: null, n0: 10, n: 50}}
  - {{clean: null, predictor: {{name: vote, n: 10, eot: 2}}}}
{ibp}"""
ENTRIES = """\
models:
  - as: ext-arch                     # bench's own net: its normalisation layer inside
    arch: small_cnn
    arch_args: {width: 8}
    checkpoint: ckpt/net.pt
    normalize: none
  - as: ext-builder
    module: toy_nets:small
    args: {width: 8}
    checkpoint: ckpt/net.pt
    normalize: none
  - as: ext-bare                     # the bare architecture's state_dict, normalised by the entry
    arch: small_cnn
    arch_args: {width: 8}
    checkpoint: ckpt/body.pt
    normalize: {mean: [0.5], std: [0.5]}
  - as: ext-script
    torchscript: ckpt/net.ts
    normalize: none
"""
SAME = ["index", "label", "pred", "correct", "adv_pred", "linf", "l2", "l0", "in_budget", "eps", "component", "n",
        "agree", "pr", "decision", "samples", "kappa", "alpha", "radius", "params"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny erm net trained by bench (one epoch on digits) and its results folder."""
    root = tmp_path_factory.mktemp("ext")
    (root / "models").mkdir()
    (root / "models" / "erm.yaml").write_text(
        "method: erm\ndatasets:\n  digits: {arch: small_cnn, arch_args: {width: 8}, epochs: 1, batch_size: 128, "
        "optimizer: {name: adam, lr: 3.0e-3}}\n")
    (root / "ext.yaml").write_text(SUITE.format(models="cards: models", ibp="  - ibp\n"))
    assert main(["run", str(root / "ext.yaml"), "--out", str(root / "out"), "--quiet"]) == 0
    (root / "ckpt").mkdir()
    shutil.copy(next((root / "out" / "models").glob("*.pt")), root / "ckpt" / "net.pt")
    net = build("small_cnn", DATASETS.get("digits"), width=8)
    net.load_state_dict(torch.load(root / "ckpt" / "net.pt", weights_only=True))
    torch.save({k[2:]: v for k, v in net.state_dict().items() if k.startswith("1.")}, root / "ckpt" / "body.pt")
    torch.jit.trace(net.eval(), torch.rand(2, 1, 8, 8)).save(str(root / "ckpt" / "net.ts"))
    return root


def _suite(root: Path, models: str, name: str = "s.yaml", ibp: bool = False) -> Path:
    path = root / name
    path.write_text(SUITE.format(models="cards: models\n" + textwrap.dedent(models), ibp="  - ibp\n" if ibp else ""))
    return path


def test_exported_nets_give_the_recipes_rows(trained, tmp_path, cli):
    out = tmp_path / "out"
    shutil.copytree(trained / "out", out)  # the recipe's cells are done: only the external ones run
    suite = _suite(trained, ENTRIES)
    code, text, err = cli("run", suite, "--dry-run", "--out", out)
    assert code == 0, err
    assert "5 model cells (1 trained by bench, 4 trained elsewhere; 4 to run)" in text
    assert "  load  " in text and "ext-script (external, torchscript:net.ts) seed 0" in text
    code, text, err = cli("run", suite, "--out", out, "--quiet")
    assert code == 0, err
    assert "trained or loaded 4 (skipped 1)" in text
    script = read_rows(out)  # the ibp suite below leaves ext-script's cells out of the folder's current run
    script = script[script["recipe"] == "ext-script"]
    # ibp where the architecture's layers are known to bench; a TorchScript model is refused up front
    code, _, err = cli("run", _suite(trained, ENTRIES, "ibp.yaml", ibp=True), "--out", out, "--quiet")
    assert code == 2 and "ext-script: the suite's ibp evaluation cannot bound this model" in err
    code, _, err = cli("run", _suite(trained, ENTRIES.split("  - as: ext-script")[0], "ibp.yaml", ibp=True),
                       "--out", out, "--quiet")
    assert code == 0, err
    rows = pd.concat([read_rows(out), script], ignore_index=True)
    assert set(rows["recipe"]) == {"erm", "ext-arch", "ext-builder", "ext-bare", "ext-script"}
    ref = rows[rows["recipe"] == "erm"].sort_values(["evaluation", "index"]).reset_index(drop=True)
    assert 0 < ref.loc[ref["evaluation"] == "attack:PGD", "correct"].sum() < ref.loc[ref["evaluation"] == "clean", "correct"].sum()
    for label in ("ext-arch", "ext-builder", "ext-bare", "ext-script"):
        got = rows[rows["recipe"] == label].sort_values(["evaluation", "index"]).reset_index(drop=True)
        want = ref if label != "ext-script" else ref[ref["evaluation"] != "ibp"].reset_index(drop=True)
        assert list(got["evaluation"]) == list(want["evaluation"])
        for col in SAME:
            assert got[col].equals(want[col]), (label, col)
    meta = [json.loads(p.read_text()) for p in (out / "models").glob("*.json") if '"external"' in p.read_text()]
    assert len(meta) == 4 and all(m["load_seconds"] > 0 and m["files"] for m in meta)
    script = next(m for m in meta if m["recipe"] == "ext-script")
    assert script["external"] == {"as": "ext-script", "source": "torchscript", "torchscript": "ckpt/net.ts"}
    assert script["sha256"]["torchscript"] == hashlib.sha256((trained / "ckpt" / "net.ts").read_bytes()).hexdigest()
    # an unchanged checkpoint is not evaluated again
    code, text, _ = cli("run", suite, "--out", out, "--quiet")
    assert "trained or loaded 0 (skipped 5), evaluated 0 (skipped 30)" in text


def test_replaced_checkpoint_is_a_new_cell(trained, tmp_path, cli):
    root = tmp_path
    shutil.copytree(trained / "ckpt", root / "ckpt")
    shutil.copytree(trained / "models", root / "models")
    entry = "models:\n  - {as: ext, arch: small_cnn, arch_args: {width: 8}, checkpoint: ckpt/net.pt, normalize: none}\n"
    suite = _suite(root, entry)
    _, before, _ = cli("run", suite, "--dry-run", "--out", root / "out")
    state = torch.load(root / "ckpt" / "net.pt", weights_only=True)
    last = list(state)[-1]
    state[last] = state[last] + 1  # other weights, same keys: the dry-run still loads it
    torch.save(state, root / "ckpt" / "net.pt")
    code, after, err = cli("run", suite, "--dry-run", "--out", root / "out")
    assert code == 0, err
    ext = [line.split()[1] for text in (before, after) for line in text.splitlines() if " ext " in line and "load" in line]
    assert len(ext) == 2 and ext[0] != ext[1]


class Evil:
    """A pickle that would create a file when unpickled by an unsafe loader."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("case", ["pickle", "classes", "shape", "missing", "module", "builder", "keys", "arch"])
def test_bad_entries_are_one_line(trained, tmp_path, cli, case):
    marker = tmp_path / "pwned"
    (tmp_path / "ckpt").mkdir()
    torch.save({"w": Evil(marker)}, tmp_path / "ckpt" / "evil.pt")
    shutil.copy(trained / "ckpt" / "net.pt", tmp_path / "ckpt" / "net.pt")
    torch.save({"1.0.weight": torch.zeros(3, 3)}, tmp_path / "ckpt" / "odd.pt")
    entries = {
        "pickle": ("- {as: bad, arch: small_cnn, checkpoint: ckpt/evil.pt, normalize: none}", "not a plain state_dict"),
        "classes": ("- {as: bad, module: 'toy_nets:small', args: {classes: 7}, normalize: none}", "(8, 7) for a batch of 8; digits needs (8, 10)"),
        "shape": ("- {as: bad, module: 'toy_nets:flat', args: {inputs: 100}, normalize: none}", "fails on digits's inputs of shape (1, 8, 8)"),
        "missing": ("- {as: bad, torchscript: ckpt/none.ts, normalize: none}", "no file"),
        "module": ("- {as: bad, module: 'toy_nope:small', normalize: none}", "cannot import 'toy_nope'"),
        "builder": ("- {as: bad, module: 'toy_nets:broken', normalize: none}", "raised ValueError: no such width"),
        "keys": ("- {as: bad, arch: small_cnn, arch_args: {width: 8}, checkpoint: ckpt/odd.pt, normalize: none}", "checkpoint's 1.0.weight has shape (3, 3), the model's (8, 1, 3, 3)"),
        "arch": ("- {as: bad, arch: smal_cnn, checkpoint: ckpt/net.pt, normalize: none}", "unknown architecture 'smal_cnn'"),
    }
    entry, message = entries[case]
    shutil.copytree(trained / "models", tmp_path / "models")
    suite = _suite(tmp_path, "models:\n  " + entry + "\n")
    out = tmp_path / "out"
    code, text, err = cli("run", suite, "--out", out, "--quiet")
    assert code == 2 and text == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert f"{suite}:" in err
    assert not out.exists() and not marker.exists()


def test_missing_keys_and_models_string(trained, tmp_path, cli):
    (tmp_path / "ckpt").mkdir()
    state = torch.load(trained / "ckpt" / "net.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.endswith("bias")}, tmp_path / "ckpt" / "net.pt")
    shutil.copytree(trained / "models", tmp_path / "models")
    suite = _suite(tmp_path, "models:\n  - {as: bad, arch: small_cnn, arch_args: {width: 8}, checkpoint: ckpt/net.pt, normalize: none}\n")
    code, _, err = cli("run", suite, "--out", tmp_path / "out")
    assert code == 2 and "checkpoint has missing keys: 1." in err and not (tmp_path / "out").exists()
    (tmp_path / "old.yaml").write_text("datasets: [digits]\nmodels: ../models\nrecipes: [erm]\nevaluations: [clean]\n")
    code, _, err = cli("validate", tmp_path / "old.yaml")
    assert code == 2 and "old.yaml:2: models: `models:` now lists external models; a folder of model cards is `cards:`" in err


def test_python_api_rows_and_folder(trained, tmp_path, cli):
    import bench
    from bench.results.store import COLUMNS

    net = build("small_cnn", DATASETS.get("digits"), width=8)
    net.load_state_dict(torch.load(trained / "ckpt" / "net.pt", weights_only=True))
    evals = ["clean", "attack: PGD\nparams: {steps: 3}", {"ibp": None}]
    rows = bench.evaluate(net, dataset="digits", evaluations=evals, n_test=40, seed=0, device="cpu", label="mine",
                          normalize="none")
    assert list(rows.columns) == COLUMNS and set(rows["recipe"]) == {"mine"} and (rows["seed"] == 0).all()
    ref = read_rows(trained / "out")
    ref = ref[ref["evaluation"].isin(["clean", "attack:PGD", "ibp"])].sort_values(["evaluation", "index"]).reset_index(drop=True)
    got = rows.sort_values(["evaluation", "index"]).reset_index(drop=True)
    for col in ["evaluation", *SAME]:
        assert got[col].equals(ref[col]), col
    out = tmp_path / "res"
    again = bench.evaluate(net, evaluations=evals, n_test=40, out=out, label="mine<b>", device="cpu",
                           normalize="none", progress=False)
    assert again.drop(columns=["recipe", "cell", "train_cell"]).equals(rows.drop(columns=["recipe", "cell", "train_cell"]))
    assert len(list((out / "samples").glob("*.parquet"))) == 3 and (out / "run.json").exists()
    code, text, err = cli("report", out)
    assert code == 0, err
    assert md("mine<b>") in text and "wrote" in text and (out / "report.html").exists()
    with pytest.raises(UserError, match=r"^evaluations\[0\]: unknown evaluation kind 'attak'"):
        bench.evaluate(net, evaluations=["attak: PGD"], n_test=40, normalize="none")
    from toy_nets import small

    with pytest.raises(UserError, match=r"^model: mine: the model returns \(8, 7\)"):
        bench.evaluate(small(classes=7), evaluations=["clean"], n_test=8, label="mine", normalize="none")


def test_metadata_datasets_and_robustbench_without_its_file(trained, tmp_path, cli):
    from bench.suite.config import load_suite
    from bench.plan.grid import plan

    shutil.copytree(trained / "ckpt", tmp_path / "ckpt")
    shutil.copytree(trained / "models", tmp_path / "models")
    suite = tmp_path / "two.yaml"
    suite.write_text("datasets: [digits, mnist]\nrecipes: [erm]\nevaluations: [clean]\nmodels:\n"
                     "  - {as: ext, datasets: [digits], arch: small_cnn, arch_args: {width: 8}, checkpoint: ckpt/net.pt, normalize: none}\n")
    trains, _ = plan(load_suite(suite))
    assert [(c.dataset, c.recipe) for c in trains] == [("digits", "erm"), ("mnist", "erm"), ("digits", "ext")]
    digest = hashlib.sha256((tmp_path / "ckpt" / "net.pt").read_bytes()).hexdigest()
    assert trains[-1].describe()["sha256"] == {"checkpoint": digest}
    suite.write_text(suite.read_text().replace("datasets: [digits], arch", "datasets: [cifar10], arch"))
    code, _, err = cli("validate", suite)
    assert code == 2 and "two.yaml:5: models.datasets: ext: 'cifar10' is not one of the suite's datasets (digits, mnist)" in err
    clash = _suite(tmp_path, "models:\n  - {as: erm, torchscript: ckpt/net.ts, normalize: none}\n", "clash.yaml")
    code, _, err = cli("validate", clash)
    assert code == 2 and "clash.yaml:7: as: label 'erm' is used twice (also at " in err
    rb = _suite(tmp_path, "models:\n  - {as: mart, robustbench: Wang2020Improving, datasets: [digits]}\n")
    code, _, err = cli("validate", rb)
    assert code == 2 and "RobustBench's zoo covers cifar10 and cifar100" in err
    # a zoo entry with no file (and bench never downloading): one line before anything runs
    rb.write_text("datasets: [cifar10]\nmodels:\n  - {as: mart, robustbench: Wang2020Improving, model_dir: rb}\n"
                  "evaluations: [clean]\n")
    code, _, err = cli("run", rb, "--out", tmp_path / "out", "--data-root", tmp_path / "nodata")
    assert code == 2 and "dataset 'cifar10' not found under " in err  # the dataset is checked first
    from test_paper_suites import fake_root

    code, _, err = cli("run", rb, "--out", tmp_path / "out", "--data-root", fake_root(tmp_path / "data"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "s.yaml:3: models.robustbench: mart: " in err
    assert ("put RobustBench's checkpoint of Wang2020Improving at " f"{tmp_path / 'rb' / 'cifar10' / 'Linf'}" in err
            or "entries need the optional extra: pip install 'robustness-bench[robustbench]'" in err)
    assert not (tmp_path / "out").exists()

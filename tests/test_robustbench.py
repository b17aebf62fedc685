"""(d) A RobustBench zoo entry: a checkpoint laid out as RobustBench keeps it (MODEL_DIR/cifar10/Linf/
<name>.pt, weights under `state_dict` with DataParallel's `module.` prefix) for Wang2020Improving, whose
architecture (WideResNet-28-10 from robustbench.model_zoo) the test builds with random weights; nothing is
downloaded. Its rows equal those of the same weights handed to bench.evaluate. Skipped, with the reason,
where the optional extra robustness-bench[robustbench] does not import."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import bench
from bench.execute.external import _autoattack_name
from bench.results.folder import read_rows

try:
    _autoattack_name()  # as bench does before it imports robustbench
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
except Exception as e:  # ImportError, or robustbench's own imports failing (pkg_resources, autoattack)
    pytest.skip(f"robustbench does not import here: {type(e).__name__}: {e}", allow_module_level=True)

NAME = "Wang2020Improving"
SUITE = """\
name: rb
datasets:
  cifar10: {n_test: 6}
models:
  - as: mart-authors
    robustbench: Wang2020Improving
    threat_model: Linf
    model_dir: rbmodels
evaluations:
  - clean
  - attack: PGD
    params: {steps: 2}
"""


@pytest.mark.slow
def test_robustbench_entry_gives_the_same_rows(tmp_path, cli):
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (6, 3 * 32 * 32), dtype=np.uint8), b"labels": rng.integers(0, 10, 6).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    torch.manual_seed(0)
    net = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf][NAME]["model"]().eval()
    ckpt = tmp_path / "rbmodels" / "cifar10" / "Linf" / f"{NAME}.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, ckpt)
    suite = tmp_path / "rb.yaml"
    suite.write_text(SUITE)
    code, _, err = cli("run", suite, "--out", tmp_path / "out", "--data-root", tmp_path / "data", "--quiet", "--device", "cpu")
    assert code == 0, err
    rows = read_rows(tmp_path / "out").sort_values(["evaluation", "index"]).reset_index(drop=True)
    ref = bench.evaluate(net, dataset="cifar10", evaluations=["clean", "attack: PGD\nparams: {steps: 2}"], n_test=6,
                         device="cpu", data_root=str(tmp_path / "data"), normalize="none",  # normalises inside
                         progress=False).sort_values(["evaluation", "index"]).reset_index(drop=True)
    for col in ("evaluation", "index", "pred", "correct", "adv_pred", "linf"):
        assert rows[col].equals(ref[col]), col
    assert set(rows["recipe"]) == {"mart-authors"} and set(rows["arch"]) == {f"robustbench:{NAME}"}
    # no file: one line saying which file goes where
    ckpt.unlink()
    code, _, err = cli("run", suite, "--out", tmp_path / "out2", "--data-root", tmp_path / "data")
    assert code == 2 and f"put RobustBench's checkpoint of {NAME} at {ckpt}" in err
    assert not (tmp_path / "out2").exists()

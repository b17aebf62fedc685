"""benchmarks/gpu_check.py --quick on the CPU (what `make gpu-check` runs on a machine without CUDA): it
finishes, and its JSON file holds every figure the GPU check reports."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # about 100 s on a loaded 2-core machine (the check's goal on a CPU: under 2 minutes)
def test_gpu_check_quick_runs_on_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--quick", "--device", "cpu",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["quick"] and report["device"] == "cpu" and report["peak_gpu_memory_gib"] is None
    assert set(report["training"]) == {"erm amp", "erm fp32", "pgdt amp", "pgdt fp32"}
    assert all(t["images_per_s"] > 0 and t["amp"] is False for t in report["training"].values())  # no AMP on a CPU
    for key in ("pgd10", "autoattack"):
        a = report["attacks"][key]
        assert a["inputs_per_s"] > 0 and a["ratio_to_floor"] > 1 and a["passes_per_input"] >= 1
    cell = report["chunked_autoattack_cell"]
    assert cell["chunks"] == 3 and cell["rows_identical"] and cell["share_equal"]["adv_pred"] == 1.0

"""End to end through the CLI: run a tiny suite, resume, dry-run, report, list."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.results.store import COLUMNS


@pytest.mark.slow
def test_run_resume_and_report(tiny_suite, cli, tmp_path):
    suite = tiny_suite()
    out = tmp_path / "res"
    code, stdout, err = cli("run", suite, "--out", out, "--device", "cpu")
    assert code == 0, err
    assert "trained 2 (skipped 0), evaluated 4 (skipped 0)" in stdout
    assert len(list((out / "models").glob("*.pt"))) == 2 and len(list((out / "models").glob("*.json"))) == 2
    assert len(list((out / "samples").glob("*.parquet"))) == 4
    run = json.loads((out / "run.json").read_text())
    assert run["suite"] == "tiny" and run["order"]["recipes"] == ["erm", "pgdt"] and "torch" in run["versions"]
    assert len(run["train_cells"]) == 2 and len(run["eval_cells"]) == 4

    rows = pd.read_parquet(out / "samples")
    assert list(rows.columns) == COLUMNS
    assert len(rows) == 2 * 2 * 40 and rows.groupby(["recipe", "evaluation"]).size().eq(40).all()
    pgd = rows[rows.evaluation == "attack:PGD"]
    assert (pgd.linf <= 0.1 + 1e-5).all() and pgd.in_budget.all()
    assert (pgd.correct <= (pgd.pred == pgd.label)).all()  # misclassified when clean never counts
    assert (pgd.loc[pgd.pred != pgd.label, "linf"] == 0).all()  # ... and is not attacked
    clean = rows[rows.evaluation == "clean"].set_index(["recipe", "index"])
    assert (clean.correct == (clean.pred == clean.label)).all()

    code, stdout, _ = cli("run", suite, "--out", out)
    assert code == 0 and "trained 0 (skipped 2), evaluated 0 (skipped 4)" in stdout

    code, stdout, _ = cli("report", out)
    assert code == 0
    assert "| recipe" in stdout and "attack:PGD" in stdout
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    acc = rows[rows.evaluation == "clean"].groupby("recipe").correct.mean()
    assert f"{100 * acc['erm']:.1f}" in md and "<table" in html and "<script>" in html

    code, stdout, _ = cli("report", out, "--format", "latex")
    assert code == 0 and r"\toprule" in stdout and r"\textbf{" in stdout


def test_dry_run_writes_nothing(tiny_suite, cli, tmp_path):
    out = tmp_path / "res"
    code, stdout, _ = cli("run", tiny_suite(), "--out", out, "--dry-run")
    assert code == 0 and "2 model cells (2 trained by bench; 2 to run), 4 eval cells (4 to run)" in stdout
    assert not out.exists()


def test_validate(tiny_suite, cli):
    code, stdout, _ = cli("validate", tiny_suite())
    assert code == 0 and "ok (1 datasets, 2 recipes, 0 external models, 2 model cells (2 trained by bench), 4 eval cells)" in stdout


def test_report_without_results(cli, tmp_path):
    code, _, err = cli("report", tmp_path)
    assert code == 2 and "no results in" in err


def test_cuda_without_gpu_is_one_line(tiny_suite, cli, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, _, err = cli("run", tiny_suite(), "--out", tmp_path / "o", "--device", "cuda")
    assert code == 2 and "no CUDA device" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("what,expect", [("datasets", "cifar100"), ("archs", "preact_resnet18"), ("recipes", "Madry"),
                                         ("attacks", "PGDL2"), ("evaluations", "attack"), ("tables", "leaderboard"),
                                         ("vicinities", "< 10/3"), ("certifiers", "bench.certify.rules.spike")])
def test_list(cli, what, expect):
    code, stdout, _ = cli("list", what)
    assert code == 0 and expect in stdout


def test_list_recipes_shows_derived_defaults(cli):
    code, stdout, _ = cli("list", "recipes", "fgsm-at")
    assert code == 0 and "alpha=1.25*eps" in stdout and "eps=dataset" in stdout and "Wong" in stdout

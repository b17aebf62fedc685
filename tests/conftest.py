"""Shared fixtures: a tiny suite on digits with its own model cards, and a CLI runner."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from bench.cli import main


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """One intra-op thread: the tests' tiny batches run many times slower when torch's threads compete
    for two cores (and rows compared across executors need the same thread count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli(capsys):
    """Run the `bench` CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


TINY_CARD = """\
method: {method}
paper: test card
args: {args}
datasets:
  digits: {{arch: small_cnn, arch_args: {{width: 8}}, epochs: 1, batch_size: 128, optimizer: {{name: adam, lr: 3.0e-3}}, schedule: {{name: cosine}}}}
"""


@pytest.fixture
def tiny_suite(tmp_path: Path):
    """Write suites/tiny.yaml and models/{erm,pgdt}.yaml under tmp_path; returns a function that writes
    a suite with the given body (YAML text) and returns its path."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "erm.yaml").write_text(TINY_CARD.format(method="erm", args="{}"))
    (models / "pgdt.yaml").write_text(TINY_CARD.format(method="pgdt", args="{steps: 3}"))
    suites = tmp_path / "suites"
    suites.mkdir()

    def write(body: str | None = None, name: str = "tiny.yaml") -> Path:
        body = body if body is not None else """\
            name: tiny
            datasets:
              digits: {n_test: 40}
            recipes: [erm, pgdt]
            evaluations:
              - clean
              - attack: PGD
                params: {steps: 3}
            """
        path = suites / name
        path.write_text(textwrap.dedent(body))
        return path

    return write

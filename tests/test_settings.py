"""A suite carries the execution settings its numbers need (issue 23, item 11): `threads:` and `deterministic:`,
applied by bench itself, recorded in run.json, named by `bench check`, and in no cell id."""
from __future__ import annotations

import json
import re

import pytest
import torch

from bench.execute import settings
from bench.execute.compute import compute

SUITE = """\
name: tiny
datasets:
  digits: {n_test: 20}
recipes:
  - {card: erm, epochs: 1}
evaluations:
  - clean
"""


def _ids(cli, path, tmp_path) -> list[str]:
    code, out, err = cli("run", path, "--dry-run", "--out", tmp_path / "dry")
    assert code == 0, err
    return re.findall(r"\b[0-9a-f]{16}\b", out)


def test_settings_are_in_no_cell_id(tiny_suite, cli, tmp_path):
    plain = _ids(cli, tiny_suite(SUITE), tmp_path)
    stated = _ids(cli, tiny_suite(SUITE + "threads: 1\ndeterministic: true\n", "stated.yaml"), tmp_path)
    assert plain == stated and len(plain) == 2


def test_a_run_applies_records_and_restores_the_settings(tiny_suite, cli, tmp_path, monkeypatch):
    seen = []

    def watch(*args, **kwargs):  # what each cell computes under
        seen.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()))
        return compute(*args, **kwargs)

    monkeypatch.setattr("bench.execute.local.compute", watch)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    out = tmp_path / "out"
    code, _, err = cli("run", tiny_suite(SUITE + "threads: 2\ndeterministic: true\n"), "--out", out, "--device", "cpu")
    assert code == 0, err
    assert seen == [(2, True)] * 2
    info = json.loads((out / "run.json").read_text())
    assert (info["threads"], info["deterministic"], info["device"]) == (2, True, "cpu")
    assert info["interop_threads"] == torch.get_num_interop_threads()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before  # restored
    import os

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == settings.CUBLAS
    # a suite without settings records the threads in effect
    code, _, err = cli("run", tiny_suite(SUITE, "plain.yaml"), "--out", tmp_path / "plain", "--device", "cpu")
    info = json.loads((tmp_path / "plain" / "run.json").read_text())
    assert code == 0 and info["threads"] == torch.get_num_threads() and info["deterministic"] is False, err


def test_inter_op_threads_that_cannot_change_are_one_note(monkeypatch):
    notes = []

    def refuse(n):
        raise RuntimeError("Error: cannot set number of interop threads after parallel work has started")

    monkeypatch.setattr(torch, "set_num_interop_threads", refuse)
    want = torch.get_num_interop_threads() + 1
    with settings.applied(want, False, notes.append):
        assert torch.get_num_threads() == want
    assert len(notes) == 1 and f"asks for {want}" in notes[0]


@pytest.mark.slow
def test_check_names_a_thread_count_that_differs(tiny_suite, cli, tmp_path):
    """A reference written with one thread, a run with two: when the numbers move, the failure line says why."""
    one = tmp_path / "one"
    assert cli("run", tiny_suite(SUITE + "threads: 1\n"), "--out", one, "--device", "cpu")[0] == 0
    ref = tmp_path / "ref.csv"
    assert cli("check", one, "--reference", ref, "--write")[0] == 0
    assert ref.read_text().splitlines()[1].endswith(",1,false,cpu")
    two = tmp_path / "two"
    assert cli("run", tiny_suite(SUITE + "threads: 2\n", "two.yaml"), "--out", two, "--device", "cpu")[0] == 0
    lines = ref.read_text().splitlines()
    lines[1] = re.sub(r",(0\.\d+|1\.0),", ",0.01,", lines[1], count=1)  # a value that moved
    ref.write_text("\n".join(lines) + "\n")
    code, out, _ = cli("check", two, "--reference", ref)
    assert code == 1 and "(the results ran with threads=2, the reference with threads=1)" in out.splitlines()[0], out

"""README "Security model" (issue 23, item 7): every untrusted input has a test that plants a hostile file, and
the README names it."""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

from bench.cli import main
from report_results import write_results

ROOT = Path(__file__).resolve().parents[1]


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Security model", 1)[1].split("\n## ", 1)[0]


def test_the_readme_names_a_test_for_each_untrusted_input():
    section = _section()
    rows = [line for line in section.splitlines() if line.startswith("| ") and "::" in line]
    assert [r.split("|")[1].split("(")[0].strip() for r in rows] == ["checkpoints", "results folders",
                                                                     "reference files", "datasets"]
    for row in rows:
        for file, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row):
            tree = ast.parse((ROOT / file).read_text())
            assert name in {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}, f"{file}::{name}"
    for trusted in ("plugins:", "module:", "torchscript:", "entry points"):
        assert trusted in section.split("**What bench does not trust**")[0], trusted


def test_a_results_folder_runs_no_code(tmp_path, capsys, monkeypatch):
    """A folder that names a module it carries, and one whose cell ids are paths: `bench report` and `bench check`
    refuse both in one line, import nothing and read nothing outside the folder."""
    out = write_results(tmp_path / "r", n=20, seeds=(0,), extra=False)
    marker = tmp_path / "ran"
    (out / "folder_plugin.py").write_text(f"open({str(marker)!r}, 'w').write('code from a results folder')\n")
    info = json.loads((out / "run.json").read_text())
    monkeypatch.syspath_prepend(str(out))  # as if the folder were the working folder of `python -m bench`
    monkeypatch.chdir(out)
    for plugins, message in ((["folder_plugin"], "from inside the results folder"), (["os"], "part of Python")):
        (out / "run.json").write_text(json.dumps({**info, "plugins": plugins}))
        for args in (["report", "."], ["check", ".", "--reference", str(tmp_path / "ref.csv"), "--write"]):
            capsys.readouterr()
            assert main(args) == 2
            err = capsys.readouterr().err
            assert message in err and len(err.splitlines()) == 1, err
    assert not marker.exists() and "folder_plugin" not in sys.modules and not (tmp_path / "ref.csv").exists()
    cells = [{**c, "id": "../../" + c["id"]} if i == 0 else c for i, c in enumerate(info["eval_cells"])]
    (out / "run.json").write_text(json.dumps({**info, "eval_cells": cells}))
    assert main(["report", "."]) == 2
    assert "eval_cells[0].id: expected 16 hex digits" in capsys.readouterr().err


def test_a_reference_file_is_never_evaluated(tmp_path, capsys):
    """Labels and values are text and numbers: a formula or an expression is neither run nor computed."""
    out = write_results(tmp_path / "r", n=20, seeds=(0,), extra=False)
    marker = tmp_path / "ran"
    ref = tmp_path / "ref.csv"
    ref.write_text("dataset,recipe,evaluation,metric,value,n,tol\n"
                   f"digits,\"__import__('os').system('touch {marker}')\",clean,accuracy,0.5,20,1s\n"
                   "digits,erm,clean,accuracy,=1+1,20,1s\n"
                   "digits,pgdt,clean,accuracy,0.5,20,\"__import__('os').getcwd()\"\n")
    capsys.readouterr()
    assert main(["check", str(out), "--reference", str(ref)]) == 2
    captured = capsys.readouterr()
    assert f"{ref}:3: value: expected a number, got '=1+1'" in captured.err
    assert f"{ref}:4: tol: tolerance" in captured.err and "missing" in captured.out
    assert not marker.exists()

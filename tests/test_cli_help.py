"""Packaging and the CLI's own words (issue 24): a distribution name of bench's own and `bench --version`
(item 10); `bench list` within 100 columns, budgets as fractions, whole sentences, and help for every
argument with examples (item 12); the README's pointers (items 9, 12)."""
from __future__ import annotations

import argparse
import configparser
import inspect
import re
from pathlib import Path

import pytest

from bench.cli import main, parser
from bench.listing import first_sentence, fit, number
from bench.version import __version__

ROOT = Path(__file__).resolve().parents[1]
WHAT = ("datasets", "archs", "recipes", "attacks", "evaluations", "vicinities", "certifiers", "tables")


def test_distribution_name_is_benchs_own_and_the_version_prints(capsys):
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["name"] == "robustness-bench"  # PyPI's `bench` is another project
    assert cfg["options.entry_points"]["console_scripts"].strip() == "bench = bench.cli:main"
    for path in [ROOT / "README.md", ROOT / "setup.cfg", *(ROOT / "bench").rglob("*.py"), *(ROOT / "suites").rglob("*.yaml")]:
        assert not re.search(r"(?<![\w-])bench\[", path.read_text()), f"{path}: pip install 'bench[...]' installs another project"
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"bench {__version__}\n"


def _subparsers(p: argparse.ArgumentParser) -> dict:
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_argument_has_help_and_every_command_examples():
    p = parser()
    commands = _subparsers(p)
    assert set(commands) == {"run", "report", "check", "gc", "list", "validate"}
    for name, sub in [("bench", p), *commands.items()]:
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name} {action.dest}: no help"
        examples = [line for line in (sub.epilog or "").splitlines() if line.strip().startswith("bench ")]
        assert (sub.epilog or "").startswith("examples:") and len(examples) >= (1 if name == "gc" else 2), name
        assert all(len(line) <= 100 for line in sub.format_help().splitlines()), name


@pytest.mark.parametrize("what", WHAT)
def test_bench_list_fits_100_columns_with_fractions(cli, what):
    code, text, _ = cli("list", what)
    assert code == 0
    wide = [line for line in text.splitlines() if len(line) > 100]
    assert wide == []
    assert not re.search(r"\d\.\d{6,}", text), "budgets read as fractions (8/255), not 0.03137254901960784"
    if what in ("datasets", "attacks"):
        assert "8/255" in text


def test_number_and_fit():
    assert [number(x) for x in (8 / 255, 2 / 255, 0.1, 0.25, 1.0, 10 / 3, 0.1234567, 1e-10, 3, "Linf", [0.5, 8 / 255])] \
        == ["8/255", "2/255", "0.1", "0.25", "1.0", "10/3", "0.1235", "1e-10", "3", "'Linf'", "[0.5, 8/255]"]
    text = fit([("a", "word " * 40, "pkg.module.name_of_some_length")], ["name", "description", "from"], width=40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines) and lines[0].split() == ["name", "description", "from"]
    d, f = lines[0].index("description"), lines[0].index("from")
    assert " ".join(line[d:f] for line in lines[2:]).split() == ["word"] * 40  # at word boundaries, nothing lost
    assert "".join(line[f:].strip() for line in lines[2:]) == "pkg.module.name_of_some_length"  # at its dots


def test_descriptions_are_whole_sentences():
    from bench.certify.rules import CERTIFIERS
    from bench.evals import EVALS
    from bench.nets import ARCHS
    from bench.report.layouts import LAYOUTS

    objs = [f for _, f in ARCHS.list("*")] + [f for _, f in LAYOUTS.list("*")] \
        + [inspect.getmodule(c) for _, c in EVALS.list("*")] + [inspect.getmodule(f) for _, f in CERTIFIERS.list("*")]
    for obj in objs:
        text = first_sentence(obj)
        assert text.endswith((".", ")")) and "\n" not in text and not text.endswith("…"), (obj, text)
    assert first_sentence(ARCHS.get("basic_convnet")).endswith("dropout 0.5 after the first fc.")  # past "et al. 2019"


def test_readme_points_at_read_rows_and_make_test_fast():
    readme = (ROOT / "README.md").read_text()
    rows = readme.split("### Per-sample rows")[1].split("\n## ")[0]
    code = "".join(rows.split("```python")[1:]).split("```")[0]
    assert "read_rows(" in code and 'read_parquet("results/quickstart/samples")' not in code
    assert "make test-fast" in readme

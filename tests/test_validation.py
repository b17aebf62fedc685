"""Bad input is one line `file:line: field: message`, exit 2, nothing written (issue 12, items 3, 7-9, 11),
and integer attack parameters are integers within their bounds."""
from __future__ import annotations

import re
import textwrap

import pytest

from bench.attacks import ATTACKS
from bench.attacks.threat import INT_PARAMS, REAL_PARAMS

BASE = """\
name: tiny
datasets:
  digits: {n_test: 20}
recipes: [erm]
evaluations:
  - clean
"""
LINE = re.compile(r"^bench: error: \S+:\d+: [\w.]+: .+$")


def recipe(entry: str) -> str:
    return BASE.replace("recipes: [erm]", f"recipes:\n  - {entry}")


CASES = [
    # item 3: evaluation names that collide
    (BASE + "  - {attack: FGSM, eps: [0.1, 0.1]}\n", 7, "eps", "listed twice"),
    (BASE + "  - {attack: FGSM, eps: [0.1, 1/10]}\n", 7, "eps", "listed twice"),
    (BASE + "  - {attack: FGSM, eps: [0.05, 0.1]}\n  - {attack: FGSM, as: FGSM2@0.05}\n", 8, "as", "reserved"),
    # item 7: tracebacks before
    (BASE + "? [a, b]\n: 1\n", 7, None, "a key must be a plain name"),
    (recipe("{card: erm, as: [a, b]}"), 5, "as", "expected a string"),
    (recipe("{card: erm, arch_args: {width: 2020-01-01}}"), 5, None, "unsupported value"),
    (recipe("{card: erm, arch_args: {width: [8]}}"), 5, "arch_args.width", "expected an integer"),
    (recipe("{card: erm, arch_args: {width: 0}}"), 5, "arch_args.width", "must be >= 1"),
    # item 8: validate said ok, run crashed after training
    (recipe("{card: erm, as: 123}"), 5, "as", "expected a string"),
    (recipe("{card: erm, as: null}"), 5, "as", "expected a string"),
    (BASE + "  - {attack: PGD, as: null}\n", 7, "as", "expected a string"),
    (BASE + "seeds: [100000000000000000000000]\n", 7, "seeds", "out of range"),
    (BASE + "seeds: [0, 0]\n", 7, "seeds", "listed twice"),
    (BASE + "  - {attack: PGD, params: {steps: 2.5}}\n", 7, "params.steps", "expected an integer"),
    (recipe("{card: pgdt, args: {steps: 2.5}}"), 5, "args.steps", "expected an integer"),
    (recipe("{card: pgdt, args: {eps: .nan}}"), 5, "args.eps", "expected a finite number"),
    (recipe("{card: erm, epochs: 1e400}"), 5, "recipes.epochs", "expected an integer"),
    # item 9: silent wrong numbers
    (BASE + "  - {attack: PGD, params: {steps: -5}}\n", 7, "params.steps", "must be >= 1"),
    (BASE + "  - {attack: Square, params: {n_queries: 0}}\n", 7, "params.n_queries", "must be >= 1"),
    (BASE + "  - {attack: APGD, params: {n_restarts: 0}}\n", 7, "params.n_restarts", "must be >= 1"),
    (BASE + "  - {attack: PGD, eps: 1e308}\n", 7, "attack.eps", "out of range"),
    (BASE + "  - {attack: PGD, eps: 2}\n", 7, "eps", "must be <= 1"),
    (BASE + "  - {attack: CW, params: {c: 1e300}}\n", 7, "params.c", "out of range"),
    (BASE + "n_test: .inf\n", 7, "n_test", "expected an integer"),
    # item 11: names are labels, not paths
    (BASE.replace("name: tiny", "name: ../../../x"), 1, "name", "plain label"),
    (BASE.replace("name: tiny", "name: /tmp/x"), 1, "name", "plain label"),
    # training settings an architecture, the crop or the schedule refuses: one line at validation, not mid-run
    (recipe("{card: erm, crop: {pad: 8, mode: reflect}}"), 5, "crop.pad", "reflect padding must be smaller"),
    (recipe("{card: erm, crop: {mode: mirror}}"), 5, "crop.mode", "must be one of zeros, edge, reflect"),
    (recipe("{card: erm, normalize: dataset}"), 5, "normalize", "expected none or {mean: ..., std: ...}"),
    (recipe("{card: erm, normalize: {mean: [0.1, 0.2], std: 1}}"), 5, "normalize.mean", "2 values for 1 channel"),
    (recipe("{card: erm, arch: wrn, arch_args: {depth: 30, width: 1}}"), 5, "arch_args", "6n+4"),
    (recipe("{card: erm, arch: basic_convnet, arch_args: {init: xavier}}"), 5, "arch_args", "init must be one of"),
    (recipe("{card: erm, schedule: {name: cyclic, peak: 2}}"), 5, "schedule.peak", "must be <= 1"),
    # an unknown optional key, like a required one, says what was meant
    (BASE + "seed: [1]\n", 7, "seed", "did you mean 'seeds'?"),
    (BASE + "sample_sed: 1\n", 7, "sample_sed", "did you mean 'sample_seed'?"),
]


@pytest.mark.parametrize("body,line,field,message", CASES)
def test_bad_suites_are_one_line(tiny_suite, cli, tmp_path, body, line, field, message):
    path = tiny_suite(body)
    code, out, err = cli("validate", path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert f"{path}:{line}: " + (f"{field}: " if field else "") in err and message in err, err
    code, out, err = cli("run", path, "--out", tmp_path / "out")
    assert code == 2 and len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("data,line,message", [
    (b"name: tiny\ndescription: caf\xe9\n", 2, "not UTF-8"),
    (b"name: tiny\ndescription: a\x07b\n", 2, "control character 0x07"),
    (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", 1, "levels deep"),
    (b"a: " + b"[" * 40 + b"]" * 40 + b"\n", 1, "levels deep"),
])
def test_unreadable_suites_are_one_line(tiny_suite, cli, data, line, message):
    path = tiny_suite("")
    path.write_bytes(data)
    code, _, err = cli("validate", path)
    assert code == 2 and len(err.splitlines()) == 1 and f"{path}:{line}: " in err and message in err, err


def test_a_folder_as_suite_is_one_line(cli, tmp_path):
    code, _, err = cli("validate", tmp_path)
    assert code == 2 and "is a folder" in err


def test_out_naming_a_file_fails_before_training(tiny_suite, cli, tmp_path):
    out = tmp_path / "taken"
    out.write_text("mine")
    code, stdout, err = cli("run", tiny_suite(BASE), "--out", out)
    assert code == 2 and "exists and is not a folder" in err and stdout == ""
    assert out.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["models", "suites", "taken"]


def test_error_lines_have_the_documented_shape(tiny_suite, cli):
    code, _, err = cli("validate", tiny_suite(BASE + "  - {attack: PGD, params: {steps: 2.5}}\n"))
    assert code == 2 and LINE.match(err.strip()), err


def test_every_integer_attack_parameter_has_a_bound():
    """A new attack with an integer parameter must say what its lowest value is (or that it is real)."""
    for name, attack in ATTACKS.items():
        for key, default in attack.defaults.items():
            if isinstance(default, int) and not isinstance(default, bool):
                assert key in INT_PARAMS or key in REAL_PARAMS, f"{name}.{key}"


@pytest.mark.parametrize("params,ok", [
    ("{steps: 1}", True), ("{steps: 0}", False), ("{steps: '3'}", True), ("{steps: 3.0}", False),
    ("{steps: true}", False), ("{eps: 8/255, alpha: 2/255}", True), ("{alpha: -0.1}", False),
])
def test_attack_parameter_kinds(tiny_suite, cli, params, ok):
    code, _, err = cli("validate", tiny_suite(BASE + f"  - {{attack: PGD, params: {params}}}\n"))
    assert (code == 0) == ok, err


def test_bim_steps_zero_means_its_own_count(tiny_suite, cli):
    """torchattacks' BIM computes its step count when steps is 0; any other attack needs >= 1."""
    assert cli("validate", tiny_suite(BASE + "  - {attack: BIM, params: {steps: 0}}\n"))[0] == 0
    assert cli("validate", tiny_suite(BASE + "  - {attack: BIM, params: {steps: -1}}\n"))[0] == 2


def test_shipped_suites_stay_valid(cli):
    for suite in ("quickstart", "table9", "autoattack"):
        assert cli("validate", f"suites/{suite}.yaml")[0] == 0


def test_quoted_dates_are_strings(tiny_suite, cli):
    body = textwrap.dedent(BASE).replace("name: tiny", "name: tiny\ndescription: '2020-01-01'")
    assert cli("validate", tiny_suite(body))[0] == 0

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


# Issue 23, items 3 and 9: a doubled dataset, tracebacks and silent oddities; each one line naming the field.
ODD = [
    (BASE.replace("datasets:\n  digits: {n_test: 20}", "datasets: [digits, digits]"), 2, "datasets", "listed twice"),
    (BASE + "plugins: [{a: 1}]\n", 7, "plugins", "expected a module name"),
    (BASE + "plugins: [[a]]\n", 7, "plugins", "expected a module name"),
    (BASE + "sample_seed: !!float abc\n", 7, "sample_seed", "not a valid !!float"),
    (BASE + "sample_seed: !!int 1.5\n", 7, "sample_seed", "not a valid !!int"),
    (BASE + "sample_seed: !!bool maybe\n", 7, "sample_seed", "not a valid !!bool"),
    (BASE + "sample_seed: !!int 1:30\n", 7, "sample_seed", "base-60"),
    (BASE.replace("n_test: 20", "n_test: " + "1" * 100_000), 3, "n_test", "out of range"),
    (BASE + "seeds: [1:30]\n", 7, "seeds", "expected an integer, got '1:30'"),
    (BASE + "seeds: [010]\n", 7, "seeds", "'010' is an octal number in YAML 1.1 (8)"),
    (BASE + "sample_seed: -0_17\n", 7, "sample_seed", "octal number in YAML 1.1 (-15)"),
    (recipe("{card: erm, epochs: 0}"), 5, "recipes.epochs", "must be >= 1"),
    (BASE.replace("name: tiny", 'name: "a\\x85b"'), 1, "name", "U+0085"),
    (recipe('{card: erm, as: "a\\u2028b"}'), 5, "as", "U+2028"),
    (BASE + '  - {attack: FGSM, as: "x\\uFEFFy"}\n', 7, "as", "U+FEFF"),
    (BASE + '  - {attack: FGSM, as: "x\\u202Ey"}\n', 7, "as", "U+202E"),
    (BASE.replace("name: tiny", "name: " + "n" * 101), 1, "name", "at most 100 characters"),
]


@pytest.mark.parametrize("body,line,field,message", ODD)
def test_odd_suites_are_one_short_line(tiny_suite, cli, body, line, field, message):
    path = tiny_suite(body)
    code, out, err = cli("validate", path)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and len(err) < 300, err
    assert f"{path}:{line}: {field}: " in err and message in err, err


def test_a_long_value_is_echoed_short(tiny_suite, cli):
    """A 10,000-digit fraction used to be echoed whole (a 10 KB line)."""
    path = tiny_suite(BASE + "  - {attack: FGSM, eps: " + "1" * 10_000 + "/" + "3" * 10_000 + "}\n")
    code, _, err = cli("validate", path)
    assert code == 2 and len(err) < 300 and "(20003 characters)" in err, err


def test_a_plain_base_60_string_stays_a_string(tiny_suite, cli):
    """YAML 1.1 reads `1:30` as 90; bench reads it as the string it looks like (as YAML 1.2 does)."""
    from bench.suite.yamlio import load_yaml

    node = load_yaml(tiny_suite(BASE + "description: 1:30\nsample_seed: 0x10\nseeds: [0, 0o17, '010']\n"))
    assert node["description"] == "1:30" and node["sample_seed"] == 16 and node["seeds"] == [0, "0o17", "010"]


def _bomb(levels: int, width: int, key: str = "a") -> str:
    lines = [f"{key}0: &{key}0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"{key}{i}: &{key}{i} [" + ", ".join([f"*{key}{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# Issue 23, item 8: bounded work. Each bad input is one line within LIMIT_S (they took 20 s to 5 min).
LIMIT_S = 2.0
HUGE = [
    ("bomb", lambda: _bomb(10, 10) + BASE, "more than 100,000 values"),
    ("bomb in recipe args", lambda: _bomb(9, 12) + recipe("{card: erm, args: *a8}"), "more than 100,000 values"),
    ("bomb in params", lambda: _bomb(6, 30) + BASE + "  - {attack: PGD, params: *a5}\n", "more than 100,000 values"),
    ("bomb of maps", lambda: "a0: &a0 {" + ", ".join(f"k{i}: x" for i in range(10)) + "}\n"
     + "".join(f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(10)) + "}\n" for i in range(1, 10))
     + BASE, "more than 100,000 values"),
    ("50 MB comment", lambda: "#" + "x" * (50 << 20) + "\n" + BASE, "larger than 128 KB"),
    ("200,000 seeds", lambda: BASE + "seeds: [" + ",".join(map(str, range(200_000))) + "]\n", "larger than 128 KB"),
    ("10,001 seeds", lambda: BASE + "seeds: [" + ",".join(map(str, range(10_001))) + "]\n", "more than 10,000"),
    ("cells", lambda: BASE + "".join(f"  - {{attack: FGSM, as: f{i}}}\n" for i in range(12))
     + "seeds: [" + ",".join(map(str, range(9_000))) + "]\n", "more than 100,000"),
    ("501 evaluations", lambda: BASE + "".join(f"  - {{attack: FGSM, as: f{i}}}\n" for i in range(500)),
     "more than 500"),
    ("wrn 10000 x 1000", lambda: recipe("{card: erm, arch: wrn, arch_args: {depth: 10000, width: 1000}}"),
     "more than 2,000,000,000 parameters"),
    ("wrn 10000 x 1", lambda: recipe("{card: erm, arch: wrn, arch_args: {depth: 10000, width: 1}}"),
     "more than 2,000 layers"),
    ("wide small_cnn", lambda: recipe("{card: erm, arch_args: {width: 100000}}"), "parameters"),
]


@pytest.mark.parametrize("name,body,message", HUGE, ids=[h[0] for h in HUGE])
def test_huge_suites_are_one_line_in_bounded_time(tiny_suite, cli, name, body, message):
    import time

    path = tiny_suite("")
    path.write_text(body())
    cli("validate", tiny_suite(BASE, "warm.yaml"))  # imports and caches, not counted
    start = time.perf_counter()
    code, out, err = cli("validate", path)
    seconds = time.perf_counter() - start
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err, err[:500]
    assert re.match(rf"bench: error: {re.escape(str(path))}:\d+: ", err), err  # a whole-file limit names no field
    assert seconds < LIMIT_S, f"{name}: {seconds:.1f} s"


def test_an_external_arch_is_bounded_too(tiny_suite, cli, tmp_path):
    (tmp_path / "suites" / "w.pt").write_bytes(b"")
    path = tiny_suite(BASE + "models: [{as: big, arch: wrn, arch_args: {depth: 10000, width: 1000}, checkpoint: w.pt}]\n")
    code, _, err = cli("validate", path)
    assert code == 2 and "models.arch_args" in err and "parameters" in err, err

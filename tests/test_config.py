"""Suite and card validation: every mistake is one line naming file:line and the field, exit 2,
and nothing is written."""
from __future__ import annotations

import pytest

from bench.suite.config import load_suite
from bench.errors import UserError
from bench.suite.yamlio import load_yaml, to_float


@pytest.mark.parametrize("text,value", [("8/255", 8 / 255), ("0.1", 0.1), ("1e-3", 1e-3), (" 2 / 4 ", 0.5), (3, 3.0)])
def test_fractions_and_numbers_parse(text, value):
    assert to_float(text, "f:1", "eps") == pytest.approx(value)


@pytest.mark.parametrize("text", ["__import__('os')", "8/0", "1/2/3", "nan", True])
def test_non_numbers_are_rejected(text):
    with pytest.raises(UserError):
        to_float(text, "f:1", "eps")


def test_valid_suite_resolves(tiny_suite):
    suite = load_suite(tiny_suite())
    assert suite.name == "tiny"
    assert [r.label for r in suite.recipes] == ["erm", "pgdt"]
    evals = suite.evaluations("digits")
    assert [e.name for e in evals] == ["clean", "attack:PGD"]
    pgd = evals[1].params["params"]
    assert pgd["eps"] == pytest.approx(0.1) and pgd["alpha"] == pytest.approx(0.025) and pgd["steps"] == 3


BAD = [
    ("datasets: {digits: {}}\nrecipes: [erm]\nevaluation: [clean]\n", 3, "evaluation", "did you mean 'evaluations'"),
    ("datasets: [digit]\nrecipes: [erm]\nevaluations: [clean]\n", 1, "datasets", "did you mean 'digits'"),
    ("datasets: [digits]\nrecipes: [ermm]\nevaluations: [clean]\n", 2, "recipes", "did you mean 'erm'"),
    ("datasets: [digits]\nrecipes: [erm]\nevaluations:\n  - attack: PDG\n", 4, "attack", "did you mean 'PGD'"),
    ("datasets: [digits]\nrecipes: [erm]\nevaluations:\n  - attack: PGD\n    params: {eps: 2}\n", 5, "params.eps", "<= 1"),
    ("datasets: [digits]\nrecipes: [erm]\nevaluations:\n  - attack: PGDL2\n    params:\n      alpha: -1/5\n", 6, "params.alpha", ">= 0"),
    ("datasets: [digits]\nrecipes: [erm]\nevaluations:\n  - attack: PGD\n    params: {stepz: 2}\n", 5, "params.stepz", "did you mean 'steps'"),
    ("datasets: {digits: {n_test: many}}\nrecipes: [erm]\nevaluations: [clean]\n", 1, "datasets.digits.n_test", "expected an integer"),
    ("datasets: [digits]\nrecipes:\n  - {card: erm, epochs: -1}\nevaluations: [clean]\n", 3, "recipes.epochs", ">= 1"),
    ("datasets: [digits]\nrecipes:\n  - {card: pgdt, args: {eps: 8/0}}\nevaluations: [clean]\n", 3, "args.eps", "division by zero"),
    ("datasets: [digits]\nrecipes: [erm, erm]\nevaluations: [clean]\n", 2, "recipes", "listed twice"),
    ("datasets: [digits]\nrecipes: [erm]\nevaluations: [clean, clean]\n", 3, "as", "two evaluations named 'clean'"),
    ("datasets: [digits]\nrecipes: [erm]\nevaluations: [clean\n", 4, None, "invalid YAML"),
]


@pytest.mark.parametrize("body,line,field,message", BAD)
def test_mistakes_name_file_line_and_field(tiny_suite, cli, tmp_path, body, line, field, message):
    path = tiny_suite(body, name="bad.yaml")
    out = tmp_path / "out"
    code, stdout, err = cli("run", path, "--out", out)
    assert code == 2
    assert err.count("\n") == 1, err  # one line
    assert f"{path}:{line}" in err
    if field:
        assert f": {field}:" in err
    assert message in err
    assert not out.exists()  # nothing written


def test_missing_suite_file(cli, tmp_path):
    code, _, err = cli("validate", tmp_path / "nope.yaml")
    assert code == 2 and "nope.yaml: no such file" in err


def test_card_mistake_names_the_card_file(tiny_suite, cli, tmp_path):
    (tmp_path / "models" / "broken.yaml").write_text("method: erm\ndatasets:\n  digits: {arch: small_cnn, epochz: 1}\n")
    path = tiny_suite("datasets: [digits]\nrecipes: [broken]\nevaluations: [clean]\n", name="b.yaml")
    code, _, err = cli("validate", path)
    assert code == 2 and "broken.yaml:3" in err and "epochz" in err and "did you mean 'epochs'" in err


def test_card_without_the_dataset(tiny_suite, cli):
    path = tiny_suite("datasets: [mnist]\nrecipes: [erm]\nevaluations: [clean]\n", name="m.yaml")
    code, _, err = cli("validate", path)
    assert code == 2 and "has no settings for dataset 'mnist'" in err and "m.yaml:2" in err


def test_duplicate_key_is_an_error(tmp_path):
    p = tmp_path / "d.yaml"
    p.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(UserError, match=r"d.yaml:3: a: duplicate key"):
        load_yaml(p)


@pytest.mark.parametrize("default,label,name", [("attack:PGD", "PGD-20", "attack:PGD-20"),
                                                ("attack:PGD", "attack:PGD-fast", "attack:PGD-fast"),
                                                ("certify:linf", "linf-paper", "certify:linf-paper"),
                                                ("clean", "clean-twice", "clean-twice"), ("attack:PGD", None, "attack:PGD")])
def test_as_names_keep_the_kind_prefix(default, label, name):
    from bench.suite.config import display_name

    assert display_name(default, label) == name

"""bench.results.names: one module builds block names and their columns; parse reads names written before the columns."""
import numpy as np
import pytest

from bench.results import names

CASES = [  # (block_name arguments, name, parse)
    (("attack:PGD", 0.1, "vote", True), "attack:PGD@0.1[vote,EOT]",
     {"kind": "attack", "base": "PGD", "predictor": "vote", "adaptive": True, "sweep": True, "component": None}),
    (("attack:AutoAttack", None, None, False, None, None, "apgd-ce"), "attack:AutoAttack/apgd-ce",
     {"kind": "attack", "base": "AutoAttack", "predictor": None, "adaptive": False, "sweep": False,
      "component": "apgd-ce"}),
    (("certify:linf", 0.3, None, False, 0.1, 0.01), "certify:linf@0.3[kappa=0.1,alpha=0.01]",
     {"kind": "certify", "base": "linf", "predictor": None, "adaptive": False, "sweep": True, "component": None}),
    (("certify:linf", 0.3, None, False, 0.01, 0.01), "certify:linf@0.3",  # the paper's defaults stay unnamed
     {"kind": "certify", "base": "linf", "predictor": None, "adaptive": False, "sweep": True, "component": None}),
    (("clean", None, "vote"), "clean[vote]",
     {"kind": "clean", "base": "clean", "predictor": "vote", "adaptive": False, "sweep": False, "component": None}),
    (("smooth", 0.25), "smooth@0.25",
     {"kind": "smooth", "base": "smooth", "predictor": None, "adaptive": False, "sweep": True, "component": None}),
]


@pytest.mark.parametrize("args, name, parts", CASES)
def test_block_name_and_parse_agree(args, name, parts):
    assert names.block_name(*args) == name
    assert names.parse(name) == parts


def test_block_columns():
    cols = names.block(3, "attack", "attack:PGD-20", 0.1, "vote", True, eps=0.1)
    assert set(cols["evaluation"]) == {"attack:PGD-20@0.1[vote,EOT]"}
    assert cols["base"].tolist() == ["PGD-20"] * 3 and cols["adaptive"].all() and cols["sweep"].all()
    assert np.isnan(cols["kappa"]).all() and cols["eps"].tolist() == [0.1] * 3
    assert set(names.PART_COLUMNS) <= set(cols)


def test_display():
    assert names.display("PGD", "vote", True) == "PGD [vote, EOT] (adaptive)"
    assert names.display("FGSM") == "FGSM"


def test_family_drops_sweep_point_and_tags():
    assert names.family("attack:PGD@0.1[vote,EOT]", "attack", "PGD") == "attack:PGD"
    assert names.family("attack:AutoAttack/apgd-ce", "attack", "AutoAttack", "apgd-ce") == "attack:AutoAttack/apgd-ce"
    assert names.family("clean[vote]", "clean", "clean") == "clean"
    assert names.family("gauss@0.25", "smooth", "gauss") == "gauss"  # an as: label without the kind prefix

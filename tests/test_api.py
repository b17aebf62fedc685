"""The Python API of issue 24: bench.evaluate's errors name the argument and speak Python (item 5), it shows
a progress bar (item 5) and needs normalize= (item 8); bench.load_split gives bench's own splits (item 6);
bench.summary is the report's summary, imported on first use (item 5, landing with the report half)."""
from __future__ import annotations

import pytest
import torch
from toy_nets import small

import bench
from bench.data import DATASETS
from bench.errors import UserError
from bench.nets import build

CASES = [
    ({"evaluations": ["clean", "attack: PDG"]}, "evaluations[1]: attack: unknown attack 'PDG' (did you mean 'PGD'?)"),
    ({"evaluations": "attack: PDG"}, "evaluations: attack: unknown attack 'PDG' (did you mean 'PGD'?)"),
    ({"evaluations": ["attak: PGD"]}, "evaluations[0]: unknown evaluation kind 'attak' (did you mean 'attack'?)"),
    ({"evaluations": [{"pr": "linf", "n": 0}]}, "evaluations[0]: pr.n: must be >= 1, got 0"),
    ({"evaluations": ["clean", "clean"]}, "evaluations[1]: as: two evaluations named 'clean' (the other at "
                                          "evaluations[0]); give one a different `as:`"),
    ({"evaluations": "attack: ["}, "evaluations: not valid YAML: while parsing a flow node expected the node "
                                   "content, but found '<stream end>'"),
    ({"evaluations": []}, "evaluations: no evaluations"),
    ({"dataset": "digts"}, "dataset: unknown dataset 'digts' (did you mean 'digits'?)"),
    ({"n_test": 0}, "n_test: must be >= 1, got 0"),
    ({"n_test": "x"}, "n_test: expected an integer, got 'x'"),
    ({"seed": -1}, "seed: must be >= 0, got -1"),
    ({"batch_size": 0}, "batch_size: must be >= 1, got 0"),
    ({"label": ""}, "label: expected a non-empty name, got ''"),
    ({"model": "net.pt"}, "model: expected a torch.nn.Module, got str"),
    ({"model": small(classes=7), "label": "mine"},
     "model: mine: the model returns (8, 7) for a batch of 8; digits needs (8, 10) logits (10 classes)"),
    ({"normalize": {"mean": [0.5]}}, "normalize: std: missing required key"),
    ({"normalize": {"mean": (0.5, 0.5), "std": (1.0, 1.0)}, "label": "mine"},
     "normalize: mine: normalize has 2 channels, digits has 1"),
]


@pytest.mark.parametrize("kwargs,message", CASES, ids=[str(i) for i in range(len(CASES))])
def test_evaluate_errors_name_the_argument(kwargs, message):
    args = {"model": small(), "n_test": 8, "device": "cpu", "normalize": "none", "progress": False, **kwargs}
    with pytest.raises(UserError) as e:
        bench.evaluate(**args)
    assert str(e.value) == message


def test_evaluate_errors_never_speak_cli_or_suite(tmp_path):
    with pytest.raises(UserError) as e:
        bench.evaluate(small(), dataset="mnist", data_root=str(tmp_path), n_test=8, normalize="none", progress=False)
    text = str(e.value)
    assert "pass data_root=DIR or set BENCH_DATA, or pass download=True" in text
    assert "--data-root" not in text and "suite" not in text and "bench.evaluate" not in text


def test_normalize_is_required_with_the_reason():
    with pytest.raises(UserError) as e:
        bench.evaluate(small(), n_test=8)
    text = str(e.value)
    assert text.startswith('normalize: give normalize="none" if the model takes [0,1] pixels, or normalize={"mean"')
    assert "silently loses robust accuracy" in text and "\n" not in text


def test_normalize_puts_the_normalisation_in_front():
    """A body trained behind Normalize(0.5, 0.5), evaluated bare with normalize={...}, gives the rows (and the
    model cell id) of the whole net evaluated with normalize="none"."""
    torch.manual_seed(0)
    whole = build("small_cnn", DATASETS.get("digits"), width=8)
    kw = {"evaluations": ["clean", "attack: FGSM"], "n_test": 30, "device": "cpu", "progress": False}
    ref = bench.evaluate(whole, normalize="none", label="net", **kw)
    got = bench.evaluate(whole[1], normalize={"mean": [0.5], "std": [0.5]}, label="net", **kw)
    for col in ("evaluation", "index", "pred", "correct", "adv_pred", "train_cell", "cell"):
        assert got[col].equals(ref[col]), col


def test_evaluate_shows_progress_on_stderr_only(capsys):
    kw = {"evaluations": ["clean", "attack: FGSM"], "n_test": 20, "device": "cpu", "normalize": "none"}
    bench.evaluate(small(), **kw)
    out, err = capsys.readouterr()
    assert out == "" and "bench.evaluate" in err and "2/2" in err and "attack:FGSM" in err
    bench.evaluate(small(), progress=False, **kw)
    assert capsys.readouterr() == ("", "")


def test_evaluate_records_the_settings_it_ran_under(tmp_path):
    """run.json of an `out=` folder states the threads and deterministic flag in effect, as `bench run`'s does
    (`bench check` compares them with a reference's); a later call under other settings replaces them."""
    import json

    kw = {"evaluations": ["clean"], "n_test": 10, "device": "cpu", "normalize": "none", "progress": False}
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        bench.evaluate(small(), out=tmp_path / "r", **kw)
        info = json.loads((tmp_path / "r" / "run.json").read_text())
        assert (info["threads"], info["deterministic"], info["device"]) == (1, False, "cpu")
        torch.set_num_threads(2)
        bench.evaluate(small(), label="other", out=tmp_path / "r", **kw)
        assert json.loads((tmp_path / "r" / "run.json").read_text())["threads"] == 2
    finally:
        torch.set_num_threads(before)


def test_load_split_is_benchs_split():
    x_train, y_train = bench.load_split("digits", "train")
    x_test, y_test = bench.load_split("digits", "test")
    assert x_train.shape == (1297, 1, 8, 8) and x_test.shape == (500, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64 and 0 <= x_train.min() <= x_train.max() <= 1
    train = {x.numpy().tobytes() for x in x_train}
    assert len(train) == 1297 and not train & {x.numpy().tobytes() for x in x_test}  # disjoint: all 1797 digits
    # n= and seed= give the subset bench evaluates: the rows' `index` selects it from the test split
    rows = bench.evaluate(small(), n_test=40, seed=3, device="cpu", normalize="none", progress=False)
    x, y = bench.load_split("digits", "test", n=40, seed=3)
    assert torch.equal(x, x_test[torch.tensor(rows["index"].to_numpy())]) and (y.numpy() == rows["label"]).all()
    x_test.zero_()  # a copy: bench's own cached split is untouched
    assert bench.load_split("digits", "test")[0].sum() > 0


@pytest.mark.parametrize("kwargs,message", [
    ({"dataset": "digts"}, "dataset: unknown dataset 'digts' (did you mean 'digits'?)"),
    ({"split": "val"}, 'split: expected "train" or "test", got \'val\''),
    ({"n": 0}, "n: must be >= 1, got 0"),
    ({"dataset": "cifar10", "data_root": "/nonexistent"}, None),
])
def test_load_split_errors(kwargs, message):
    with pytest.raises(UserError) as e:
        bench.load_split(**{"dataset": "digits", **kwargs})
    if message:
        assert str(e.value) == message
    else:
        assert "pass data_root=DIR" in str(e.value) and "--data-root" not in str(e.value)


def test_bench_summary_is_the_reports_summary():
    summary = pytest.importorskip("bench.report.summary", reason="bench.report.summary lands with the report half "
                                  "of issue 24 (bench/__init__.py already exposes it)")
    assert bench.summary is summary.summary
    with pytest.raises(AttributeError, match="no attribute 'sumary'"):
        bench.sumary  # noqa: B018

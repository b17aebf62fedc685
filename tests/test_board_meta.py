"""Where a leaderboard entry's metadata comes from (issue 24, item 2): model cards' `paper:`/`venue:`/`url:`,
external models' `meta:`, run.json recording both (and old files without them still read), and none of it in a
cell id: a card's reference or a model's `meta:` changes no id."""
from __future__ import annotations

import json

import pytest
import torch

from bench.data import DATASETS
from bench.errors import UserError
from bench.nets import build
from bench.plan.grid import plan
from bench.report.about import URL, YEAR, describe
from bench.results import runfile
from bench.suite.cards import REPO_MODELS, load_card
from bench.suite.config import load_suite


def test_every_shipped_card_names_its_paper_venue_and_link():
    cards = sorted(REPO_MODELS.glob("*.yaml"))
    assert len(cards) >= 20
    for path in cards:
        card = load_card(path.stem, [REPO_MODELS], "test", "card")
        assert card.paper, card.name
        if card.name == "erm":  # standard training: no paper of its own
            assert card.venue == card.url == ""
            continue
        assert YEAR.search(card.venue) and URL.fullmatch(card.url), card.name
        assert card.url.startswith(("https://arxiv.org/abs/", "https://openreview.net/forum?id=", "https://doi.org/"))
    assert load_card("trades", [REPO_MODELS], "t", "c").venue == "ICML 2019"
    assert load_card("mart", [REPO_MODELS], "t", "c").url == "https://openreview.net/forum?id=rklOg6EFwS"


def _ids(suite) -> list[str]:
    trains, evals = plan(load_suite(suite))
    return [c.id for c in trains] + [c.id for c in evals]


def test_card_reference_is_recorded_and_changes_no_id(tiny_suite, tmp_path, cli):
    suite = tiny_suite()
    before = _ids(suite)
    card = tmp_path / "models" / "erm.yaml"
    card.write_text(card.read_text().replace("paper: test card", "paper: Someone et al. 2020, A title\n"
                                             "venue: ICLR 2020\nurl: https://openreview.net/forum?id=abc"))
    assert _ids(suite) == before
    info = runfile.record(load_suite(suite), *plan(load_suite(suite)), "cpu")
    assert info["recipes"]["erm"] == {"card": "erm", "method": "erm", "paper": "Someone et al. 2020, A title",
                                      "venue": "ICLR 2020", "url": "https://openreview.net/forum?id=abc"}
    runfile.check(info, "run.json")
    about = describe("erm", info, {"parameters": 1234, "config": {"arch": "small_cnn", "arch_args": {"width": 8}}})
    assert about["year"] == 2020 and about["extra_data"] is False and about["architecture"] == "small_cnn (width=8)"
    # a link the site would follow is an address, never a script
    card.write_text(card.read_text().replace("url: https://openreview.net/forum?id=abc", "url: javascript:alert(1)"))
    code, _, err = cli("validate", suite)
    assert code == 2 and "erm.yaml:4: url: expected an http:// or https:// address, got 'javascript:alert(1)'" in err
    card.write_text(card.read_text().replace("venue: ICLR 2020", "venue: 2020"))
    code, _, err = cli("validate", suite)
    assert code == 2 and "erm.yaml:3: venue: expected a string, got 2020" in err


EXTERNAL = """\
datasets: {{digits: {{n_test: 40}}}}
evaluations: [clean]
models:
  - as: ext
    arch: small_cnn
    arch_args: {{width: 8}}
    checkpoint: net.pt
    normalize: none
{meta}"""


def test_external_meta_is_recorded_and_changes_no_id(tmp_path, cli):
    torch.manual_seed(0)
    torch.save(build("small_cnn", DATASETS.get("digits"), width=8).state_dict(), tmp_path / "net.pt")
    suite = tmp_path / "s.yaml"
    suite.write_text(EXTERNAL.format(meta=""))
    before = _ids(suite)
    suite.write_text(EXTERNAL.format(meta="    meta: {paper: 'Wang et al. 2020, MART', venue: ICLR 2020, url: "
                                          "'https://openreview.net/forum?id=rklOg6EFwS', extra_data: false, "
                                          "date: '2020-01-01', architecture: WRN-28-10}\n"))
    assert _ids(suite) == before
    info = runfile.record(load_suite(suite), *plan(load_suite(suite)), "cpu")
    meta = info["models"]["ext"]["meta"]
    assert meta == {"paper": "Wang et al. 2020, MART", "venue": "ICLR 2020", "extra_data": False,
                    "url": "https://openreview.net/forum?id=rklOg6EFwS", "date": "2020-01-01", "architecture": "WRN-28-10"}
    about = describe("ext", info, {"parameters": 36_479_194, "external": {"source": "arch", "arch": "small_cnn"}})
    assert (about["architecture"], about["year"], about["extra_data"], about["date"]) == ("WRN-28-10", 2020, False,
                                                                                           "2020-01-01")
    assert about["trained"] is False
    for bad, why in [("{papr: x}", "models.meta.papr: unknown key 'papr' (did you mean 'paper'?)"),
                     ("{extra_data: maybe}", "models.meta.extra_data: expected true or false, got 'maybe'"),
                     ("{date: 2020-01-01}", "unsupported value datetime.date(2020, 1, 1) (a date); quote it"),
                     ("{url: 'file:///etc/passwd'}", "models.meta.url: expected an http:// or https:// address")]:
        suite.write_text(EXTERNAL.format(meta=f"    meta: {bad}\n"))
        code, _, err = cli("validate", suite)
        assert code == 2 and why in err and len(err.strip().splitlines()) == 1, err


def test_run_json_description_fields_are_checked_and_old_files_read(tmp_path):
    old = {"eval_cells": [], "recipes": {"erm": {"card": "erm", "method": "erm", "paper": "x"}},
           "models": {"ext": {"source": "torchscript", "torchscript": "m.ts"}}}
    runfile.check(old, "run.json")  # written before venue, url and meta existed
    assert describe("ext", old, None)["extra_data"] is None
    for bad, field in [({"recipes": {"erm": {"venue": 2019}}}, "recipes.erm.venue: expected a string"),
                       ({"recipes": {"erm": "trades"}}, "recipes.erm: expected a mapping"),
                       ({"models": {"ext": {"meta": "x"}}}, "models.ext.meta: expected a mapping"),
                       ({"models": {"ext": {"meta": {"extra_data": "no"}}}}, "models.ext.meta.extra_data: expected true"),
                       ({"models": {"ext": {"meta": {"url": ["a"]}}}}, "models.ext.meta.url: expected a string")]:
        with pytest.raises(UserError) as e:
            runfile.check({**old, **bad}, "run.json")
        assert f"run.json: {field}" in str(e.value)
    # a hand-edited link that is not an address is not linked
    info = {"recipes": {"x": {"card": "x", "method": "erm", "url": "javascript:alert(1)", "venue": "ICML 2019"}}}
    assert describe("x", info, None)["url"] == ""
    (tmp_path / "run.json").write_text(json.dumps({**old, "eval_cells": []}))
    assert runfile.read(tmp_path)["recipes"]["erm"]["paper"] == "x"


def test_model_records_count_parameters(tiny_suite, tmp_path, cli):
    """bench fills in what the leaderboard shows: each model cell's record holds its parameter count (counted
    when it is trained, or registered when trained elsewhere) and the date."""
    suite = tiny_suite("""\
        datasets: {digits: {n_test: 20}}
        recipes: [erm]
        evaluations: [clean]
        """)
    code, _, err = cli("run", suite, "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    from bench.results.folder import model_record

    [cell] = runfile.read(tmp_path / "out")["train_cells"]
    record = model_record(tmp_path / "out", cell["id"])
    net = build("small_cnn", DATASETS.get("digits"), width=8)
    assert record["parameters"] == sum(p.numel() for p in net.parameters()) > 0
    assert YEAR.search(record["date"]) and len(record["date"]) == 10

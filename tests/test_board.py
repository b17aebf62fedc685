"""The leaderboard's boards (bench.report.board), bench.summary and `bench report --format json|csv`, the entry
pages' settings and parameter tables, and the site's paths (issue 24 items 1, 3, 4, 5)."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from bench.report.board import boards, entries
from bench.report.data import Rows
from bench.report.site import Paths, write_site
from bench.report.site_entry import OPTIMIZER_FIELDS, SCHEDULE_FIELDS, settings_rows
from bench.report.stats import wilson
from bench.report.summary import COLUMNS, summary
from bench.results.schema import COLUMNS as ROW_COLUMNS
from report_results import write_results

AA = json.dumps({"version": "standard", "attacks": ["apgd-ce", "apgd-t"], "norm": "linf", "eps": [0.1]})
AA_L2 = json.dumps({"version": "standard", "attacks": ["apgd-ce"], "norm": "l2", "eps": [0.5]})
RAND = json.dumps({"version": "rand", "attacks": ["apgd-ce"], "norm": "linf", "eps": [0.1]})
TORCHATTACKS = json.dumps({"attack": "torchattacks.AutoAttack", "params": {"version": "standard", "eps": 0.1}})
PGD = json.dumps({"attack": "PGD", "params": {"eps": 0.1, "steps": 10}})
N = 50


def _block(recipe, evaluation, correct, kind="attack", base=None, eps=0.1, norm="linf", params="{}",
           component=None, cell=None):
    correct = np.asarray(correct, bool)
    return pd.DataFrame({"dataset": "digits", "recipe": recipe, "seed": 0, "evaluation": evaluation, "kind": kind,
                         "base": base or evaluation.split(":")[-1].split("/")[0], "component": component,
                         "eps": np.nan if kind == "clean" else eps, "norm": None if kind == "clean" else norm,
                         "index": range(len(correct)), "correct": correct, "params": params, "arch": "small_cnn",
                         "cell": cell or f"{recipe}:{evaluation}", "train_cell": recipe})


def _ok(k: int) -> list[bool]:
    return [True] * k + [False] * (N - k)


def _rows() -> pd.DataFrame:
    """Entries on digits at Linf 0.1: `aa` (AutoAttack, PGD weaker), `aa-label` (AutoAttack under an `as:`
    label), `pgd` (PGD only, the highest number of all), `torchattacks` (torchattacks' own AutoAttack),
    `rand` (AutoAttack's rand version) and `comp` (PGD and an AutoAttack component only); one L1 attack (no
    reference) and an L2 AutoAttack."""
    parts = []
    for recipe, clean in [("aa", 45), ("aa-label", 45), ("pgd", 48), ("torchattacks", 40), ("rand", 40),
                          ("comp", 40)]:
        parts.append(_block(recipe, "clean", _ok(clean), kind="clean"))
    parts += [
        _block("aa", "attack:PGD", _ok(30), params=PGD),
        _block("aa", "attack:AutoAttack", _ok(20), params=AA),
        _block("aa", "attack:FGSM", [False] * 10 + _ok(40)[:40], params=PGD),  # flips other inputs
        _block("aa-label", "attack:AA", _ok(20), params=AA, base="AA"),
        _block("pgd", "attack:PGD", _ok(35), params=PGD),
        _block("torchattacks", "attack:torchattacks.AutoAttack", _ok(25), params=TORCHATTACKS),
        _block("rand", "attack:AutoAttack-rand", _ok(25), params=RAND),
        _block("comp", "attack:PGD", _ok(30), params=PGD),
        _block("comp", "attack:AutoAttack/apgd-ce", _ok(5), params=AA, component="apgd-ce"),
        _block("aa", "attack:L1", _ok(10), norm="l1", eps=5.0, params=json.dumps({"attack": "L1"})),
        _block("aa", "attack:AutoAttack@0.5", _ok(15), norm="l2", eps=0.5, params=AA_L2),
    ]
    return pd.concat(parts, ignore_index=True).reindex(columns=ROW_COLUMNS)


def _boards(rows: pd.DataFrame, run: dict | None = None) -> dict:
    r = Rows.from_frame(rows)
    return {(b["norm"], b["eps"]): b for b in boards(r, run or {}, entries(r, run or {}))}


def test_only_autoattack_ranks_and_others_are_listed_apart():
    found = _boards(_rows())
    linf = found[("Linf", 0.1)]
    assert linf["reference"] == "AutoAttack (standard)"
    ranked = {line["entry"].label: line for line in linf["ranked"]}
    apart = {line["entry"].label: line for line in linf["unranked"]}
    assert set(ranked) == {"aa", "aa-label"}  # an `as:` label keeps its place
    assert set(apart) == {"pgd", "torchattacks", "rand", "comp"}  # never ranked, however high their numbers
    # a ranked entry's robust accuracy is AutoAttack's, with its Wilson interval; ties share a rank
    assert ranked["aa"]["robust"]["value"] == 20 / N and (ranked["aa"]["robust"]["lo"],
                                                         ranked["aa"]["robust"]["hi"]) == wilson(20, N)
    assert ranked["aa"]["rank"] == ranked["aa-label"]["rank"] == 1 and ranked["aa"]["reference"] == ["attack:AutoAttack"]
    # best known: the per-input AND over every attack of the threat model (AutoAttack, PGD and FGSM here)
    assert ranked["aa"]["best"]["value"] == 10 / N and ranked["aa"]["attacks"] == ["attack:AutoAttack", "attack:FGSM",
                                                                                  "attack:PGD"]
    assert apart["pgd"]["best"]["value"] == 35 / N and "robust" not in apart["pgd"] and "rank" not in apart["pgd"]
    assert apart["comp"]["attacks"] == ["attack:PGD"]  # a component is not an attack of the board
    # boards of other norms: L2 has AutoAttack as its reference; L1 has none, so nothing is ranked there
    assert [line["entry"].label for line in found[("L2", 0.5)]["ranked"]] == ["aa"]
    assert found[("L1", 5.0)]["reference"] is None and found[("L1", 5.0)]["ranked"] == []


def test_summary_is_the_leaderboard_as_a_frame(tmp_path):
    frame = summary(_rows())
    assert list(frame.columns) == COLUMNS
    linf = frame[(frame["threat_model"] == "Linf")].set_index("model")
    assert list(linf.index[:2]) == ["aa", "aa-label"] and linf.loc["aa", "rank"] == 1 and linf.loc["aa", "ranked"]
    assert linf.loc["aa", "robust_accuracy"] == 0.4 and linf.loc["aa", "robust_evaluation"] == "attack:AutoAttack"
    assert (linf.loc["aa", "robust_lo"], linf.loc["aa", "robust_hi"]) == wilson(20, N)
    assert linf.loc["aa", "clean_accuracy"] == 0.9 and linf.loc["aa", "best_known"] == 0.2
    assert not linf.loc["pgd", "ranked"] and pd.isna(linf.loc["pgd", "rank"])
    assert linf.loc["pgd", "robust_evaluation"] == "best known" and linf.loc["pgd", "robust_accuracy"] == 0.7
    assert linf.loc["aa", "architecture"] == "small_cnn" and linf.loc["aa", "n"] == N
    # from a results folder (and several): the same numbers, with what run.json and the records know
    write_results(tmp_path / "one", rows=_rows())
    from_folder = summary(tmp_path / "one")
    assert from_folder[["model", "threat_model", "robust_accuracy"]].equals(frame[["model", "threat_model",
                                                                                   "robust_accuracy"]])
    assert len(summary([str(tmp_path / "one")])) == len(frame)
    with pytest.raises(TypeError, match="bench.summary takes a results folder"):
        summary(42)


def test_report_format_json_and_csv(tmp_path, cli):
    write_results(tmp_path / "one", rows=_rows())
    code, text, err = cli("report", tmp_path / "one", "--format", "json")
    assert code == 0, err
    records = json.loads(text)
    frame = summary(tmp_path / "one")
    assert [r["model"] for r in records] == list(frame["model"]) and set(records[0]) == set(COLUMNS)
    first = records[0]
    assert first["ranked"] is True and first["rank"] == 1 and first["robust_accuracy"] == 0.4
    assert records[-1]["rank"] is None  # NaN and NA are null
    code, text, err = cli("report", tmp_path / "one", "--format", "csv", "--out", tmp_path / "board.csv")
    assert code == 0 and "wrote" in text
    back = pd.read_csv(tmp_path / "board.csv")
    assert list(back.columns) == COLUMNS and np.allclose(back["robust_accuracy"], frame["robust_accuracy"],
                                                         equal_nan=True)
    code, _, err = cli("report", tmp_path / "one", "--source-label", "x")
    assert code == 2 and "--source-label names the results folders on a --site" in err


@pytest.mark.parametrize("name", sorted(OPTIMIZER_FIELDS))
def test_the_fields_shown_are_the_ones_the_optimizer_uses(name):
    """An entry page shows an optimizer's own fields only: those change the torch optimizer the training
    engine builds, the others (defaults the config carries) do not."""
    from bench.execute.train import make_optimizer

    base = {"name": name, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False, "betas": (0.9, 0.999),
            "rho": 0.9}
    changed = {"lr": 0.2, "momentum": 0.5, "weight_decay": 0.1, "nesterov": True, "betas": (0.5, 0.9), "rho": 0.5}

    def groups(cfg):
        p = [torch.nn.Parameter(torch.zeros(1))]
        return {k: v for k, v in make_optimizer(p, cfg).param_groups[0].items() if k != "params"}

    used = {k for k, v in changed.items() if groups({**base, k: v}) != groups(base)}
    assert used == set(OPTIMIZER_FIELDS[name])
    shown = dict(settings_rows({"optimizer": base, "schedule": {"name": "cosine", "milestones": [], "gamma": 0.1}},
                               Paths(".", [])))
    assert {k.split(".", 1)[1] for k in shown if k.startswith("optimizer.")} == used
    assert shown["schedule"] == "cosine" and not any(k.startswith("schedule.") for k in shown)
    assert set(SCHEDULE_FIELDS) == {"none", "multistep", "cosine", "cyclic"}


def test_paths_are_relative_or_labelled(tmp_path):
    site, folder = tmp_path / "site", tmp_path / "runs" / "A"
    assert Paths(site, [str(folder)]).show(str(folder / "samples" / "x.parquet")) == "../runs/A/samples/x.parquet"
    labelled = Paths(site, [str(folder)], ["team A"])
    assert labelled.show(str(folder / "samples" / "x.parquet")) == "team A/samples/x.parquet"
    assert labelled.show(str(folder)) == "team A" and labelled.show("ckpt/net.pt") == "ckpt/net.pt"
    assert not os.path.isabs(labelled.show("/elsewhere/net.pt"))


def test_site_shows_metadata_settings_and_no_absolute_path(tmp_path):
    """A folder written as a run would (run.json with cards' references and an external model's `meta:`,
    model records with their config and parameter count): the board and entry pages show the metadata, the
    settings as a table with only Adam's fields, the evaluation parameters as tables, the hashes folded away."""
    out = write_results(tmp_path / "run", rows=_rows())
    info = json.loads((out / "run.json").read_text())
    info["recipes"]["aa"] = {"card": "trades", "method": "trades", "paper": "Zhang et al. 2019, TRADES",
                             "venue": "ICML 2019", "url": "https://arxiv.org/abs/1901.08573"}
    info["models"] = {"pgd": {"source": "robustbench", "robustbench": "Wang2020Improving", "model_dir": str(tmp_path),
                              "meta": {"paper": "Wang et al. 2020, MART", "venue": "ICLR 2020", "extra_data": True,
                                       "architecture": "WRN-28-10", "date": "2020-01-01"}}}
    (out / "run.json").write_text(json.dumps(info))
    from bench.report.merge import load_many

    rows, run = load_many([out])
    for cell in run["cells"].values():  # what train_model records (bench.execute.compute)
        cell["model"] = {"parameters": 1_234_567, "date": "2024-02-03", "config": {
            "arch": "small_cnn", "arch_args": {"width": 8}, "epochs": 1, "optimizer": {
                "name": "adam", "lr": 0.001, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False,
                "betas": [0.9, 0.999], "rho": 0.9}, "schedule": {"name": "cosine", "milestones": [], "gamma": 0.1},
            "args": {"beta": 6}}}
    site = tmp_path / "site"
    write_site(site, rows, run)
    pages = {p.name: p.read_text() for p in site.glob("*.html")}
    assert all(str(tmp_path) not in page for page in pages.values())
    board = next(page for name, page in pages.items() if name.startswith("board-") and "Linf, ε = 0.1" in page)
    assert '<a href="https://arxiv.org/abs/1901.08573" rel="noopener noreferrer">ICML 2019</a>' in board
    assert "WRN-28-10" in board and "1.23M" in board and "2020-01-01" in board and ">yes</td>" in board
    entry = next(page for page in pages.values() if "<h1>aa</h1>" in page)
    settings = entry.split('<table class="about settings">')[1].split("</table>")[0]
    assert "<th>optimizer.betas</th><td>0.9, 0.999</td>" in settings and "<th>args.beta</th><td>6</td>" in settings
    for hidden in ("momentum", "rho", "nesterov", "milestones", "gamma"):
        assert hidden not in settings, hidden
    assert "<th>version</th><td>standard</td>" in entry and "<th>attacks</th><td>apgd-ce, apgd-t</td>" in entry
    cells_at = entry.index('<details class="cells">')
    assert all(entry.index(c) > cells_at for c in run["cells"] if c in entry)  # cell ids only in the folded part
    assert "1.23M (1,234,567)" in entry and "Zhang et al. 2019, TRADES" in entry

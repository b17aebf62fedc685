"""`bench report DIR [DIR ...]` over several results folders, and the static leaderboard site (--site) in a
real headless Chromium: sorting and search work, every link resolves, labels with HTML stay text."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import torch

import bench
from bench.data import DATASETS
from bench.nets import build
from bench.report.render import md
from bench.results.folder import read_rows
from bench.report.merge import load_many
from test_html_chromium import FLAGS, chromium  # noqa: F401  (the fixture)

EVIL = "evil<img src=x onerror=document.body.setAttribute('data-x',1)>"
PGD = "attack: PGD\nparams: {steps: 3}"


def _net(seed: int):
    torch.manual_seed(seed)
    return build("small_cnn", DATASETS.get("digits"), width=8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two submissions: A (two nets, clean + PGD + AutoAttack), B (one net with HTML in its label, clean +
    PGD + FGSM); each a results folder written by bench.evaluate."""
    root = tmp_path_factory.mktemp("site")
    for seed, label in ((0, "net-a"), (1, "net-b")):
        bench.evaluate(_net(seed), evaluations=["clean", PGD, "autoattack: standard"], n_test=40, out=root / "A",
                       label=label, device="cpu", normalize="none", progress=False)
    bench.evaluate(_net(2), evaluations=["clean", PGD, "attack: FGSM"], n_test=40, out=root / "B", label=EVIL,
                   device="cpu", normalize="none", progress=False)
    return root


def test_merged_report_over_two_folders(folders, cli):
    a, b = read_rows(folders / "A"), read_rows(folders / "B")
    rows, run = load_many([folders / "A", folders / "B"])
    labels = set(rows.query("SELECT DISTINCT recipe FROM rows")["recipe"])
    assert len(rows) == len(a) + len(b) and labels == {"net-a", "net-b", EVIL}
    assert run["sources"][EVIL] == [str(folders / "B")] and run["order"]["recipes"] == ["net-a", "net-b", EVIL]
    code, text, err = cli("report", folders / "A", folders / "B")
    assert code == 0, err
    board = text.split("## Leaderboard")[1].split("##")[0]
    assert all(md(label) in board for label in ("net-a", "net-b", EVIL))
    # bench.summary over what bench.evaluate returns (a DataFrame), a folder, or both folders
    from bench.report.summary import summary

    frame = summary(a)
    assert list(frame["model"]) == ["net-a", "net-b"] and frame["ranked"].all()
    assert frame.set_index("model")["robust_evaluation"].eq("attack:AutoAttack").all()
    both = summary([folders / "A", folders / "B"]).set_index("model")
    assert bool(both.loc[EVIL, "ranked"]) is False and both.loc[EVIL, "evaluations"] == "attack:FGSM; attack:PGD"
    assert both.loc["net-a", "parameters"] == sum(p.numel() for p in _net(0).parameters())
    # an identical copy is read once
    shutil.copytree(folders / "A", folders / "A-copy", dirs_exist_ok=True)
    rows2, _ = load_many([folders / "A", folders / "A-copy", folders / "B"])
    assert len(rows2) == len(rows)


def test_conflicting_settings_are_refused(folders, tmp_path, cli):
    bench.evaluate(_net(0), evaluations=["attack: PGD\nparams: {steps: 4}"], n_test=40, out=tmp_path / "C",
                   label="net-a", device="cpu", normalize="none", progress=False)
    code, out, err = cli("report", folders / "A", tmp_path / "C")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"{folders / 'A'} and {tmp_path / 'C'} both hold digits / net-a / seed 0 / attack:PGD" in err
    assert '"steps":3' in err and '"steps":4' in err
    newer = tmp_path / "A-newer"
    shutil.copytree(folders / "A", newer)
    info = json.loads((newer / "run.json").read_text())
    info["versions"]["bench"] = "9.9"
    (newer / "run.json").write_text(json.dumps(info))
    code, _, err = cli("report", folders / "A", newer)
    assert code == 2 and "with different settings (bench 0.1.0 vs 9.9)" in err


def _dom(chromium, tmp_path, url: str) -> str:
    out = subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=60)
    return out.stdout


def _body_rows(dom: str, table: str = "board") -> list[tuple[str, str]]:
    body = dom.split(f'id="{table}"')[1].split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr data-name=\"([^\"]*)\"( hidden=\"\")?", body)


def test_site_in_chromium(folders, tmp_path, cli, chromium):  # noqa: F811
    """The site over A (two nets with AutoAttack) and B (one net with PGD and FGSM only): A's nets are ranked by
    AutoAttack, B's is listed apart and never ranked with them; metadata is shown; no absolute path of this
    machine appears in any page; sorting and search work on both tables (driven through the address)."""
    site = tmp_path / "site"
    code, text, err = cli("report", folders / "A", folders / "B", "--site", site)
    assert code == 0, err
    pages = {p.name: p.read_text() for p in site.glob("*.html")}
    index = pages["index.html"]
    boards = re.findall(r'href="(board-[0-9a-f]+\.html)">digits, Linf, ε = 0.1<', index)
    assert len(boards) == 1 and len(pages) == 1 + 1 + 3  # index, one board, three entries
    # every link resolves inside the site, but links to papers; nothing is loaded from elsewhere
    for name, page in pages.items():
        for target in re.findall(r'(?:href|src)="([^"]*)"', page):
            assert (site / target.split("#")[0]).is_file(), (name, target)
        assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
        assert "url(" not in page and "@import" not in page and "default-src 'none'" in page
    # no absolute path of this machine: folders and files are relative to the site
    for name, page in pages.items():
        assert str(folders) not in page and str(tmp_path) not in page and "/tmp/" not in page, name
    assert "../" in index and ">all boards<" not in index  # the index does not link to itself
    board = site / boards[0]
    dom = _dom(chromium, tmp_path, board.as_uri())
    # ranked by AutoAttack: A's two nets; B's net (PGD and FGSM only) listed apart, never ranked with them
    assert [n for n, _ in _body_rows(dom, "board")] == ["net-a", "net-b"] or \
        [n for n, _ in _body_rows(dom, "board")] == ["net-b", "net-a"]
    evil = EVIL.replace("<", "&lt;").replace(">", "&gt;")
    assert [n for n, _ in _body_rows(dom, "unranked")] == [evil]
    assert "Not ranked: evaluated with attack:FGSM, attack:PGD, not AutoAttack (standard)" in dom
    ranked = dom.split('id="board"')[1].split("</table>")[0]
    ranks = re.findall(r'<tr data-name="[^"]*">\s*<td data-value="(\d+)">', ranked)
    aa = [float(v) for v in re.findall(r'<td data-value="([0-9.]+)">[0-9.]+ <span class="ci">\[[^\]]*\] n=40', ranked)]
    assert ranks in (["1", "2"], ["1", "1"]) and len(aa) == 2 and aa == sorted(aa, reverse=True)
    assert "data-x" not in dom.split("<body", 1)[1].split(">", 1)[0] and "evil&lt;img" in dom
    assert ranked.count('class="ok"') + ranked.count('class="flag"') == 2  # AutoAttack's checks of A's two nets
    # metadata: the architecture and its parameter count (counted when the model was registered), the date
    params = sum(p.numel() for p in _net(0).parameters())
    assert f'data-value="{params}"' in ranked and "Sequential" in ranked
    assert re.search(r'<td data-value="20\d\d-\d\d-\d\d">', ranked)
    # sorting each table by its model column, ascending then descending (the header's click sets the same state)
    dom = _dom(chromium, tmp_path, board.as_uri() + "#sort=1:asc")
    assert [n for n, _ in _body_rows(dom)] == ["net-a", "net-b"] and 'aria-sort="ascending"' in dom
    dom = _dom(chromium, tmp_path, board.as_uri() + "#sort=1:desc&sort-apart=3:asc")
    assert [n for n, _ in _body_rows(dom)] == ["net-b", "net-a"] and [n for n, _ in _body_rows(dom, "unranked")] == [evil]
    # the search box hides what does not match, in both tables
    dom = _dom(chromium, tmp_path, board.as_uri() + "#q=NET-")
    assert {n: bool(h) for n, h in _body_rows(dom)} == {"net-a": False, "net-b": False}
    assert {n: bool(h) for n, h in _body_rows(dom, "unranked")} == {evil: True}
    dom = _dom(chromium, tmp_path, board.as_uri() + "#q=evil")
    assert all(h for _, h in _body_rows(dom)) and not any(h for _, h in _body_rows(dom, "unranked"))
    # the index: each board with its top entries and sizes
    dom = _dom(chromium, tmp_path, (site / "index.html").as_uri())
    assert re.search(r"2 ranked by AutoAttack \(standard\) · <a href=\"board-[0-9a-f]+\.html#apart\">1 not ranked</a> "
                     r"\(evaluated without it\) · 40 test inputs", dom)
    # an entry page: the model's description, every evaluation with its interval, parameters as tables,
    # AutoAttack's checks, the cells' ids and hashes folded away, plots in the model's report colour
    entry = re.search(r'href="(entry-[0-9a-f]+\.html)">net-a<', dom).group(1)
    page = _dom(chromium, tmp_path, (site / entry).as_uri())
    for want in ("attack:AutoAttack", "attack:PGD", "clean", "AutoAttack's checks", "<svg", "rank 1 of 2",
                 "<th>steps</th><td>3</td>", "<th>n_test</th><td>40</td>", "<th>Parameters</th>"):
        assert want in page, want
    folded = page.split('<details class="cells">')[1]
    assert "sha256" in folded and "A/samples/" in folded and "sha256" not in page.split('<details class="cells">')[0]
    assert '<span class="swatch" style="background: #1f77b4"' in page and 'stroke="#1f77b4"' in page
    # --source-label names the folders instead of their paths
    labelled = tmp_path / "labelled"
    code, _, err = cli("report", folders / "A", folders / "B", "--site", labelled, "--source-label", "team A",
                       "--source-label", "team B")
    assert code == 0, err
    text = "".join(p.read_text() for p in labelled.glob("*.html"))
    assert "team A/samples/" in text and "team B" in text and "../" not in text and str(folders) not in text
    code, _, err = cli("report", folders / "A", folders / "B", "--site", labelled, "--source-label", "one")
    assert code == 2 and "give one label per results folder (2 folders, 1 labels)" in err


def test_boards_select_on_the_rows_columns_not_on_names():
    """A board takes its attacks by the rows' columns (kind, eps, norm, component), never by their names: an
    attack labelled without the `attack:` prefix is on it, an AutoAttack component and an unbounded attack are
    not, and the norm comes from the `norm` column (these rows' parameters name none)."""
    import pandas as pd

    from bench.report.data import Rows
    from bench.report.board import Entry, boards

    def block(evaluation, kind, correct, eps=float("nan"), norm=None, component=None, base=None):
        return pd.DataFrame({"dataset": "digits", "recipe": "m", "seed": 0, "evaluation": evaluation, "kind": kind,
                             "base": base or evaluation.split(":")[-1].split("/")[0], "component": component,
                             "eps": eps, "norm": norm, "index": range(4), "correct": correct, "cell": evaluation,
                             "params": "{}"})

    rows = Rows.from_frame(pd.concat([
        block("clean", "clean", [True] * 4),
        block("strong", "attack", [True, True, False, True], eps=0.1, norm="linf"),  # an `as:` label
        block("attack:AutoAttack/apgd-ce", "attack", [False] * 4, eps=0.1, norm="linf", component="apgd-ce"),
        block("attack:CW", "attack", [False] * 4)], ignore_index=True))
    entry = Entry("digits", "m", 0, "entry.html", "", [])
    [board] = boards(rows, {}, {("digits", "m", 0): entry})
    assert (board["norm"], board["eps"]) == ("Linf", 0.1) and board["ranked"] == []
    [line] = board["unranked"]
    assert line["attacks"] == ["strong"] and line["best"]["value"] == 0.75 and line["clean"]["value"] == 1.0
    assert not line["aa"]["ran"]

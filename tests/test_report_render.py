"""Renderers, plots, the published numbers and `bench report` on a results folder."""
import re

import pandas as pd

from bench.cli import main
from bench.report import load_rows, load_run
from bench.report.build import render, tables_for
from bench.report.published import compare_table, load_papers, matches
from bench.report.plots import figures, histogram, line_plot
from report_results import train_id, write_results
from report_rows import run_info, synthetic

ROWS, RUN = synthetic(), run_info()


def test_markdown_bold_dagger_and_intervals():
    t = tables_for(ROWS, RUN, ["leaderboard"])
    md = render("md", t, "t", ROWS, RUN, ci=True)
    assert "**" in md and "†" in md and re.search(r"\[\d+\.\d, \d+\.\d\]", md)


def test_latex_is_booktabs_with_two_level_header():
    tex = render("latex", tables_for(ROWS, RUN, ["table1"]), "t", ROWS, RUN)
    for needle in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-2}", r"\textbf{", r"$\pm$"):
        assert needle in tex, needle
    assert "%" not in tex.replace(r"\%", "")
    assert "Standard Accuracy & Certified Robustness Rate" in tex


def test_html_autoescapes_names_and_inlines_svg():
    rows = ROWS.replace({"recipe": {"erm": "<script>alert(1)</script>"}})
    run = {**RUN, "order": {}}
    page = render("html", tables_for(rows, run, None), "t", rows, run)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert page.count("<svg") == len(figures(rows, run)) >= 3
    assert 'class="sortable"' in page


def test_plots():
    svg = line_plot("t", "x", "y", {"a": [(0, 1.0), (0.1, 0.5)], "b&c": [(0, 0.9), (0.1, 0.2)]})
    assert svg.count("<polyline") == 2 and "b&amp;c" in svg
    hist = histogram("t", "PR", {"a": [0.05, 0.95, 0.96], "b": [0.5]})
    assert hist.count('class="bar"') == 20
    kinds = [caption for caption, _ in figures(ROWS, RUN)]
    assert any("against ε" in c for c in kinds) and any("PR" in c for c in kinds) and any("radius" in c for c in kinds)


def test_published_numbers_are_complete_data():
    papers = load_papers()
    assert set(papers["paper"]) == {"certified-pr-vmt", "adt", "mail"}
    assert pd.to_numeric(papers["value"]).notna().all() and (papers["source"] != "").all()
    vmt = papers[papers["paper"] == "certified-pr-vmt"]
    assert len(vmt[vmt["table"] == "Table 1"]) == 9 * 4 * 3
    assert len(vmt[vmt["table"] == "Table 9"]) == 26 * 9
    one = vmt[(vmt["table"] == "Table 1") & (vmt["method"] == "Ours") & (vmt["dataset"] == "cifar10")
              & (vmt["metric"] == "certified_accuracy")]
    assert one["value"].tolist() == [91.75]
    mail = papers[(papers["paper"] == "mail") & (papers["table"] == "Table 2") & (papers["method"] == "MAIL-TRADES")
                  & (papers["evaluation"] == "attack:AutoAttack")]
    assert mail[["value", "std"]].values.tolist() == [[50.60, 0.22]]
    adt = papers[(papers["paper"] == "adt") & (papers["method"] == "ADT_IMP-AM")]
    assert "worst_case_accuracy" not in set(papers["metric"])  # A_rob is no per-evaluation metric: never matched
    assert len(adt) == 7


def test_compare_paper_matches_by_recipe_evaluation_and_parameters():
    rows = synthetic(ds="cifar10", seeds=(0,))
    rows.loc[rows["evaluation"] == "certify:linf@0.1", "eps"] = 8 / 255
    run = {**run_info(), "order": {}}
    found = matches(rows, run, load_papers())
    got = found[(found["recipe"] == "vmt") & (found["metric"] == "certified_accuracy")
                & (found["evaluation"] == "certify:linf@0.1")]
    # eps 8/255, kappa = alpha = 0.01: Table 1 and the matching columns of Tables 11/12, not Table 10 (2/255)
    assert sorted(got["table"]) == ["Table 1", "Table 11", "Table 12"] and set(got["published"]) == {91.75}
    table = compare_table(rows, run, load_papers())
    assert any(label.startswith("cifar10 · vmt · certify:linf@0.1 · certified_accuracy") for label, _ in table.rows)
    assert compare_table(ROWS, RUN, load_papers()).notes  # digits: nothing to compare, and it says so


def test_report_cli(tmp_path, capsys):
    out = write_results(tmp_path / "r")
    assert load_run(out)["timings"]["train"][train_id("erm-0")] == 10.0
    assert len(load_rows(out)) == len(ROWS)
    assert main(["report", str(out), "--table", "table1", "--format", "latex"]) == 0
    assert r"\begin{tabular}" in capsys.readouterr().out
    assert main(["report", str(out), "--table", "table9"]) == 0
    assert "| No attack" in capsys.readouterr().out
    assert main(["report", str(out), "--format", "html", "--out", str(tmp_path / "r.html")]) == 0
    assert "<svg" in (tmp_path / "r.html").read_text()
    assert main(["report", str(out), "--compare-paper"]) == 0
    assert "Reproduced against published" in capsys.readouterr().out
    assert main(["report", str(out), "--table", "nope"]) == 2


def test_markdown_and_latex_escape_labels():
    """An `as:` label with Markdown or LaTeX syntax stays text: one cell per column, nothing set in bold/maths."""
    name = "a|b *c* _d_ `e` <f> 50% & $g$ #h {i} ~j ^k \\l"
    rows = ROWS.replace({"recipe": {"erm": name}})
    run = {**RUN, "order": {}}
    tables = tables_for(rows, run, ["leaderboard"])
    text = render("md", tables, "t|1", rows, run)
    line = next(row for row in text.splitlines() if row.startswith("| a"))
    header = next(row for row in text.splitlines() if row.startswith("| recipe"))
    assert line.count(" | ") == header.count(" | ")  # the | in the name does not open a column
    assert line.startswith(r"| a\|b \*c\* \_d\_ \`e\` \<f\> 50% & $g$ #h {i} ~j ^k \\l ")
    assert text.startswith(r"# t\|1")
    tex_text = render("latex", tables, "t", rows, run)
    assert (r"a\textbar{}b *c* \_d\_ `e` \textless{}f\textgreater{} 50\% \& \$g\$ \#h \{i\} "
            r"\textasciitilde{}j \textasciicircum{}k \textbackslash{}l &") in tex_text


def test_markdown_makes_no_link_image_or_broken_row_from_a_label():
    """Issue 23, item 6: labels are data; Markdown shows them as text on one line."""
    evil = {"erm": "[x](javascript:alert(1))", "pgdt": "![i](http://example.com/t.png)"}
    rows = ROWS.replace({"recipe": {**evil, "vmt": "two\nlines\u2028three"}})
    run = {**RUN, "order": {}}
    md = render("md", tables_for(rows, run, ["leaderboard"]), "t", rows, run)
    assert "](javascript:" not in md.replace(r"\](javascript:", "") and r"\[x\](javascript:" in md
    assert "![i](" not in md and r"!\[i\](http://example.com/t.png)" in md
    assert "two lines three" in md and "two\nlines" not in md
    tex = render("latex", tables_for(rows, run, ["leaderboard"]), "t", rows, run)
    assert "two lines three" in tex and "\n\n" not in tex.split(r"\begin{tabular}")[1].split(r"\end{tabular}")[0]

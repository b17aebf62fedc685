"""Plots, checked on their SVG and PDF: one colour per recipe in every plot, tick labels that never overlap,
lines with interval bands or bars, distinct semi-transparent markers, and standalone SVG and PDF files."""
import re

import numpy as np
import pandas as pd

import xml.etree.ElementTree as ET

from bench.report.plots import TICK_CHAR, figures, line_plot, ticks, write_plots
from bench.report.stats import wilson
from report_rows import run_info, synthetic

ROWS, RUN = synthetic(), run_info()


def _colours(svg: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for label, colour in re.findall(r'data-label="([^"]+)"[^>]*?(?:stroke|fill)="(#[0-9a-f]{6})"', svg):
        out.setdefault(label, set()).add(colour)
    return out


def test_each_recipe_keeps_one_colour_in_every_plot():
    # the smoothing rows of vmt come first: a plot colouring by its own order would swap colours
    smooth = ROWS["evaluation"].str.startswith("smooth")
    rows = pd.concat([ROWS[smooth & (ROWS["recipe"] == "vmt")], ROWS[~(smooth & (ROWS["recipe"] == "vmt"))]],
                     ignore_index=True)
    seen: dict[str, set[str]] = {}
    plots = figures(rows, RUN)
    assert len(plots) >= 3
    for _, svg in plots:
        for label, colours in _colours(svg).items():
            seen.setdefault(label, set()).update(colours)
    assert set(seen) == {"erm", "pgdt", "vmt"}
    assert all(len(c) == 1 for c in seen.values()), seen
    assert len({next(iter(c)) for c in seen.values()}) == 3


def _tick_labels(svg: str) -> list[tuple[float, str]]:
    return [(float(x), t) for x, t in re.findall(r'<text x="([\d.]+)" y="\d+" text-anchor="middle" font-size="10">'
                                                 r'([^<]+)</text>', svg)]


def test_tick_labels_never_overlap():
    radii = np.linspace(0, 0.616, 11)  # the smoothing axis that printed 0.0616, 0.123, ... on top of each other
    svg = line_plot("t", "radius", "y", {"a": [(float(r), 0.5) for r in radii]})
    labels = _tick_labels(svg)
    assert 2 <= len(labels) <= 6
    for (xa, a), (xb, b) in zip(labels, labels[1:]):
        assert xb - xa >= TICK_CHAR * (len(a) + len(b)) / 2, labels
    assert [t for _, t in labels] == ["0", "0.2", "0.4", "0.6"]
    # few, well spaced data points keep their own values
    assert [t for _, t in ticks(0, 0.2, [0, 0.05, 0.1, 0.2])] == ["0", "0.05", "0.1", "0.2"]
    for _, svg in figures(ROWS, RUN):
        labels = _tick_labels(svg)
        for (xa, a), (xb, b) in zip(labels, labels[1:]):
            assert xb - xa >= TICK_CHAR * (len(a) + len(b)) / 2, labels


def test_lines_intervals_and_markers():
    """A sweep is a line with a shaded 95% interval band; an attack at one budget joins its two measured ends
    (clean at 0, the attack) by a dashed line with interval bars; every recipe has its own marker shape and
    the markers are semi-transparent, so a model whose numbers equal another's stays visible."""
    plots = dict(figures(ROWS, RUN))
    fgsm = plots["digits: accuracy under attack:FGSM against ε"]  # FGSM at one budget
    assert 'class="series"' not in fgsm and fgsm.count('class="connector"') == 3
    assert 'stroke-dasharray="4 3" points=' in fgsm and 'class="band"' not in fgsm
    assert fgsm.count('class="point"') == 2 * 3 and fgsm.count('class="interval"') == 2 * 3
    pgd = plots["digits: accuracy under attack:PGD against ε"]  # PGD at 0.05, 0.1 and 0.2
    assert pgd.count('class="series"') == 3 and pgd.count('class="point"') == 4 * 3
    assert pgd.count('class="band"') == 3 and 'fill-opacity="0.15"' in pgd
    # one shape per recipe (a circle, a square, a triangle), each marker semi-transparent
    shapes = {}
    for tag, label in re.findall(r'<(circle|polygon) class="point" data-label="([^"]+)"', pgd):
        shapes.setdefault(label, set()).add(tag if tag == "circle" else "polygon")
    assert shapes == {"erm": {"circle"}, "pgdt": {"polygon"}, "vmt": {"polygon"}}
    points = re.findall(r'<polygon class="point" data-label="(\w+)"[^>]*points="([^"]+)"', pgd)
    assert len({(label, len(p.split())) for label, p in points}) == 2  # a square (4 corners), a triangle (3)
    assert all('fill-opacity="0.35"' in m for m in re.findall(r'<[^>]*class="point"[^>]*>', pgd))
    # the interval in each marker's tooltip is the Wilson interval of its samples
    tip = re.search(r'data-label="erm"[^>]*><title>erm: ([\d.]+)% \[([\d.]+), ([\d.]+)\] at 0</title>', pgd)
    clean = ROWS[(ROWS["recipe"] == "erm") & (ROWS["evaluation"] == "clean")]["correct"].astype(bool)
    lo, hi = wilson(int(clean.sum()), len(clean))
    assert tip.groups() == (f"{100 * clean.mean():.1f}", f"{100 * lo:.1f}", f"{100 * hi:.1f}")


def test_plots_as_standalone_svg_and_pdf(tmp_path):
    """`bench report --plots DIR`: each plot as a standalone SVG file and a one-page vector PDF."""
    written = write_plots(tmp_path / "plots", ROWS, RUN)
    svgs, pdfs = sorted(p for p in written if p.suffix == ".svg"), sorted(p for p in written if p.suffix == ".pdf")
    assert len(svgs) == len(pdfs) == len(figures(ROWS, RUN)) >= 3
    assert {p.stem for p in svgs} == {p.stem for p in pdfs}
    assert "digits-accuracy-under-attack-pgd-against-eps" in {p.stem for p in svgs}
    svg = (tmp_path / "plots" / "digits-accuracy-under-attack-pgd-against-eps.svg").read_text()
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')
    ET.fromstring(svg.split("\n", 1)[1])  # well-formed XML
    data = (tmp_path / "plots" / "digits-accuracy-under-attack-pgd-against-eps.pdf").read_bytes()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    # the cross-reference table points at each object
    xref = int(data[data.rindex(b"startxref") + 10:].split()[0])
    offsets = [int(line[:10]) for line in data[xref:].split(b"\n")[3:10]]
    assert all(data[o:].startswith(f"{i} 0 obj".encode()) for i, o in enumerate(offsets, 1))
    stream = data[data.index(b"stream\n") + 7:data.index(b"\nendstream")]
    assert b"/F1 13 Tf (digits: attack:PGD) Tj" in stream  # the title in Helvetica
    assert b"/F2 11 Tf (e) Tj" in stream  # the axis label's epsilon in the Symbol font
    assert stream.count(b" c ") >= 4 and b"/GS0 gs" in stream  # circles (Bezier curves), transparent bands


def test_report_plots_option(tmp_path, cli):
    from report_results import write_results

    out = write_results(tmp_path / "r", n=30)
    code, text, err = cli("report", out, "--table", "leaderboard", "--plots", tmp_path / "plots")
    assert code == 0 and "plot files (SVG and PDF) to" in err
    assert len(list((tmp_path / "plots").glob("*.pdf"))) == len(list((tmp_path / "plots").glob("*.svg"))) >= 3

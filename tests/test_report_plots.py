"""Plots, checked on their SVG: one colour per recipe in every plot, tick labels that never overlap, and a
single-budget attack drawn as points."""
import re

import numpy as np
import pandas as pd

from bench.report.plots import TICK_CHAR, figures, line_plot, ticks
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


def test_single_budget_attack_is_points_not_a_line():
    plots = dict(figures(ROWS, RUN))
    fgsm = plots["digits: accuracy under attack:FGSM against ε"]  # FGSM at one budget
    assert "<polyline" not in fgsm and fgsm.count('class="point"') == 2 * 3  # clean and eps 0.1, per recipe
    pgd = plots["digits: accuracy under attack:PGD against ε"]  # PGD at 0.05, 0.1 and 0.2
    assert pgd.count("<polyline") == 3 and pgd.count('class="point"') == 4 * 3

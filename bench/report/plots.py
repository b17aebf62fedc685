"""Plots drawn by hand on a Canvas (bench.report.canvas; no plotting library): robust accuracy against eps, PR
histograms, and smoothing's certified accuracy against radius. ``figures(rows, run)`` returns (caption, svg)
pairs for the HTML report and the site; ``canvases`` the same plots as Canvases, which ``write_plots`` writes
as standalone SVG and PDF files for a paper (`bench report --plots DIR`).

Each recipe has one colour and one marker shape in the whole report (its place in the report's recipe order).
A sweep's points are joined by a line with its 95% Wilson interval as a shaded band; an attack evaluated at
one budget has its clean point (ε = 0) and its attack point joined by a dashed line (only the two ends are
measured) and each interval as a bar. Markers are semi-transparent and of distinct shapes, so a model whose
numbers equal another's stays visible.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report.canvas import Canvas
from bench.report.data import _sql, as_rows
from bench.report.pdf import pdf
from bench.report.stats import wilson
from bench.results import atomic

W, H = 420, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 110, 28, 42
TICK_CHAR, TICK_GAP = 6.0, 4.0  # width of a tick label's character at font-size 10, and the least gap (px)
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf"]
R = 4.0  # a marker's radius (px)
# marker outlines as unit polygons (None: a circle), one per recipe in order, so overlapping markers stay apart
SHAPES = [None, [(-0.9, -0.9), (0.9, -0.9), (0.9, 0.9), (-0.9, 0.9)], [(0, -1.25), (1.1, 0.7), (-1.1, 0.7)],
          [(0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0)], [(0, 1.25), (1.1, -0.7), (-1.1, -0.7)],
          [(-0.35, -1.1), (0.35, -1.1), (0.35, -0.35), (1.1, -0.35), (1.1, 0.35), (0.35, 0.35), (0.35, 1.1),
           (-0.35, 1.1), (-0.35, 0.35), (-1.1, 0.35), (-1.1, -0.35), (-0.35, -0.35)],
          [(1.25 * np.cos(a - np.pi / 2) * (1 if i % 2 == 0 else 0.45), 1.25 * np.sin(a - np.pi / 2)
            * (1 if i % 2 == 0 else 0.45)) for i, a in enumerate(np.linspace(0, 2 * np.pi, 10, endpoint=False))]]


def _frame(title: str, xlabel: str, ylabel: str, xticks, yticks, sx, sy, kind_: str) -> Canvas:
    c = Canvas(W, H, title, kind_)
    c.text(W / 2, 16, title, size=13, anchor="middle")
    c.line(LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM)
    c.line(LEFT, TOP, LEFT, H - BOTTOM)
    for t, label in xticks:
        x = round(sx(t), 1)
        c.line(x, H - BOTTOM, x, H - BOTTOM + 4)
        c.text(x, H - BOTTOM + 16, label, anchor="middle")
    for t in yticks:
        y = round(sy(t), 1)
        c.line(LEFT - 4, y, W - RIGHT, y, stroke="#eeeeee")
        c.text(LEFT - 6, y + 3, f"{t:g}", anchor="end")
    c.text((LEFT + W - RIGHT) / 2, H - 8, xlabel, size=11, anchor="middle")
    c.text(14, (TOP + H - BOTTOM) / 2, ylabel, size=11, anchor="middle", rotate=True)
    return c


def marker(c: Canvas, shape, x: float, y: float, colour: str, label: str, tip: str | None = None,
           cls: str = "point") -> None:
    """A semi-transparent marker of the recipe's shape (a circle for None)."""
    style = dict(stroke=colour, fill=colour, opacity=0.35, width=1.5, cls=cls, label=label, tip=tip)
    if shape is None:
        c.add("circle", [(x, y)], r=R, **style)
    else:
        c.add("polygon", [(round(x + R * u, 1), round(y + R * v, 1)) for u, v in shape], **style)


def _legend(c: Canvas, colours: dict[str, str], shapes: dict, dashed: bool = False) -> None:
    for i, (label, colour) in enumerate(colours.items()):
        y = TOP + 6 + 16 * i
        c.line(W - RIGHT + 6, y - 3, W - RIGHT + 22, y - 3, stroke=colour, width=2, dash="4 3" if dashed else None,
               label=label)
        marker(c, shapes.get(label), W - RIGHT + 14, y - 3, colour, label, cls="key")
        c.text(W - RIGHT + 26, y + 1, label, size=11)


def _colours(labels, colour: dict[str, str] | None) -> dict[str, str]:
    """Each label's colour: the given one (a recipe's colour in the whole report), else by position."""
    colour = colour or {}
    return {label: colour.get(label, COLORS[i % len(COLORS)]) for i, label in enumerate(labels)}


def _shapes(labels, colour: dict[str, str] | None) -> dict:
    """Each label's marker: by its place in the report's recipe order (``colour``'s keys), else by position."""
    order = list(colour or {})
    return {label: SHAPES[(order.index(label) if label in order else i) % len(SHAPES)]
            for i, label in enumerate(labels)}


def ticks(lo: float, hi: float, values=(), most: int = 6) -> list[tuple[float, str]]:
    """x-axis ticks that never overlap: the data's own x values when they are few and far enough apart
    for their labels, else round numbers (1, 2, 2.5 or 5 x 10^k apart) across [lo, hi]."""
    span = (hi - lo) or 1.0
    room = (W - LEFT - RIGHT) / span  # pixels per x unit

    def fits(ts):
        labels = [f"{t:.3g}" for t in ts]
        return all((b - a) * room >= TICK_CHAR * (len(la) + len(lb)) / 2 + TICK_GAP
                   for (a, la), (b, lb) in zip(zip(ts, labels), zip(ts[1:], labels[1:])))

    own = sorted(set(values))
    if own and len(own) <= most and fits(own):
        return [(t, f"{t:.3g}") for t in own]
    for step in (m * 10.0 ** e for e in range(int(np.floor(np.log10(span))) - 1, 20) for m in (1, 2, 2.5, 5)):
        ts = [round(k * step, 12) for k in range(int(np.ceil(lo / step - 1e-9)), int(np.floor(hi / step + 1e-9)) + 1)]
        if len(ts) <= most and fits(ts):
            return [(t, f"{t:.3g}") for t in ts]
    return [(lo, f"{lo:.3g}")]


def line_canvas(title: str, xlabel: str, ylabel: str, series: dict[str, list[tuple]],
                colour: dict[str, str] | None = None, lines: bool = True) -> Canvas:
    """y in percent against x per series; a point is (x, y) or (x, y, lo, hi) with its 95% interval. ``lines``:
    a sweep (a line and an interval band); else two measured ends (a dashed line and interval bars)."""
    xs = [p[0] for pts in series.values() for p in pts]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    sx = lambda x: LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)  # noqa: E731
    sy = lambda y: H - BOTTOM - y / 100 * (H - TOP - BOTTOM)  # noqa: E731
    c = _frame(title, xlabel, ylabel, ticks(x0, x1, xs), [0, 25, 50, 75, 100], sx, sy, "lines")
    colours, shapes = _colours(series, colour), _shapes(series, colour)
    for label, pts in series.items():  # intervals first, under every line and marker
        pts = sorted(pts)
        ci = [p for p in pts if len(p) == 4]
        if lines and len(ci) > 1:
            band = [(sx(p[0]), sy(100 * p[3])) for p in ci] + [(sx(p[0]), sy(100 * p[2])) for p in ci[::-1]]
            c.add("polygon", [(round(x, 1), round(y, 1)) for x, y in band], fill=colours[label], opacity=0.15,
                  cls="band", label=label)
        elif not lines:
            for x, _, lo, hi in ci:
                c.line(round(sx(x), 1), round(sy(100 * lo), 1), round(sx(x), 1), round(sy(100 * hi), 1),
                       stroke=colours[label], width=1.5, cls="interval", label=label)
    for label, pts in series.items():
        pts = sorted(pts)
        if len(pts) > 1:
            c.add("polyline", [(round(sx(p[0]), 1), round(sy(100 * p[1]), 1)) for p in pts], stroke=colours[label],
                  width=2, dash=None if lines else "4 3", cls="series" if lines else "connector", label=label)
        for p in pts:
            interval = f" [{100 * p[2]:.1f}, {100 * p[3]:.1f}]" if len(p) == 4 else ""
            marker(c, shapes[label], round(sx(p[0]), 1), round(sy(100 * p[1]), 1), colours[label], label,
                   f"{label}: {100 * p[1]:.1f}%{interval} at {p[0]:g}")
    _legend(c, colours, shapes, dashed=not lines)
    return c


def line_plot(title: str, xlabel: str, ylabel: str, series: dict[str, list[tuple]],
              colour: dict[str, str] | None = None, lines: bool = True) -> str:
    """``line_canvas`` as SVG."""
    return line_canvas(title, xlabel, ylabel, series, colour, lines).svg()


def histogram_canvas(title: str, xlabel: str, values: dict[str, np.ndarray], colour: dict[str, str] | None = None,
                     bins: int = 10) -> Canvas:
    """Grouped bars: the share of inputs (%) in each of ``bins`` equal bins of [0, 1], per series."""
    edges = np.linspace(0, 1, bins + 1)
    shares = {k: np.histogram(np.clip(v, 0, 1), edges)[0] / max(len(v), 1) * 100 for k, v in values.items()}
    top = max(25.0, float(np.ceil(max(float(s.max()) for s in shares.values()) / 25) * 25))
    sx = lambda x: LEFT + x * (W - LEFT - RIGHT)  # noqa: E731
    sy = lambda y: H - BOTTOM - y / top * (H - TOP - BOTTOM)  # noqa: E731
    c = _frame(title, xlabel, "inputs (%)", [(t, f"{t:g}") for t in edges[::2]], list(np.linspace(0, top, 5)),
               sx, sy, "histogram")
    width = (sx(edges[1]) - sx(edges[0])) / max(len(values), 1)
    colours = _colours(shares, colour)
    for i, (label, s) in enumerate(shares.items()):
        for b, share in enumerate(s):
            c.add("rect", [(round(sx(edges[b]) + i * width, 1), round(sy(share), 1)),
                           (round(max(width - 1, 1), 1), round(sy(0) - sy(share), 1))], fill=colours[label],
                  cls="bar", label=label,
                  tip=f"{label}: {share:.1f}% in [{edges[b]:.1f}, {edges[b + 1]:.1f})")
    for i, (label, col) in enumerate(colours.items()):
        y = TOP + 6 + 16 * i
        c.add("rect", [(W - RIGHT + 10, y - 8), (10, 10)], fill=col, label=label)
        c.text(W - RIGHT + 24, y + 1, label, size=11)
    return c


def histogram(title: str, xlabel: str, values: dict[str, np.ndarray], colour: dict[str, str] | None = None,
              bins: int = 10) -> str:
    return histogram_canvas(title, xlabel, values, colour, bins).svg()


def palette(rows, run: dict) -> dict[str, str]:
    """Each recipe's colour in the whole report (and on the site): its place in the report's recipe order."""
    from bench.report.layouts import recipes_of

    return {r: COLORS[i % len(COLORS)] for i, r in enumerate(recipes_of(as_rows(rows), run))}


def _point(x: float, k: float, n: float) -> tuple:
    lo, hi = wilson(int(round(k)), int(n))
    return (x, k / n, lo, hi)


def canvases(rows, run: dict, colour: dict[str, str] | None = None) -> list[tuple[str, Canvas]]:
    """Every plot the rows allow: accuracy against eps per attack family (clean accuracy at eps 0), PR
    histograms per PR evaluation, certified accuracy against radius per smoothing evaluation, with 95% Wilson
    intervals (pooled over seeds). A recipe has the same colour and marker in every plot (``colour``, default
    ``palette``)."""
    from bench.report.layouts import datasets_of, evaluations_of, recipes_of
    from bench.report.layouts.attacks import families

    rows = as_rows(rows)
    recipes = recipes_of(rows, run)
    colour = colour or palette(rows, run)
    v = rows.values[rows.values["metric"] == "accuracy"]
    acc = {(ds, r, ev): (k, n) for ds, r, ev, k, n in zip(*(v[c].tolist() for c in
                                                            ("dataset", "recipe", "evaluation", "k", "n"))) if n}
    out = []
    for ds in datasets_of(rows, run):
        for fam, evs in families(rows, run, ds, lambda b: b.eps == b.eps and b.eps is not None).items():
            series = {}
            for r in recipes:
                pts = [_point(0.0, *acc[(ds, r, "clean")])] if (ds, r, "clean") in acc else []
                pts += [_point(eps, *acc[(ds, r, ev)]) for eps, ev in evs if (ds, r, ev) in acc]
                if pts:
                    series[r] = pts
            if series:
                out.append((f"{ds}: accuracy under {fam} against ε",
                            line_canvas(f"{ds}: {fam}", "ε (pixel units)", "accuracy (%)", series, colour,
                                        lines=len(evs) > 1)))
        where = f"dataset = {_sql(ds)} AND evaluation = "
        for ev in evaluations_of(rows, run, ds, lambda b: b.kind == "pr"):
            pr = rows.column("recipe, pr", where + _sql(ev) + " AND pr IS NOT NULL")
            values = {r: g["pr"].to_numpy() for r, g in pr.groupby("recipe", sort=False)}
            values = {r: values[r] for r in recipes if r in values}
            if values:
                out.append((f"{ds}: distribution of PR under {ev}",
                            histogram_canvas(f"{ds}: {ev}", "PR", values, colour)))
        for ev in evaluations_of(rows, run, ds, lambda b: b.kind == "smooth"):
            samples = rows.column("recipe, correct, radius", where + _sql(ev))
            series = {}
            for r in recipes:
                g = samples[samples["recipe"] == r]
                if len(g):
                    top = g["radius"].max(skipna=True)
                    radii = np.linspace(0, max(0.0 if pd.isna(top) else float(top), 0.5), 11)
                    hit = g["correct"].astype(bool).to_numpy()
                    radius = g["radius"].fillna(-1).to_numpy()
                    series[r] = [_point(float(t), float((hit & (radius >= t)).sum()), len(g)) for t in radii]
            if series:
                out.append((f"{ds}: certified accuracy against L2 radius under {ev}",
                            line_canvas(f"{ds}: {ev}", "radius", "certified accuracy (%)", series, colour)))
    return out


def figures(rows, run: dict, colour: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``canvases`` as (caption, inline SVG) pairs."""
    return [(caption, c.svg()) for caption, c in canvases(rows, run, colour)]


def file_stem(caption: str, taken: set[str]) -> str:
    """A file name for a plot's caption: lower case, letters, digits and '-' only, unique among ``taken``."""
    stem = re.sub(r"[^a-z0-9]+", "-", caption.lower().replace("ε", "eps")).strip("-")[:80] or "plot"
    name, i = stem, 2
    while name in taken:
        name, i = f"{stem}-{i}", i + 1
    taken.add(name)
    return name


def write_plots(folder: Path, rows, run: dict) -> list[Path]:
    """Every plot as a standalone SVG and a PDF file in ``folder`` (`bench report --plots DIR`), said on
    stderr; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written, taken = [], set()
    for caption, c in canvases(rows, run):
        stem = file_stem(caption, taken)
        atomic.write_text(folder / f"{stem}.svg", c.svg(standalone=True))
        atomic.write_bytes(folder / f"{stem}.pdf", pdf(c))
        written += [folder / f"{stem}.svg", folder / f"{stem}.pdf"]
    print(f"wrote {len(written)} plot files (SVG and PDF) to {folder}", file=sys.stderr)
    return written

"""Plots as inline SVG, written by hand (no plotting library): robust accuracy against eps, PR histograms,
and smoothing's certified accuracy against radius. ``figures(rows, run)`` returns (caption, svg) pairs for
the HTML report; every text is escaped.
"""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from bench.report.data import _sql, as_rows

W, H = 420, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 110, 28, 42
TICK_CHAR, TICK_GAP = 6.0, 4.0  # width of a tick label's character at font-size 10, and the least gap (px)
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf"]


def _frame(title: str, xlabel: str, ylabel: str, xticks, yticks, sx, sy, kind_: str) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot {kind_}" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" role="img"><title>{escape(title)}</title>',
           f'<text x="{W / 2:.0f}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
           f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#444"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}" stroke="#444"/>']
    for t, label in xticks:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{H - BOTTOM}" x2="{x:.1f}" y2="{H - BOTTOM + 4}" stroke="#444"/>'
                   f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="10">{escape(label)}</text>')
    for t in yticks:
        y = sy(t)
        out.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{LEFT - 6}" y="{y + 3:.1f}" text-anchor="end" font-size="10">{t:g}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2:.0f}" y="{H - 8}" text-anchor="middle" font-size="11">'
               f'{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(14 {(TOP + H - BOTTOM) / 2:.0f}) rotate(-90)" text-anchor="middle" '
               f'font-size="11">{escape(ylabel)}</text>')
    return out


def _legend(colours: dict[str, str]) -> list[str]:
    out = []
    for i, (label, colour) in enumerate(colours.items()):
        y = TOP + 6 + 16 * i
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y - 8}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{W - RIGHT + 24}" y="{y + 1}" font-size="11">{escape(label)}</text>')
    return out


def _colours(labels, colour: dict[str, str] | None) -> dict[str, str]:
    """Each label's colour: the given one (a recipe's colour in the whole report), else by position."""
    colour = colour or {}
    return {label: colour.get(label, COLORS[i % len(COLORS)]) for i, label in enumerate(labels)}


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


def line_plot(title: str, xlabel: str, ylabel: str, series: dict[str, list[tuple[float, float]]],
              colour: dict[str, str] | None = None, lines: bool = True) -> str:
    """Lines with markers (markers alone with ``lines=False``, e.g. an attack at one budget); y in percent."""
    xs = [x for pts in series.values() for x, _ in pts]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    sx = lambda x: LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)  # noqa: E731
    sy = lambda y: H - BOTTOM - y / 100 * (H - TOP - BOTTOM)  # noqa: E731
    out = _frame(title, xlabel, ylabel, ticks(x0, x1, xs), [0, 25, 50, 75, 100], sx, sy, "lines")
    colours = _colours(series, colour)
    for label, pts in series.items():
        pts = sorted(pts)
        if lines:
            path = " ".join(f"{sx(x):.1f},{sy(100 * y):.1f}" for x, y in pts)
            out.append(f'<polyline class="series" data-label="{escape(label)}" fill="none" stroke="{colours[label]}" '
                       f'stroke-width="2" points="{path}"/>')
        for x, y in pts:
            out.append(f'<circle class="point" data-label="{escape(label)}" cx="{sx(x):.1f}" cy="{sy(100 * y):.1f}" '
                       f'r="3" fill="{colours[label]}"><title>{escape(label)}: {100 * y:.1f}% at {x:g}</title></circle>')
    return "\n".join(out + _legend(colours) + ["</svg>"])


def histogram(title: str, xlabel: str, values: dict[str, np.ndarray], colour: dict[str, str] | None = None,
              bins: int = 10) -> str:
    """Grouped bars: the share of inputs (%) in each of ``bins`` equal bins of [0, 1], per series."""
    edges = np.linspace(0, 1, bins + 1)
    shares = {k: np.histogram(np.clip(v, 0, 1), edges)[0] / max(len(v), 1) * 100 for k, v in values.items()}
    top = max(25.0, float(np.ceil(max(float(s.max()) for s in shares.values()) / 25) * 25))
    sx = lambda x: LEFT + x * (W - LEFT - RIGHT)  # noqa: E731
    sy = lambda y: H - BOTTOM - y / top * (H - TOP - BOTTOM)  # noqa: E731
    out = _frame(title, xlabel, "inputs (%)", [(t, f"{t:g}") for t in edges[::2]],
                 list(np.linspace(0, top, 5)), sx, sy, "histogram")
    width = (sx(edges[1]) - sx(edges[0])) / max(len(values), 1)
    colours = _colours(shares, colour)
    for i, (label, s) in enumerate(shares.items()):
        for b, share in enumerate(s):
            x = sx(edges[b]) + i * width
            out.append(f'<rect class="bar" data-label="{escape(label)}" x="{x:.1f}" y="{sy(share):.1f}" '
                       f'width="{max(width - 1, 1):.1f}" height="{sy(0) - sy(share):.1f}" fill="{colours[label]}">'
                       f'<title>{escape(label)}: {share:.1f}% in [{edges[b]:.1f}, {edges[b + 1]:.1f})</title></rect>')
    return "\n".join(out + _legend(colours) + ["</svg>"])


def figures(rows, run: dict) -> list[tuple[str, str]]:
    """Every plot the rows allow: accuracy against eps per attack family (clean accuracy at eps 0), PR
    histograms per PR evaluation, certified accuracy against radius per smoothing evaluation. A recipe has
    the same colour in every plot (its place in the report's recipe order)."""
    from bench.report.layouts import datasets_of, evaluations_of, recipes_of
    from bench.report.layouts.attacks import families

    rows = as_rows(rows)
    recipes = recipes_of(rows, run)
    colour = {r: COLORS[i % len(COLORS)] for i, r in enumerate(recipes)}
    acc = {(v.dataset, v.recipe, v.evaluation): float(v.value)
           for v in rows.values[rows.values["metric"] == "accuracy"].itertuples(index=False)}
    out = []
    for ds in datasets_of(rows, run):
        for fam, evs in families(rows, run, ds, lambda b: b.eps == b.eps and b.eps is not None).items():
            series = {}
            for r in recipes:
                pts = [(0.0, acc[(ds, r, "clean")])] if (ds, r, "clean") in acc else []
                pts += [(eps, acc[(ds, r, ev)]) for eps, ev in evs if (ds, r, ev) in acc]
                if pts:
                    series[r] = pts
            if series:
                out.append((f"{ds}: accuracy under {fam} against ε",
                            line_plot(f"{ds}: {fam}", "ε (pixel units)", "accuracy (%)", series, colour,
                                      lines=len(evs) > 1)))
        where = f"dataset = {_sql(ds)} AND evaluation = "
        for ev in evaluations_of(rows, run, ds, lambda b: b.kind == "pr"):
            pr = rows.column("recipe, pr", where + _sql(ev) + " AND pr IS NOT NULL")
            values = {r: g["pr"].to_numpy() for r, g in pr.groupby("recipe", sort=False)}
            values = {r: values[r] for r in recipes if r in values}
            if values:
                out.append((f"{ds}: distribution of PR under {ev}", histogram(f"{ds}: {ev}", "PR", values, colour)))
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
                    series[r] = [(float(t), float((hit & (radius >= t)).mean())) for t in radii]
            if series:
                out.append((f"{ds}: certified accuracy against L2 radius under {ev}",
                            line_plot(f"{ds}: {ev}", "radius", "certified accuracy (%)", series, colour)))
    return out

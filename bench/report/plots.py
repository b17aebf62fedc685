"""Plots as inline SVG, written by hand (no plotting library): robust accuracy against eps, PR histograms,
and smoothing's certified accuracy against radius. ``figures(rows, run)`` returns (caption, svg) pairs for
the HTML report; every text is escaped.
"""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from bench.report import family, kind, ordered

W, H = 420, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 110, 28, 42
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


def _legend(labels: list[str]) -> list[str]:
    out = []
    for i, label in enumerate(labels):
        y = TOP + 6 + 16 * i
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y - 8}" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>'
                   f'<text x="{W - RIGHT + 24}" y="{y + 1}" font-size="11">{escape(label)}</text>')
    return out


def line_plot(title: str, xlabel: str, ylabel: str, series: dict[str, list[tuple[float, float]]]) -> str:
    """Lines with markers; y in percent (0-100)."""
    xs = [x for pts in series.values() for x, _ in pts]
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    sx = lambda x: LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)  # noqa: E731
    sy = lambda y: H - BOTTOM - y / 100 * (H - TOP - BOTTOM)  # noqa: E731
    ticks = sorted(set(xs))
    out = _frame(title, xlabel, ylabel, [(t, f"{t:.3g}") for t in ticks], [0, 25, 50, 75, 100], sx, sy, "lines")
    for i, (label, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = sorted(pts)
        path = " ".join(f"{sx(x):.1f},{sy(100 * y):.1f}" for x, y in pts)
        out.append(f'<polyline class="series" data-label="{escape(label)}" fill="none" stroke="{color}" '
                   f'stroke-width="2" points="{path}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(100 * y):.1f}" r="3" fill="{color}">'
                       f'<title>{escape(label)}: {100 * y:.1f}% at {x:g}</title></circle>')
    return "\n".join(out + _legend(list(series)) + ["</svg>"])


def histogram(title: str, xlabel: str, values: dict[str, np.ndarray], bins: int = 10) -> str:
    """Grouped bars: the share of inputs (%) in each of ``bins`` equal bins of [0, 1], per series."""
    edges = np.linspace(0, 1, bins + 1)
    shares = {k: np.histogram(np.clip(v, 0, 1), edges)[0] / max(len(v), 1) * 100 for k, v in values.items()}
    top = max(25.0, float(np.ceil(max(float(s.max()) for s in shares.values()) / 25) * 25))
    sx = lambda x: LEFT + x * (W - LEFT - RIGHT)  # noqa: E731
    sy = lambda y: H - BOTTOM - y / top * (H - TOP - BOTTOM)  # noqa: E731
    out = _frame(title, xlabel, "inputs (%)", [(t, f"{t:g}") for t in edges[::2]],
                 list(np.linspace(0, top, 5)), sx, sy, "histogram")
    width = (sx(edges[1]) - sx(edges[0])) / max(len(values), 1)
    for i, (label, s) in enumerate(shares.items()):
        for b, share in enumerate(s):
            x = sx(edges[b]) + i * width
            out.append(f'<rect class="bar" x="{x:.1f}" y="{sy(share):.1f}" width="{max(width - 1, 1):.1f}" '
                       f'height="{sy(0) - sy(share):.1f}" fill="{COLORS[i % len(COLORS)]}">'
                       f'<title>{escape(label)}: {share:.1f}% in [{edges[b]:.1f}, {edges[b + 1]:.1f})</title></rect>')
    return "\n".join(out + _legend(list(values)) + ["</svg>"])


def _accuracy(g: pd.DataFrame) -> float:
    return float(g.groupby("seed")["correct"].mean().mean())


def figures(rows: pd.DataFrame, run: dict) -> list[tuple[str, str]]:
    """Every plot the rows allow: accuracy against eps per attack family (clean accuracy at eps 0), PR
    histograms per PR evaluation, certified accuracy against radius per smoothing evaluation."""
    order = run.get("order", {})
    out = []
    recipes = ordered(rows["recipe"], order.get("recipes"))
    for ds in ordered(rows["dataset"], order.get("datasets")):
        sub = rows[rows["dataset"] == ds]
        attacks = sub[(sub["evaluation"].map(kind) == "attack") & sub["eps"].notna() & ~sub["evaluation"].str.contains("/")]
        for fam in ordered(attacks["evaluation"].map(family), None):
            series = {}
            for r in recipes:
                pts = [(0.0, _accuracy(g)) for _, g in sub[(sub["recipe"] == r) & (sub["evaluation"] == "clean")].groupby("evaluation")]
                a = attacks[(attacks["recipe"] == r) & (attacks["evaluation"].map(family) == fam)]
                pts += [(float(g["eps"].iloc[0]), _accuracy(g)) for _, g in a.groupby("evaluation")]
                if pts:
                    series[r] = pts
            if series:
                out.append((f"{ds}: accuracy under {fam} against ε",
                            line_plot(f"{ds}: {fam}", "ε (pixel units)", "accuracy (%)", series)))
        for ev in ordered(sub.loc[sub["evaluation"].map(kind) == "pr", "evaluation"], order.get("evaluations")):
            values = {r: g["pr"].dropna().to_numpy() for r, g in sub[sub["evaluation"] == ev].groupby("recipe", sort=False)}
            values = {r: values[r] for r in recipes if r in values and len(values[r])}
            if values:
                out.append((f"{ds}: distribution of PR under {ev}", histogram(f"{ds}: {ev}", "PR", values)))
        for ev in ordered(sub.loc[sub["evaluation"].map(kind) == "smooth", "evaluation"], order.get("evaluations")):
            series = {}
            for r, g in sub[sub["evaluation"] == ev].groupby("recipe", sort=False):
                top = g["radius"].max(skipna=True)
                radii = np.linspace(0, max(0.0 if pd.isna(top) else float(top), 0.5), 11)
                series[r] = [(float(t), float((g["correct"] & (g["radius"].fillna(-1) >= t)).mean())) for t in radii]
            if series:
                out.append((f"{ds}: certified accuracy against L2 radius under {ev}",
                            line_plot(f"{ds}: {ev}", "radius", "certified accuracy (%)", series)))
    return out

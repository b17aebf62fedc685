"""Renderers: Markdown (tabulate), HTML (one self-contained page, jinja2, autoescaped), LaTeX (booktabs)."""
from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from tabulate import tabulate

from bench.report import Table, pct


def ci_text(c) -> str:
    """' [lo, hi]' for a cell with an interval, else ''."""
    if c.ci is None or c.value is None or c.ci[0] != c.ci[0]:
        return ""
    return f" [{pct(c.ci[0])}, {pct(c.ci[1])}]"


_MD_SPECIAL = re.compile(r"([\\`*_|<>\[\]])")


def md(text: str) -> str:
    """Markdown-escaped text: a name with '|' stays in its table cell, '*' or '_' make no emphasis, '[' and ']'
    make no link or image (``[x](javascript:...)``, ``![i](http://...)``), and a line break is a space (a table
    row is one line)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def _md_cell(c, ci: bool) -> str:
    text = f"**{md(c.text)}**" if c.best and c.text else md(c.text)
    return text + ("†" if c.tied else "") + (ci_text(c) if ci else "")


def markdown(tables: list[Table], title: str = "", ci: bool = False) -> str:
    parts = [f"# {md(title)}\n"] if title else []
    for t in tables:
        parts.append(f"## {md(t.title)}\n")
        if t.grouped:
            headers = [t.index] + [f"{g} {c}".strip() for g, c in t.header]
        else:
            headers = [t.index] + [c for _, c in t.header]
        body = [[md(label)] + [_md_cell(c, ci) for c in cells] for label, cells in t.rows]
        parts.append(tabulate(body, headers=[md(h) for h in headers], tablefmt="github", disable_numparse=True))
        if t.caption:
            parts.append(f"\n{md(t.caption)}")
        for note in t.notes:
            parts.append(f"\n- {md(note)}")
        parts.append("\n")
    return "\n".join(parts)


def _sup(text: str) -> Markup:
    """Escaped text with '×10^N' as a superscript."""
    return Markup(re.sub(r"×10\^(-?\d+)", r"×10<sup>\1</sup>", str(escape(text))))


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["sup"] = _sup
    return env


def header_groups(t: Table) -> list[tuple[str, int]]:
    """Consecutive header groups with their spans, for a two-level header."""
    groups: list[tuple[str, int]] = []
    for g, _ in t.header:
        if groups and groups[-1][0] == g:
            groups[-1] = (g, groups[-1][1] + 1)
        else:
            groups.append((g, 1))
    return groups


def html(tables: list[Table], title: str = "", meta: dict | None = None, figures: list[tuple[str, str]] | None = None) -> str:
    return _env().get_template("report.html").render(
        title=title, tables=tables, groups=header_groups, meta=meta or {}, figures=figures or [], ci_text=ci_text)


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                  "|": r"\textbar{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def tex(s: str) -> str:
    """LaTeX-escaped text on one line (a blank line would end the table's paragraph); '4.9×10^2' becomes
    '4.9$\\times 10^{2}$'."""
    s = " ".join(s.splitlines())
    parts = re.split(r"×10\^(-?\d+)", s)
    if len(parts) > 1:
        return "".join(tex(p) if i % 2 == 0 else rf"$\times 10^{{{p}}}$" for i, p in enumerate(parts))
    out = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)
    for ch, cmd in [("±", r"$\pm$"), ("†", r"$^\dagger$"), ("≥", r"$\geq$"), ("κ", r"$\kappa$"), ("α", r"$\alpha$"),
                    ("ε", r"$\epsilon$"), ("−", "-"), ("–", "--"), ("∞", r"$\infty$"), ("×", r"$\times$")]:
        out = out.replace(ch, cmd)
    return out


def _tex_cell(c, ci: bool) -> str:
    text = rf"\textbf{{{tex(c.text)}}}" if c.best and c.text else tex(c.text)
    return text + (r"$^\dagger$" if c.tied else "") + (tex(ci_text(c)) if ci else "")


def latex(tables: list[Table], title: str = "", ci: bool = False) -> str:
    """booktabs tables, ready to paste (needs \\usepackage{booktabs})."""
    parts = []
    for t in tables:
        cols = "l" + "r" * len(t.header)
        lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex(t.title)}}}", rf"\label{{tab:{t.name}}}",
                 rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
        if t.grouped:
            row, rules, col = [""], [], 2
            for g, span in header_groups(t):
                row.append(rf"\multicolumn{{{span}}}{{c}}{{{tex(g)}}}" if span > 1 else tex(g))
                if g:
                    rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
                col += span
            lines.append(" & ".join(row) + r" \\")
            lines.append(" ".join(rules))
        lines.append(" & ".join([tex(t.index)] + [tex(c) for _, c in t.header]) + r" \\")
        lines.append(r"\midrule")
        for label, cells in t.rows:
            texts = [_tex_cell(c, ci) for c in cells]
            lines.append(" & ".join([tex(label)] + texts) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        for text in [t.caption, *t.notes]:
            if text:
                lines.append(rf"\par\smallskip{{\footnotesize {tex(text)}}}")
        lines.append(r"\end{table}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"

"""`bench list`: the registries as aligned text, at most ``WIDTH`` columns wide.

Wide columns wrap at word boundaries onto continuation lines (a long dotted name, at its dots); budgets
read as people write them (8/255, not 0.03137254901960784); a description is the first sentence of its
docstring, whole.
"""
from __future__ import annotations

import inspect
import re
from fractions import Fraction

WIDTH = 100  # columns of `bench list`'s widest line
GAP = 2  # columns between two table columns
# words after which a period does not end a sentence ("Zhang et al. 2019", "e.g. PGD")
ABBREVIATIONS = {"al", "e.g", "i.e", "cf", "vs", "eq", "fig", "no", "resp", "approx"}


def number(x) -> str:
    """A value as `bench list` shows it: a float that is a fraction with a small denominator as the fraction
    (8/255) unless its decimal is short (0.1, 0.25), other floats to 4 significant digits, lists item by item,
    strings quoted."""
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(number(v) for v in x) + "]"
    if isinstance(x, str):
        return repr(x)
    if not isinstance(x, float):
        return str(x)
    short = repr(x)
    if float(short) == x and len(short) <= 6:
        return short
    frac = Fraction(x).limit_denominator(1024)
    if frac.denominator > 1 and abs(float(frac) - x) <= 1e-12 * max(1.0, abs(x)):
        return f"{frac.numerator}/{frac.denominator}"
    return f"{x:.4g}"


def first_sentence(obj) -> str:
    """The first sentence of an object's docstring, whole (its first paragraph joined into one line; a
    paragraph that runs on into a formula or list ends with '…'); '' without one."""
    doc = inspect.getdoc(obj) or ""
    para = " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "`")
    for m in re.finditer(r"[.!?](?=\s+[A-Z`\"']|$)", para):
        word = re.split(r"[\s(]", para[: m.start()])[-1].lower()
        if word not in ABBREVIATIONS:
            return para[: m.end()]
    return para[:-1] + "…" if para.endswith(":") else para


def _pieces(word: str) -> list[str]:
    """Where an over-long word may break: after its dots, equals signs and hyphens (module paths, key=value,
    conv32-conv64-pool)."""
    return [p for p in re.split(r"(?<=[.=-])", word) if p]


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` at word boundaries (a longer word breaks at ``_pieces``)."""
    lines: list[str] = []
    for word in text.split():
        for i, piece in enumerate(_pieces(word) if len(word) > width else [word]):
            glue = "" if i else " "
            if lines and len(lines[-1]) + len(glue) + len(piece) <= width:
                lines[-1] += glue + piece
            else:
                lines.append(piece)
    return lines or [""]


def fit(rows: list, header: list, width: int = WIDTH) -> str:
    """``rows`` under ``header`` as an aligned table no wider than ``width``: the widest column wraps first,
    down to its longest word, then (only if still too wide) to its longest unbreakable piece (``_pieces``); a row's
    wrapped cells go on continuation lines."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    columns = list(zip(*cells))
    widths = [max(len(c) for c in col) for col in columns]
    words = [max(len(w) for c in col for w in c.split() or [""]) for col in columns]
    pieces = [max(len(p) for c in col for w in c.split() for p in _pieces(w)) for col in columns]
    for floor in (words, pieces):
        while sum(widths) + GAP * (len(widths) - 1) > width:
            room = [i for i, w in enumerate(widths) if w > floor[i]]
            if not room:
                break
            widths[max(room, key=lambda i: widths[i])] -= 1

    def lines(row) -> list[str]:
        wrapped = [_wrap(c, w) if len(c) > w else [c] for c, w in zip(row, widths)]
        return [(" " * GAP).join((part[k] if k < len(part) else "").ljust(w) for part, w in zip(wrapped, widths))
                .rstrip() for k in range(max(map(len, wrapped)))]

    out = lines(cells[0]) + [(" " * GAP).join("-" * w for w in widths)]
    for row in cells[1:]:
        out += lines(row)
    return "\n".join(out)


def _recipe_defaults(cls) -> str:
    """A recipe's defaults; those derived from the dataset shown as such (eps=dataset, alpha=0.25*eps)."""
    from bench.data import DATASETS

    resolved = cls.resolve({}, DATASETS.get("cifar10"))
    eps = resolved.get("eps")
    parts = []
    for key, field in cls.params.items():
        value = field.default
        if value is None and key == "eps":
            value = "dataset"
        elif value is None and isinstance(resolved.get(key), float) and eps:
            value = f"{resolved[key] / eps:g}*eps"
        parts.append(f"{key}={value if isinstance(value, str) else number(value)}")
    return ", ".join(parts)


def _threat(attack, rule: str) -> str:
    """An attack's norm and what it takes from the dataset: 'eps=dataset linf, alpha=0.25*eps', 'unbounded'."""
    return rule if not attack.norm or attack.norm in rule.split(", ")[0].split() else f"{attack.norm}, {rule}"


def listing(what: str, pattern: str = "*", plugin_modules=()) -> str:
    """One registry as a table; the last column is the module each entry comes from (bench's or a plugin's)."""
    from bench.suite import plugins

    plugins.load(plugin_modules)
    reg, rows, header = _table(what, pattern)
    return fit([(*row, reg.origin(row[0])) for row in rows], [*header, "from"])


def _table(what: str, pattern: str):
    if what == "datasets":
        from bench.data import DATASETS

        rows = [(n, "x".join(map(str, d.shape)), d.num_classes, number(d.eps["linf"]), number(d.eps["l2"]), d.source)
                for n, d in DATASETS.list(pattern)]
        return DATASETS, rows, ["dataset", "shape", "classes", "linf eps", "l2 eps", "source"]
    if what == "archs":
        from bench.nets import ARCHS, arch_params

        rows = [(n, ", ".join(f"{k}={v}" for k, v in arch_params(n).items()), first_sentence(f)) for n, f in ARCHS.list(pattern)]
        return ARCHS, rows, ["arch", "args", "description"]
    if what == "recipes":
        from bench.recipes import RECIPES

        rows = [(n, _recipe_defaults(c), c.paper) for n, c in RECIPES.list(pattern)]
        return RECIPES, rows, ["recipe", "args (defaults)", "paper"]
    if what == "attacks":
        from bench.attacks import ATTACKS
        from bench.attacks.threat import describe

        rows = [(n, _threat(a, describe(a)), ", ".join(f"{k}={number(v)}" for k, v in a.defaults.items()), a.source)
                for n, a in ATTACKS.list(pattern)]
        return ATTACKS, rows, ["attack", "norm, from the dataset", "parameters (defaults)", "source"]
    if what == "evaluations":
        from bench.evals import EVALS

        rows = [(n, ", ".join(c.fields), first_sentence(inspect.getmodule(c))) for n, c in EVALS.list(pattern)]
        return EVALS, rows, ["kind", "keys", "description"]
    if what == "vicinities":
        from bench.pr.vicinity import VICINITIES

        rows = [(n, v.unit, v.lp or "", "" if v.below is None else f"< {number(v.below)}") for n, v in VICINITIES.list(pattern)]
        return VICINITIES, rows, ["vicinity", "radius", "ball", "radius limit"]
    if what == "certifiers":
        from bench.certify.rules import CERTIFIERS

        return CERTIFIERS, [(n, first_sentence(inspect.getmodule(f))) for n, f in CERTIFIERS.list(pattern)], \
            ["certifier", "description"]
    from bench.report.layouts import LAYOUTS

    return LAYOUTS, [(n, first_sentence(f)) for n, f in LAYOUTS.list(pattern)], ["table", "description"]

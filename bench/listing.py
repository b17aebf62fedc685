"""`bench list`: the registries as aligned text."""
from __future__ import annotations

import inspect

from tabulate import tabulate

from bench.registry import first_doc_line


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
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def listing(what: str, pattern: str = "*", plugin_modules=()) -> str:
    """One registry as a table; the last column is the module each entry comes from (bench's or a plugin's)."""
    from bench.suite import plugins

    plugins.load(plugin_modules)
    reg, rows, header = _table(what, pattern)
    return tabulate([(*row, reg.origin(row[0])) for row in rows], [*header, "from"])


def _table(what: str, pattern: str):
    if what == "datasets":
        from bench.data import DATASETS

        rows = [(n, "x".join(map(str, d.shape)), d.num_classes, f"{d.eps['linf']:.4g}", f"{d.eps['l2']:.4g}", d.source)
                for n, d in DATASETS.list(pattern)]
        return DATASETS, rows, ["dataset", "shape", "classes", "linf eps", "l2 eps", "source"]
    if what == "archs":
        from bench.nets import ARCHS, arch_params

        rows = [(n, ", ".join(f"{k}={v}" for k, v in arch_params(n).items()), first_doc_line(f)) for n, f in ARCHS.list(pattern)]
        return ARCHS, rows, ["arch", "args", "description"]
    if what == "recipes":
        from bench.recipes import RECIPES

        rows = [(n, _recipe_defaults(c), c.paper) for n, c in RECIPES.list(pattern)]
        return RECIPES, rows, ["recipe", "args (defaults)", "paper"]
    if what == "attacks":
        from bench.attacks import ATTACKS
        from bench.attacks.threat import describe

        rows = [(n, a.norm or "none", describe(a), ", ".join(f"{k}={v!r}" for k, v in a.defaults.items()), a.source)
                for n, a in ATTACKS.list(pattern)]
        return ATTACKS, rows, ["attack", "norm", "from the dataset", "parameters (defaults)", "source"]
    if what == "evaluations":
        from bench.evals import EVALS

        rows = [(n, ", ".join(c.fields), first_doc_line(inspect.getmodule(c))) for n, c in EVALS.list(pattern)]
        return EVALS, rows, ["kind", "keys", "description"]
    if what == "vicinities":
        from bench.pr.vicinity import VICINITIES

        rows = [(n, v.unit, v.lp or "", "" if v.below is None else f"< {v.below:.4g}") for n, v in VICINITIES.list(pattern)]
        return VICINITIES, rows, ["vicinity", "radius", "ball", "radius limit"]
    if what == "certifiers":
        from bench.certify.rules import CERTIFIERS

        return CERTIFIERS, [(n, first_doc_line(inspect.getmodule(f))) for n, f in CERTIFIERS.list(pattern)], \
            ["certifier", "description"]
    from bench.report.layouts import LAYOUTS

    return LAYOUTS, [(n, first_doc_line(f)) for n, f in LAYOUTS.list(pattern)], ["table", "description"]

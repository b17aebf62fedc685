"""Attack layouts of "Towards Certified Probabilistic Robustness with High Accuracy" (seeds/002):
Table 3 (AutoAttack defence success rate per dataset) and Table 9 (the 25 torchattacks attacks x methods,
"No attack" first), plus robust accuracy against eps for attack sweeps.

Paper's Table 8: defence success rate = mean(argmax h(A(h, x, y)) = y), i.e. accuracy under the attack;
an attack row's ``correct`` is clean-correct and adversarially correct.
"""
from __future__ import annotations

from bench.results.names import block_name, display
from bench.report import Table
from bench.report.data import Rows
from bench.report.layouts import (CERTIFIED_PR, by_columns, by_rows, compare, datasets_of, evaluations_of, group,
                                  layout, metric_column, paper_title, part, recipes_of)

# Table 9's attacks, in the paper's order (GN is "Add Gaussian Noise").
TABLE9_ATTACKS = ["TIFGSM", "MIFGSM", "DIFGSM", "VMIFGSM", "TPGD", "FGSM", "RFGSM", "BIM", "FAB", "CW", "UPGD", "FFGSM",
                  "Jitter", "PGD", "EOTPGD", "APGD", "NIFGSM", "SINIFGSM", "VNIFGSM", "APGDT", "Square", "GN",
                  "OnePixel", "Pixle", "PGDL2"]
AUTOATTACK = ["attack:AutoAttack", "attack:AA"]


def is_attack(b) -> bool:
    """A whole attack evaluation: not an eps sweep point and not one AutoAttack component."""
    return b.kind == "attack" and not b.sweep and not b.component


def attack_label(rows: Rows, ev: str) -> str:
    return display(part(rows, ev, "base"), part(rows, ev, "predictor"), bool(part(rows, ev, "adaptive")))


def attack_order(rows: Rows, evs: list[str]) -> list[str]:
    rank = {a.lower(): i for i, a in enumerate(TABLE9_ATTACKS)}
    return sorted(evs, key=lambda e: (rank.get(part(rows, e, "base").lower(), len(rank)), evs.index(e)))


@layout("table3")
def table3(rows: Rows, run: dict) -> Table | None:
    """Paper 002 Table 3: AutoAttack defence success rate (accuracy under AutoAttack) per dataset."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    for ds in datasets:
        present = evaluations_of(rows, run, ds, lambda b: is_attack(b) and f"attack:{b.base}" in AUTOATTACK)
        ev = next((e for e in present if not part(rows, e, "adaptive")), None) or next(iter(present), None)
        if ev:
            columns.append((("Defence Success Rate", ds), metric_column(rows, ds, recipes, ev)))
    title = paper_title("Defence success rate (accuracy) under AutoAttack", CERTIFIED_PR, "Table 3")
    return by_columns("table3", title, "Approach", recipes, columns,
                      "Accuracy under AutoAttack (%): the share of test samples on which AutoAttack fails; best in bold.")


def any_attack(rows: Rows, ds: str, recipes: list[str], evs: list[str]) -> dict:
    """Cells of the per-sample worst case: correct on the clean input and under every attack of ``evs``."""
    worst = rows.any_attack(ds, ["clean", *evs])
    return compare({r: worst.get(r) for r in recipes})


@layout("table9")
def table9(rows: Rows, run: dict) -> Table | None:
    """Paper 002 Table 9: defence success rate of each method (columns) under each attack (rows), "No attack"
    first and "Any attack" (per-sample worst case over the suite's attacks) last; best per row in bold."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    header = [(group(ds, datasets), r) for ds in datasets for r in recipes]
    labels: dict[str, dict] = {}
    any_evs = {}
    for ds in datasets:
        evs = attack_order(rows, evaluations_of(rows, run, ds, is_attack))
        any_evs[ds] = evs
        for label, ev in [("No attack", "clean"), *[(attack_label(rows, e), e) for e in evs]]:
            col = metric_column(rows, ds, recipes, ev)
            labels.setdefault(label, {}).update({(group(ds, datasets), r): c for r, c in col.items()})
    if not any(any_evs.values()):
        return None
    body = list(labels.items())
    anyrow = {}
    for ds in datasets:
        if any_evs[ds]:
            anyrow.update({(group(ds, datasets), r): c for r, c in any_attack(rows, ds, recipes, any_evs[ds]).items()})
    body.append(("Any attack", anyrow))
    notes = []
    if any(part(rows, e, "adaptive") for evs in any_evs.values() for e in evs):
        notes.append("(adaptive): an attack through the randomized predictor with expectation over transformation "
                     "(EOT); the any-attack row includes it.")
    title = paper_title("Robust accuracy under each attack", CERTIFIED_PR, "Table 9")
    return by_rows("table9", title, "Attack", header, body,
                   "Accuracy under each attack (%); best per row in bold. Any attack: a sample counts only if it "
                   "survives every attack of the suite.", notes)


@layout("eps")
def eps_sweep(rows: Rows, run: dict) -> Table | None:
    """Robust accuracy against the attack budget eps (an attack's eps sweep; clean accuracy at eps = 0)."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns = []
    for ds in datasets:
        for fam, points in families(rows, run, ds, lambda b: b.sweep).items():
            head = f"{ds} {fam}" if len(datasets) > 1 else fam
            columns.append(((head, "ε = 0"), metric_column(rows, ds, recipes, "clean")))
            for eps, ev in points:
                columns.append(((head, f"ε = {eps:g}"), metric_column(rows, ds, recipes, ev)))
    return by_columns("eps", "Robust accuracy against ε", "recipe", recipes, columns,
                      "Accuracy (%) under the attack at each budget ε (pixel units); ε = 0 is clean accuracy.")


def families(rows: Rows, run: dict, ds: str, where) -> dict[str, list[tuple[float, str]]]:
    """A dataset's attack evaluations (not AutoAttack components) that pass ``where(block)``, by family
    (``attack:PGD``, ``attack:PGD[vote,EOT]``: bench.results.names), each with its (eps, evaluation) points by eps."""
    out: dict[str, list] = {}
    for ev in evaluations_of(rows, run, ds, lambda b: b.kind == "attack" and not b.component and where(b)):
        fam = block_name("attack:" + part(rows, ev, "base"), predictor=part(rows, ev, "predictor"),
                         adaptive=bool(part(rows, ev, "adaptive")))
        out.setdefault(fam, []).append((float(part(rows, ev, "eps", ds)), ev))
    return {f: sorted(p) for f, p in out.items()}

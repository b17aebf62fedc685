"""Attack layouts of "Towards Certified Probabilistic Robustness with High Accuracy" (seeds/002):
Table 3 (AutoAttack defence success rate per dataset) and Table 9 (the 25 torchattacks attacks x methods,
"No attack" first), plus robust accuracy against eps for attack sweeps.

Paper's Table 8: defence success rate = mean(argmax h(A(h, x, y)) = y), i.e. accuracy under the attack;
an attack row's ``correct`` is clean-correct and adversarially correct.
"""
from __future__ import annotations

import pandas as pd

from bench.report import Table, family, kind
from bench.report.layouts import (LAYOUTS, blocks, by_columns, by_rows, compare, datasets_of, evaluations_of, group,
                                  metric_column, outcomes, recipes_of)

# Table 9's attacks, in the paper's order (GN is "Add Gaussian Noise").
TABLE9_ATTACKS = ["TIFGSM", "MIFGSM", "DIFGSM", "VMIFGSM", "TPGD", "FGSM", "RFGSM", "BIM", "FAB", "CW", "UPGD", "FFGSM",
                  "Jitter", "PGD", "EOTPGD", "APGD", "NIFGSM", "SINIFGSM", "VNIFGSM", "APGDT", "Square", "GN",
                  "OnePixel", "Pixle", "PGDL2"]
AUTOATTACK = ["attack:AutoAttack", "attack:AA"]


def is_attack(ev: str) -> bool:
    """A whole attack evaluation: not an eps sweep point and not one AutoAttack component."""
    return kind(ev) == "attack" and "@" not in ev and "/" not in ev


def adaptive(ev: str) -> bool:
    return "EOT" in ev.split("[", 1)[1] if "[" in ev else False


def attack_label(ev: str) -> str:
    name = ev.split(":", 1)[1]
    if "[" in name:
        base, tags = name.split("[", 1)
        name = f"{base} [{', '.join(t.strip() for t in tags.rstrip(']').split(','))}]"
    return name + (" (adaptive)" if adaptive(ev) else "")


def attack_order(evs: list[str]) -> list[str]:
    rank = {a.lower(): i for i, a in enumerate(TABLE9_ATTACKS)}
    return sorted(evs, key=lambda e: (rank.get(family(e).split(":", 1)[1].lower(), len(rank)), evs.index(e)))


@LAYOUTS.register("table3")
def table3(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 3: AutoAttack defence success rate (accuracy under AutoAttack) per dataset."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    columns = []
    for ds in datasets:
        present = evaluations_of(rows[rows["dataset"] == ds], run, is_attack)
        ev = next((e for e in present if family(e) in AUTOATTACK and not adaptive(e)), None)
        ev = ev or next((e for e in present if family(e) in AUTOATTACK), None)
        if ev:
            columns.append((("Defence Success Rate", ds), metric_column(bl, ds, recipes, ev)))
    if not columns:
        return None
    return by_columns("table3", "Table 3: defence success rate against AutoAttack", "Approach", recipes, columns,
                      "Accuracy under AutoAttack (%): the share of test samples on which AutoAttack fails; best in bold.")


def any_attack(bl: dict, ds: str, recipe: str, evs: list[str]) -> pd.Series | None:
    """Per-sample worst case: correct on the clean input and under every attack of the suite."""
    parts = [outcomes(bl[(ds, recipe, ev)]).astype(bool) for ev in ["clean", *evs] if (ds, recipe, ev) in bl]
    if not parts:
        return None
    return pd.concat(parts, axis=1, join="inner").all(axis=1)


@LAYOUTS.register("table9")
def table9(rows: pd.DataFrame, run: dict) -> Table | None:
    """Paper 002 Table 9: defence success rate of each method (columns) under each attack (rows), "No attack"
    first and "Any attack" (per-sample worst case over the suite's attacks) last; best per row in bold."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    header = [(group(ds, datasets), r) for ds in datasets for r in recipes]
    body = []
    notes = []
    labels: dict[str, dict] = {}
    any_evs = {}
    for ds in datasets:
        evs = attack_order(evaluations_of(rows[rows["dataset"] == ds], run, is_attack))
        any_evs[ds] = evs
        for label, ev in [("No attack", "clean"), *[(attack_label(e), e) for e in evs]]:
            col = metric_column(bl, ds, recipes, ev)
            labels.setdefault(label, {}).update({(group(ds, datasets), r): c for r, c in col.items()})
    if not any(any_evs.values()):
        return None
    for label, cells in labels.items():
        body.append((label, cells))
    anyrow = {}
    for ds in datasets:
        if any_evs[ds]:
            col = compare({r: any_attack(bl, ds, r, any_evs[ds]) for r in recipes})
            anyrow.update({(group(ds, datasets), r): c for r, c in col.items()})
    body.append(("Any attack", anyrow))
    if any(adaptive(e) for evs in any_evs.values() for e in evs):
        notes.append("(adaptive): an attack through the randomized predictor with expectation over transformation "
                     "(EOT); the any-attack row includes it.")
    return by_rows("table9", "Table 9: defence success rate against attacks", "Attack", header, body,
                   "Accuracy under each attack (%); best per row in bold. Any attack: a sample counts only if it "
                   "survives every attack of the suite.", notes)


@LAYOUTS.register("eps")
def eps_sweep(rows: pd.DataFrame, run: dict) -> Table | None:
    """Robust accuracy against the attack budget eps (an attack's eps sweep; clean accuracy at eps = 0)."""
    datasets, recipes, bl = datasets_of(rows, run), recipes_of(rows, run), blocks(rows)
    columns = []
    for ds in datasets:
        sub = rows[rows["dataset"] == ds]
        swept = evaluations_of(sub, run, lambda e: kind(e) == "attack" and "@" in e)
        for fam in dict.fromkeys(family(e) for e in swept):
            points = sorted((float(sub.loc[sub["evaluation"] == e, "eps"].iloc[0]), e) for e in swept if family(e) == fam)
            head = f"{ds} {fam}" if len(datasets) > 1 else fam
            columns.append(((head, "ε = 0"), metric_column(bl, ds, recipes, "clean")))
            for eps, ev in points:
                columns.append(((head, f"ε = {eps:g}"), metric_column(bl, ds, recipes, ev)))
    if not columns:
        return None
    return by_columns("eps", "Robust accuracy against ε", "recipe", recipes, columns,
                      "Accuracy (%) under the attack at each budget ε (pixel units); ε = 0 is clean accuracy.")

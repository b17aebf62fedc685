"""The result tables of the three other papers, as shapes over bench's rows.

- AT-PR, "Adversarial Training for Probabilistic Robustness" (Zhang et al., ICCV 2025; seeds/000):
  clean | PGD | CW-inf | AutoAttack | PR at each radius (mean PR over clean-correct inputs).
- ADT, "Adversarial Distributional Training for Robust Deep Learning" (Dong et al., NeurIPS 2020; seeds/001):
  A_nat | FGSM | PGD-20 | PGD-100 | MIM | C&W | A_rob (per-sample worst case over the attacks shown).
- MAIL, "Probabilistic Margins for Instance Reweighting in Adversarial Training" (Wang et al., NeurIPS 2021;
  seeds/003), Tables 2/3: NAT | PGD (100 steps) | APGD (CE) | CW | AA, mean ± std over seeds.
- PRL's ProbAcc(q) (Robey et al. 2022), as bench's PR table: mean PR and the share of inputs with PR > 1 - q.

Attack columns are found by evaluation name (a suite's ``as:`` name or the attack's): the candidates are
listed below, the paper's own evaluation settings first (bench/attacks/variants.py: MAIL-PGD-100, ADT-CWinf,
...); the caption says what each column ran (attack, steps × step size, ε, from the rows' parameters) and
names the paper's setting where another evaluation stood in. Every attack column of these tables is a Linf one, filled only by an evaluation bounded in
Linf (``linf_bounded``: never torchattacks' unbounded L2 ``CW``, nor an L2 attack under a Linf label); a
column whose evaluation is absent is left out, the caption naming the evaluation it needs, and a shape with
too few columns is None.
"""
from __future__ import annotations

import json

from bench.results.metrics import PROBACC_Q
from bench.results.names import base_of, block_name
from bench.report import Table
from bench.report.data import Rows
from bench.report.layouts import (by_columns, datasets_of, evaluations_of, first_present, group, layout,
                                  linf_bounded, metric_column, paper_title, part, per_evaluation, recipes_of)
from bench.report.layouts.attacks import AUTOATTACK, any_attack

PGD = ["attack:PGD", "attack:PGD-20", "attack:PGD-10", "attack:PGD-100"]
CWINF = ["attack:CWinf", "attack:CW-inf"]


class Linf:
    """The Linf columns of one shape (``spec``: (label, candidate evaluations), the paper's own settings
    first) and its caption's lines: the settings each column used and the evaluation each left-out one needs."""

    def __init__(self, rows: Rows, run: dict, spec):
        self.rows, self.run, self.spec, self.missing, self.used = rows, run, spec, {}, []

    def find(self, ds: str) -> list[tuple[str, list[str], str]]:
        """(label, candidates, evaluation) of the columns present on ``ds``; the absent ones are noted."""
        found = [(label, cands, first_present(self.rows, self.run, ds, cands, linf_bounded)) for label, cands in self.spec]
        self.missing.update({label: cands for label, cands, ev in found if not ev})
        return [f for f in found if f[2]]

    def keep(self, ds: str, found: list, prefix: str = "") -> list[tuple[str, str]]:
        """Record the columns shown for ``ds`` (their settings go to the caption); (label, evaluation)."""
        self.used += [(prefix + label, cands, ev, ds) for label, cands, ev in found]
        return [(label, ev) for label, _, ev in found]

    def caption(self) -> str:
        used = "; ".join(f"{label} = {settings(self.rows, ev, ds)}" + (
            "" if ev == cands[0] or ran(self.rows, ev, ds) == base_of(cands[0]) else f" (the paper's: {cands[0]})")
            for label, cands, ev, ds in self.used)
        left = "; ".join(f"{label} needs {' or '.join(cands)}" for label, cands in self.missing.items())
        return ((f" Settings: {used}." if used else "")
                + (f" Left out (no Linf-bounded evaluation at the dataset's budget): {left}." if left else ""))


def _params(rows: Rows, ev: str, ds: str) -> dict:
    return json.loads(part(rows, ev, "params", ds) or "{}")


def ran(rows: Rows, ev: str, ds: str) -> str:
    """The registered attack an evaluation ran (a suite's ``as:`` renames the evaluation, not the attack)."""
    return _params(rows, ev, ds).get("attack") or part(rows, ev, "base", ds)


def settings(rows: Rows, ev: str, ds: str) -> str:
    """What an evaluation ran, from its rows' resolved parameters: 'MAIL-PGD-100, 100 steps × 0.003, ε 0.0314'."""
    p = _params(rows, ev, ds)
    q = p.get("params", {}) if "attack" in p else {}
    out = [ran(rows, ev, ds)]
    out += [f"{q['steps']} steps × {q['alpha']:.3g}"] if "steps" in q and "alpha" in q else []
    eps = part(rows, ev, "eps", ds)
    return ", ".join(out + ([f"ε {eps:.3g}"] if eps is not None else []))


def _attack_columns(rows: Rows, run: dict, spec, clean: str, worst: str | None, min_attacks: int):
    """Clean + the named attacks (+ per-sample worst case) per dataset, or [] with too few attacks; and
    the caption's lines on the columns (Linf.caption)."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns, linf = [], Linf(rows, run, spec)
    for ds in datasets:
        found = linf.find(ds)
        if len(found) < min_attacks:
            continue
        g = group(ds, datasets)
        found = linf.keep(ds, found, f"{g} " if g else "")
        columns.append(((g, clean), metric_column(rows, ds, recipes, "clean")))
        columns += [((g, label), metric_column(rows, ds, recipes, ev)) for label, ev in found]
        if worst:
            columns.append(((g, worst), any_attack(rows, ds, recipes, [ev for _, ev in found])))
    return columns, recipes, linf.caption()


ADT_SPEC = [("FGSM", ["attack:FGSM"]), ("PGD-20", ["attack:ADT-PGD-20", "attack:PGD-20"]),
            ("PGD-100", ["attack:ADT-PGD-100", "attack:PGD-100"]),
            ("MIM", ["attack:ADT-MIM", "attack:MIM", "attack:MIFGSM"]), ("C&W", ["attack:ADT-CWinf", *CWINF])]
MAIL_SPEC = [("PGD", ["attack:MAIL-PGD-100", "attack:PGD-100"]), ("APGD", ["attack:APGD", "attack:APGD-CE"]),
             ("CW", ["attack:MAIL-CWinf", *CWINF]), ("AA", AUTOATTACK)]
ATPR_SPEC = [("PGD", PGD), ("CW∞", CWINF), ("AA", AUTOATTACK)]


@layout("adt")
def adt(rows: Rows, run: dict) -> Table | None:
    """ADT (Dong et al. 2020) table: A_nat | FGSM | PGD-20 | PGD-100 | MIM | C&W | A_rob (worst case)."""
    columns, recipes, left = _attack_columns(rows, run, ADT_SPEC, "A_nat", "A_rob (worst case)", 2)
    title = paper_title("White-box robustness under each attack", "ADT paper", "white-box table")
    return by_columns("adt", title, "Model", recipes, columns,
                      "Accuracy (%); A_rob: a sample counts only if it survives every attack shown." + left)


@layout("mail")
def mail(rows: Rows, run: dict) -> Table | None:
    """MAIL (Wang et al. 2021) Tables 2/3: NAT | PGD-100 | APGD | CW | AA, mean ± std over seeds."""
    columns, recipes, left = _attack_columns(rows, run, MAIL_SPEC, "NAT", None, 2)
    title = paper_title("Accuracy under attacks, mean ± std over seeds", "MAIL paper", "Tables 1–3")
    return by_columns("mail", title, "Method", recipes, columns,
                      "Accuracy (%), mean ± std over seeds." + left)


@layout("atpr")
def atpr(rows: Rows, run: dict) -> Table | None:
    """AT-PR (Zhang et al. 2025): clean | PGD | CW-inf | AA | mean PR at each vicinity radius."""
    datasets, recipes = datasets_of(rows, run), recipes_of(rows, run)
    columns, linf = [], Linf(rows, run, ATPR_SPEC)
    for ds in datasets:
        prs = evaluations_of(rows, run, ds, lambda b: b.kind == "pr")
        if not prs:
            continue
        g = group(ds, datasets)
        columns.append(((g, "Clean"), metric_column(rows, ds, recipes, "clean")))
        for label, ev in linf.keep(ds, linf.find(ds), f"{g} " if g else ""):
            columns.append(((g, label), metric_column(rows, ds, recipes, ev)))
        for ev in prs:
            label = "PR " + block_name(part(rows, ev, "base"), part(rows, ev, "eps"))
            columns.append(((g, label), metric_column(rows, ds, recipes, ev, "mean_pr")))
    return by_columns("atpr", "Worst-case and probabilistic robustness (the AT-PR paper's columns)", "Method",
                      recipes, columns,
                      "Accuracy (%) under attacks; PR: mean share of non-adversarial points in the vicinity, over "
                      "clean-correct inputs (%)." + linf.caption())


@layout("pr")
def pr(rows: Rows, run: dict) -> Table | None:
    """Probabilistic robustness per PR evaluation: mean PR (AT-PR) and ProbAcc(q) (PRL), q in 0.2 .. 0.01."""
    columns, recipes = per_evaluation(rows, run, "pr", [("mean PR", "mean_pr")] + [
        (f"ProbAcc({q:g})", f"probacc@{q:g}") for q in PROBACC_Q])
    return by_columns("pr", "Probabilistic robustness: mean PR and ProbAcc", "recipe", recipes, columns,
                      "Mean PR over clean-correct inputs; ProbAcc(q): share of all inputs with PR > 1 − q (%).")

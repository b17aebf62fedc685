"""autoattack: the official AutoAttack (Croce & Hein 2020, "Reliable evaluation of adversarial robustness
with an ensemble of diverse parameter-free attacks", ICML), through its PyPI package ``pyautoattack``.

``autoattack: standard`` (APGD-CE, APGD-T, FAB-T, Square), ``plus`` (+ APGD-DLR, FAB, 5 restarts),
``rand`` (APGD-CE and APGD-DLR with EOT 20, for randomized defences) or ``custom`` with ``attacks:``
(any of apgd-ce, apgd-dlr, fab, square, apgd-t, fab-t). ``norm`` linf | l2 | l1 and ``eps`` (default:
the dataset's budget for the norm; a list sweeps it, ``attack:AutoAttack@0.1``); ``seed`` (default: the
cell's seed) seeds every component, so a cell is reproducible (the package's own default is the clock).

Rows: ``attack:AutoAttack`` (``attack:AutoAttack-plus`` etc. for other versions, or the ``as:`` name)
holds the per-sample worst case of the official cascade (run_standard_evaluation). With
``individual: true`` one more block per component attack, each run alone on every clean-correct sample
(run_standard_evaluation_individual), with ``component`` set and the name ``attack:AutoAttack/apgd-ce``.
Only clean-correct samples are given to AutoAttack; the others count as failures, as for every attack.
AutoAttack's own log counts only the inputs it was given ("robust accuracy: 37.25%" of the clean-correct ones);
bench's line after it (logger ``bench.evals``, forwarded with AutoAttack's by bench.execute.progress) gives the
robust accuracy over all inputs, the table's number, beside it. AutoAttack's own checks (randomized defence, softmax output, dynamic defence, zero gradients, class
count, Square beating the gradient attacks) are recorded in the cell's notes under ``autoattack``.
torchattacks' different AutoAttack is the attack ``torchattacks.AutoAttack``.
"""
from __future__ import annotations

import logging
import warnings
from importlib.metadata import version as package_version

import numpy as np

from bench.results import names
from bench.attacks.run import norms, predicted_labels, seed_all, within
from bench.attacks.threat import check_classes
from bench.errors import UserError
from bench.evals._base import EVALS, Evaluation, concat
from bench.registry import did_you_mean
from bench.suite.yamlio import Field, convert, parse

VERSIONS = ("standard", "plus", "rand", "custom")
COMPONENTS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
RUNS = {"standard": ["apgd-ce", "apgd-t", "fab-t", "square"],  # pyautoattack's _set_version, for validation
        "plus": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"], "rand": ["apgd-ce", "apgd-dlr"]}
NORMS = {"linf": "Linf", "l2": "L2", "l1": "L1"}
LOG = logging.getLogger("bench.evals")  # progress lines (bench.execute.progress forwards them)


class Checks(logging.Handler):
    """Collects the warnings AutoAttack's checks log (or warn) during a run, once each."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.add(record.getMessage())

    def add(self, message: str):
        if message not in self.messages:
            self.messages.append(message)


def _dlr_need(attacks) -> int:
    return 4 if "apgd-t" in attacks else 3 if "apgd-dlr" in attacks else 0


@EVALS.register("autoattack")
class AutoAttackEval(Evaluation):
    kind = "autoattack"
    main = Field("str", required=True, choices=VERSIONS)
    fields = {
        "attacks": Field("list", None),
        "individual": Field("bool", False),
        "norm": Field("str", "linf", choices=tuple(NORMS)),
        "eps": Field("floats", None, lo=0.0),
        "seed": Field("int", None),
    }

    @classmethod
    def resolve(cls, main, opts, info, where):
        version = convert(main, cls.main, where, "autoattack")
        sweep = isinstance(opts.get("eps"), list)  # a list sweeps (names @eps); a number sets the budget
        opts = parse(opts, cls.fields, "autoattack", where)
        attacks = opts["attacks"]
        if version == "custom":
            if not attacks:
                raise UserError("version custom needs `attacks:`, a list of " + ", ".join(COMPONENTS), where, "attacks")
            for a in attacks:
                if a not in COMPONENTS:
                    raise UserError(f"unknown AutoAttack component {a!r}{did_you_mean(str(a), COMPONENTS)}; "
                                    f"known: {', '.join(COMPONENTS)}", where, "attacks")
            attacks = list(dict.fromkeys(attacks))
        elif attacks is not None:
            raise UserError(f"`attacks:` needs version custom (version {version} runs {', '.join(RUNS[version])})",
                            where, "attacks")
        else:
            attacks = RUNS[version]
        check_classes(f"AutoAttack ({', '.join(attacks)})", _dlr_need(attacks), info, where, "autoattack")
        if opts["eps"] is None and opts["norm"] not in info.eps:
            raise UserError(f"dataset {info.name!r} has no {opts['norm']} budget: give `eps:`", where, "eps")
        eps = list(opts["eps"]) if opts["eps"] is not None else [float(info.eps[opts["norm"]])]
        name = "attack:AutoAttack" if version == "standard" else f"attack:AutoAttack-{version}"
        return name, {"version": version, "attacks": attacks, "individual": opts["individual"], "norm": opts["norm"],
                      "eps": eps, "sweep": sweep, "seed": opts["seed"]}

    def _make(self, model, eps: float, seed: int, n_classes: int, device):
        from pyautoattack import AutoAttack

        p = self.params
        aa = AutoAttack(model, attacks=p["attacks"] if p["version"] == "custom" else None, device=device, eps=eps,
                        norm=NORMS[p["norm"]], seed=seed, version=p["version"])
        # the official code targets 9 classes (CIFAR-10); fewer classes cap it at C - 1
        aa.apgd_targeted.n_target_classes = min(aa.apgd_targeted.n_target_classes, n_classes - 1)
        aa.fab.n_target_classes = min(aa.fab.n_target_classes, n_classes - 1)
        return aa

    def _rows(self, component, pred, todo, x, y, adv, adv_y, eps) -> dict:
        n = len(y)
        adv_pred = pred.copy()
        value, linf, l2, l0 = (np.zeros(n) for _ in range(4))
        if len(todo):
            adv_pred[todo] = adv_y.cpu().numpy()
            a, b, c = norms(x[todo], adv)
            linf[todo], l2[todo], l0[todo] = a.numpy(), b.numpy(), c.numpy()
            l1 = (adv - x[todo]).detach().cpu().flatten(1).abs().sum(1).double().numpy()
            value[todo] = {"linf": linf[todo], "l2": l2[todo], "l1": l1}[self.params["norm"]]
        yn = y.numpy()
        swept = eps if self.params["sweep"] else None
        return {**names.block(n, "attack", self.name, swept, component=component, eps=eps,
                             norm=self.params["norm"]),
                "pred": pred, "adv_pred": adv_pred, "correct": (pred == yn) & (adv_pred == yn),
                "linf": linf, "l2": l2, "l0": l0,
                "in_budget": within(value, self.params["norm"], eps)}

    def run(self, model, x, y, ctx):
        p = self.params
        model.eval()
        seed = ctx.stream_seed(p["seed"])  # the cell's (or the given) seed in chunk 0, derived in the others
        pred = predicted_labels(model, x, ctx.batch_size, ctx.device).numpy()
        todo = np.nonzero(pred == y.numpy())[0]
        xs, ys = x[todo], y[todo]
        checks = Checks()
        logger = logging.getLogger("auto-attack")
        logger.addHandler(checks)
        blocks = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for eps in p["eps"]:
                    adv, adv_y = xs, ys
                    if len(todo):
                        seed_all(seed)
                        aa = self._make(model, eps, seed, ctx.info.num_classes, ctx.device)
                        adv, adv_y = aa.run_standard_evaluation(xs, ys, batch_size=ctx.batch_size)
                    blocks.append(self._rows(None, pred, todo, x, y, adv, adv_y, eps))
                    LOG.info(robust_line(int(blocks[-1]["correct"].sum()), len(y), len(todo), eps))
                    if p["individual"]:
                        results = {}
                        if len(todo):
                            seed_all(seed)
                            aa = self._make(model, eps, seed, ctx.info.num_classes, ctx.device)
                            results = aa.run_standard_evaluation_individual(xs, ys, batch_size=ctx.batch_size)
                        for c in p["attacks"]:
                            adv, adv_y = results.get(c, (xs, ys))
                            blocks.append(self._rows(c, pred, todo, x, y, adv, adv_y, eps))
            for w in caught:
                checks.add(str(w.message))
        finally:
            logger.removeHandler(checks)
        ctx.notes["autoattack"] = {"package": f"pyautoattack {package_version('pyautoattack')}", "version": p["version"],
                                   "attacks": p["attacks"], "norm": p["norm"], "eps": p["eps"], "seed": seed,
                                   "attacked": int(len(todo)), "checks": checks.messages}
        return concat(blocks)

    @classmethod
    def merge_notes(cls, notes, columns):
        """Chunk 0's notes (its seed is the cell's), with the inputs attacked summed and every chunk's
        checks, once each."""
        out = dict(notes[0]["autoattack"])
        out["attacked"] = sum(n["autoattack"]["attacked"] for n in notes)
        out["checks"] = list(dict.fromkeys(m for n in notes for m in n["autoattack"]["checks"]))
        return {"autoattack": out}

def robust_line(robust: int, n: int, attacked: int, eps: float) -> str:
    """bench's line after AutoAttack's log: robust accuracy over all inputs (the table's number) and over the
    clean-correct ones AutoAttack was given (what its own 'robust accuracy' line counts)."""
    of_attacked = f"{robust / attacked:.2%}" if attacked else "n/a"
    return (f"AutoAttack eps {eps:g}: robust accuracy {robust / n:.2%} of all {n} inputs (the table's number); "
            f"{of_attacked} of the {attacked} clean-correct inputs it was given, which its own lines count")

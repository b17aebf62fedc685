"""attack: robust accuracy under one registered attack (bench.attacks; ``bench list attacks``), with the
threat-model table's parameters (bench.attacks.threat), any of which ``params`` overrides. ``eps: 0.2`` sets the budget
(alpha rescaled with it); ``eps: [0.05, 0.1, 0.2]`` sweeps it in one evaluation, one evaluation name per
value (``attack:PGD@0.1``), for robust-accuracy-vs-eps curves.

Rows: pred is the clean prediction, adv_pred the prediction on the adversarial input (the clean one for
samples misclassified when clean, which are not attacked), correct is clean-correct and adversarially
correct; linf, l2, l0 the perturbation's norms; eps the budget used (null for unbounded attacks) and
in_budget whether the perturbation lies inside it (for unbounded attacks: inside the dataset's Linf
budget). Every attack evaluation of a model covers the same sample indices, so the worst case over a
suite ("any attack") is a per-index AND of ``correct``.
"""
from __future__ import annotations

import numpy as np

from bench.results import names
from bench.attacks import ATTACKS
from bench.attacks.run import in_budget, run_attack
from bench.attacks.threat import (INT_PARAMS, LOWEST, REAL_PARAMS, check_classes, check_iterations, dlr_classes,
                                 norm_of, threat_params, with_budget)
from bench.errors import UserError
from bench.evals._base import EVALS, Evaluation, concat
from bench.evals._predictors import attack_through, parse_predictor
from bench.registry import did_you_mean
from bench.suite.yamlio import Field, Node, convert, parse, to_float


def block(names_: dict, out: dict, y: np.ndarray, norm: str | None, eps: float | None, linf_budget: float) -> dict:
    """Complete one block of attack rows: its name columns (bench.results.names.block), correct, in_budget."""
    out.update(names_)
    out["correct"] = (out["pred"] == y) & (out["adv_pred"] == y)
    if norm is not None and eps is not None:
        out["in_budget"] = in_budget(out["linf"], out["l2"], norm, eps)
    else:
        out["in_budget"] = in_budget(out["linf"], out["l2"], "linf", linf_budget)
    return out


BUDGET_KEYS = ("eps", "alpha", "max_epsilon")


def coerce(attack: str, params: dict, defaults: dict, where: str | None, linf: bool) -> dict:
    """Check suite overrides against an attack's parameters: known names; integers for the integer
    parameters, within their bounds (bench.attacks.threat.INT_PARAMS); finite numbers (fractions like
    8/255 accepted) where the default is a number; strings where it is a string; budgets >= 0 and, for
    Linf attacks, <= 1."""
    out = {}
    for key, value in params.items():
        at, field = params.where(key) if isinstance(params, Node) else where, f"params.{key}"
        if key not in defaults:
            raise UserError(f"{attack} takes no parameter {key!r}{did_you_mean(key, defaults)}", at, field)
        default = defaults[key]
        if isinstance(default, bool):
            value = convert(value, Field("bool"), at, field)
        elif key in INT_PARAMS and key not in REAL_PARAMS:
            value = convert(value, Field("int", lo=LOWEST.get((attack, key), INT_PARAMS[key])), at, field)
        elif isinstance(default, (int, float)):
            value = to_float(value, at, field)  # CW's c=1 takes 0.5 too
        elif isinstance(default, str):
            value = convert(value, Field("str"), at, field)
        if key in BUDGET_KEYS:
            check_budget(value, linf, at, field)
        out[key] = value
    return out


def check_budget(value: float, linf: bool, where: str | None, field: str) -> None:
    """A budget or step size: >= 0, and <= 1 for a Linf attack on [0,1] pixels."""
    if value < 0:
        raise UserError(f"must be >= 0, got {value:g}", where, field)
    if linf and value > 1:
        raise UserError(f"must be <= 1 for a Linf attack on [0,1] pixels, got {value:g}", where, field)


@EVALS.register("attack")
class Attack(Evaluation):
    kind = "attack"
    main = Field("str", required=True)
    fields = {
        "params": Field("map", {}),
        "eps": Field("floats", None, lo=0.0),
        "predictor": Field("any", None),  # bench.evals._predictors: adds [vote] and [vote,EOT] blocks
    }

    @classmethod
    def resolve(cls, main, opts, info, where):
        if main == "AutoAttack":
            raise UserError("the official AutoAttack is the evaluation kind `autoattack: standard`; "
                            "torchattacks' version is `attack: torchattacks.AutoAttack`", where, "attack")
        attack = ATTACKS.get(main, where, "attack")
        as_list = isinstance(opts.get("eps"), list)  # a list sweeps (names @eps); a number sets the budget
        opts = parse(opts, cls.fields, "attack", where)
        raw = opts["params"] or {}
        linf = norm_of(attack, {**attack.defaults, **{k: v for k, v in raw.items() if k == "norm"}}) == "linf"
        overrides = coerce(main, raw, attack.defaults, where, linf)
        resolved = threat_params(attack, info, overrides, where)
        check_classes(main, dlr_classes(main, resolved), info, where, "attack")
        check_iterations(main, resolved, where)
        if opts["eps"] is not None and not (attack.budget and norm_of(attack, resolved)):
            raise UserError(f"{main} has no norm budget to sweep", where, "eps")
        for eps in opts["eps"] or ():
            check_budget(eps, linf, where, "eps")
        sweep = list(opts["eps"]) if as_list else None
        if opts["eps"] is not None and not as_list:
            if attack.budget in overrides:
                raise UserError(f"eps given twice: here and as params.{attack.budget}", where, "eps")
            resolved = threat_params(attack, info, {**overrides, attack.budget: opts["eps"][0]}, where)
        out = {"attack": main, "params": resolved, "eps_sweep": sweep}
        spec = parse_predictor(opts["predictor"], info, where)
        return f"attack:{main}", {**out, "predictor": spec} if spec else out

    @classmethod
    def draws(cls, params):
        """Through a predictor (its samples), or an attack that draws (bench.attacks.AttackInfo.draws)."""
        return bool(params.get("predictor")) or ATTACKS.get(params["attack"]).draws(params["params"])

    def run(self, model, x, y, ctx):
        attack = ATTACKS.get(self.params["attack"])
        base = dict(self.params["params"])
        if "seed" in base and base["seed"] is None:  # torchattacks.AutoAttack: the chunk's seed, not the clock
            base["seed"] = ctx.stream_seed()
        norm, key = norm_of(attack, base), attack.budget
        sweep = self.params["eps_sweep"]
        blocks = []
        spec, n = self.params.get("predictor"), len(y)
        for eps in sweep or [None]:
            params = base if eps is None else with_budget(base, key, eps)
            used = params[key] if key and norm else None
            bound = norm if used is not None else None
            if spec:  # bench.evals._predictors: the non-adaptive and the EOT block
                for eot, out in attack_through(model, spec, attack.name, params, x, y, ctx.info.num_classes,
                                               ctx.batch_size, ctx.device):
                    cols = names.block(n, "attack", self.name, eps, spec["name"], eot, eps=used, norm=bound)
                    blocks.append(block(cols, out, y.numpy(), norm, used, ctx.info.eps["linf"]))
                continue
            out = run_attack(model, attack.name, params, x, y, ctx.batch_size, ctx.device, seed=ctx.stream_seed())
            cols = names.block(n, "attack", self.name, eps, eps=used, norm=bound)
            blocks.append(block(cols, out, y.numpy(), norm, used, ctx.info.eps["linf"]))
        return concat(blocks)

"""attack: robust accuracy under one registered attack (bench.attacks), with the threat-model table's
parameters, any of which ``params`` overrides. ``eps`` given as a list sweeps the budget in one
evaluation: one evaluation name per value (``attack:PGD@0.1``), for robust-accuracy-vs-eps curves.

Rows: pred is the clean prediction, adv_pred the prediction on the adversarial input, correct is
clean-correct and adversarially correct; linf, l2, l0 the perturbation's norms and in_budget whether it
lies inside the attack's budget.
"""
from __future__ import annotations

import numpy as np

from bench.attacks import ATTACKS
from bench.attacks.run import run_attack
from bench.attacks.threat import threat_params
from bench.errors import UserError
from bench.evals import EVALS, Evaluation
from bench.predict import attack_through, parse_predictor
from bench.registry import did_you_mean
from bench.yamlio import Field, parse


@EVALS.register("attack")
class Attack(Evaluation):
    kind = "attack"
    main = Field("str", required=True)
    params = {
        "params": Field("map", {}),
        "eps": Field("floats", None, lo=0.0),
        "predictor": Field("any", None),  # bench.predict: adds [vote] and [vote,EOT] blocks
    }

    @classmethod
    def resolve(cls, main, opts, info, where):
        attack = ATTACKS.get(main, where, "attack")
        opts = parse(opts, cls.params, "attack", where)
        overrides = dict(opts["params"] or {})
        for key in overrides:
            if key not in attack.defaults:
                raise UserError(f"{main} takes no parameter {key!r}{did_you_mean(key, attack.defaults)}",
                                where, f"params.{key}")
        resolved = threat_params(attack, info, overrides)
        if opts["eps"] is not None and "eps" not in attack.defaults:
            raise UserError(f"{main} has no eps budget to sweep", where, "eps")
        sweep = list(opts["eps"]) if opts["eps"] is not None else None
        out = {"attack": main, "params": resolved, "eps_sweep": sweep}
        spec = parse_predictor(opts["predictor"], info, where)
        return f"attack:{main}", {**out, "predictor": spec} if spec else out

    def run(self, model, x, y, ctx):
        info = ATTACKS.get(self.params["attack"])
        base = dict(self.params["params"])
        sweep = self.params["eps_sweep"]
        cols: dict[str, list] = {}
        for eps in sweep or [base.get("eps")]:
            params = dict(base)
            name = self.name
            if sweep is not None:
                ratio = params["alpha"] / params["eps"] if "alpha" in params and params["eps"] else None
                params["eps"] = eps
                if ratio is not None:
                    params["alpha"] = eps * ratio
                name = f"{self.name}@{eps:g}"
            if self.params.get("predictor"):  # bench.predict: non-adaptive and EOT blocks
                for suffix, out in attack_through(model, self.params["predictor"], info.name, params, x, y,
                                                  ctx.info.num_classes, ctx.batch_size, ctx.device, info.norm,
                                                  params.get("eps")):
                    out.update(evaluation=np.full(len(y), name + suffix, dtype=object),
                               eps=np.full(len(y), np.nan if params.get("eps") is None else params["eps"]))
                    for k, v in out.items():
                        cols.setdefault(k, []).append(v)
                continue
            out = run_attack(model, info.name, params, x, y, ctx.batch_size, ctx.device, info.norm, params.get("eps"))
            out["correct"] = (out["pred"] == y.numpy()) & (out["adv_pred"] == y.numpy())
            out["evaluation"] = np.full(len(y), name, dtype=object)
            out["eps"] = np.full(len(y), np.nan if params.get("eps") is None else params["eps"])
            for k, v in out.items():
                cols.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in cols.items()}

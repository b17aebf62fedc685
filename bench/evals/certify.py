"""certify: certified probabilistic robustness of each test input in a vicinity, as in "Towards Certified
Probabilistic Robustness with High Accuracy" (Tables 1, 2, 10-12; metrics of its Table 8).

Suite entry: ``- certify: linf`` (any vicinity of bench.pr.vicinity; Table 2 uses translation, rotation, scale,
affine) with keys
  eps          radius, a number or a list (default: the vicinity's default for the dataset)
  kappa        accepted share of disagreeing samples, 0 < kappa < 0.5 (default 0.01); a list sweeps it
  alpha        significance level, 0 < alpha < 0.5 (default 0.01); a list sweeps it
  certifier    any of bench.certify.rules: spike (default; anytime-valid, a spike-and-slab mixture SPRT)
               | sprt (anytime-valid, uniform mixture) | paper (Algorithm 2) | fixed (one-shot Clopper-Pearson)
  max_samples  cap on samples per input for the sequential certifiers (default 10000): then `undecided`
  n            test samples for fixed (default 1000)
Sweeps follow Tables 11 and 12: every kappa at the base alpha, and every alpha at the base kappa (the base
value is 0.01 when listed, else the first), not the full grid. Names: ``certify:<vicinity>@<radius>`` for
kappa = alpha = 0.01 (the paper's defaults), ``certify:<vicinity>@<radius>[kappa=<k>,alpha=<a>]`` for any
other point. All points of one radius replay on one stream of predictions (bench.certify.engine.certify_many),
so a sweep costs the model what its longest-running point costs.

What "certified" means: the test (bench.certify.rules) accepts, at level alpha, that at least 1 - kappa of
the vicinity's samples are predicted as one class c (the majority class); rows carry pred = that
majority (vote) prediction over the samples drawn, correct = pred == label, decision (certified |
not_certified | undecided), samples (drawn until the decision), kappa, alpha, eps. Per Table 8:
certified robustness rate = mean(decision == certified); certified robust accuracy = mean(decision ==
certified and correct); standard accuracy comes from the ``clean`` evaluation.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from bench.results import names
from bench.certify.engine import certify_many
from bench.certify.rules import CERTIFIERS, make_rule
from bench.evals._base import EVALS, Evaluation
from bench.pr.vicinity import VICINITIES, radii
from bench.suite.yamlio import Field, parse

DEFAULT = names.DEFAULT_KAPPA  # the paper's kappa and alpha (= names.DEFAULT_ALPHA)


def sweep(kappas, alphas) -> list[tuple[float, float]]:
    """Table 11/12 points: every kappa at the base alpha, then every alpha at the base kappa."""
    k0 = DEFAULT if DEFAULT in kappas else kappas[0]
    a0 = DEFAULT if DEFAULT in alphas else alphas[0]
    points = [(k, a0) for k in kappas] + [(k0, a) for a in alphas]
    return list(dict.fromkeys(points))


def point_name(base: str, radius: float, kappa: float, alpha: float) -> str:
    return names.block_name(base, radius, kappa=kappa, alpha=alpha)


@lru_cache(maxsize=32)
def _rule(certifier, kappa, alpha, max_samples, n):
    return make_rule(certifier, kappa, alpha, max_samples, n)


@EVALS.register("certify")
class Certify(Evaluation):
    kind = "certify"
    main = Field("str", required=True)
    fields = {
        "eps": Field("floats", None, lo=0.0),
        "kappa": Field("floats", DEFAULT, lo=0.0, hi=0.5, open_lo=True),
        "alpha": Field("floats", DEFAULT, lo=0.0, hi=0.5, open_lo=True),
        "certifier": Field("str", "spike", choices=tuple(CERTIFIERS)),
        "max_samples": Field("int", 10000, lo=100),
        "n": Field("int", 1000, lo=1),
    }

    @classmethod
    def resolve(cls, main, opts, info, where):
        VICINITIES.get(main, where, "certify")
        opts = parse(opts, cls.fields, "certify", where)
        kappas, alphas = (tuple(v) if isinstance(v, (list, tuple)) else (v,) for v in (opts["kappa"], opts["alpha"]))
        params = {"vicinity": main, "eps": radii(main, opts["eps"], info, where),
                  "points": [list(p) for p in sweep(list(kappas), list(alphas))], "certifier": opts["certifier"]}
        params.update({"n": opts["n"]} if opts["certifier"] == "fixed" else {"max_samples": opts["max_samples"]})
        return f"certify:{main}", params

    def run(self, model, x, y, ctx):
        p, cols = self.params, {}
        rules = [_rule(p["certifier"], kappa, alpha, p.get("max_samples"), p.get("n")) for kappa, alpha in p["points"]]
        for r in p["eps"]:  # every (kappa, alpha) point reads the same samples: one pass of the model
            outs = certify_many(model, x, rules, p["vicinity"], r, ctx.info.num_classes, seed=ctx.seed,
                                ids=ctx.index, batch_size=max(ctx.batch_size, 1024), device=ctx.device)
            for (kappa, alpha), out in zip(p["points"], outs):
                name = point_name(self.name, r, kappa, alpha)
                correct = out["pred"] == y.numpy()
                ctx.notes.setdefault("certify", {})[name] = point_notes(out["decision"], correct, out["samples"])
                block = {**out, **names.block(len(y), "certify", self.name, r, kappa=kappa, alpha=alpha, eps=r),
                         "correct": correct}
                for k, v in block.items():
                    cols.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in cols.items()}

    @classmethod
    def draws(cls, params):
        """No: sample j of input i is keyed by (seed, test index of i, j) (bench.certify.engine)."""
        return False

    @classmethod
    def merge_notes(cls, notes, columns):
        """The rates per point over the assembled rows."""
        if len(notes) == 1:
            return notes[0]
        names_ = columns["evaluation"]
        return {"certify": {name: point_notes(*(columns[k][names_ == name] for k in ("decision", "correct", "samples")))
                            for name in dict.fromkeys(names_)}}


def point_notes(decision, correct, samples) -> dict:
    """What a cell's notes record about one (radius, kappa, alpha) point."""
    certified = decision == "certified"
    return {"certified_robustness_rate": float(certified.mean()),
            "certified_robust_accuracy": float((certified & correct).mean()),
            "undecided": float((decision == "undecided").mean()), "mean_samples": float(samples.mean())}

"""ibp: IBP-verified accuracy (Gowal et al. 2018): a test point counts when interval bound propagation
proves every other class's logit below the true one over the whole Linf box of radius eps around it
(clipped to [0, 1]). Works for every registered architecture (bench.certify.ibp); the model runs in eval
mode (BatchNorm running statistics, no dropout).

Suite keys: ``eps`` (default the dataset's Linf budget; a list sweeps, one evaluation ``ibp@<eps>`` per
value). Rows: pred is the clean prediction, correct whether the point is verified (the lower bound of the
true-class margin over every other class > 0, which implies a correct clean prediction), eps the radius.
"""
from __future__ import annotations

import torch

from bench.results import names
from bench.certify.ibp import margin_bounds, verified
from bench.evals._base import EVALS, Evaluation, concat
from bench.suite.yamlio import Field, parse


@EVALS.register("ibp")
class IBPVerified(Evaluation):
    kind = "ibp"
    fields = {"eps": Field("floats", None, lo=0.0, hi=1.0)}

    @classmethod
    def resolve(cls, main, opts, info, where):
        sweep = isinstance(opts.get("eps"), list)
        opts = parse(opts, cls.fields, "ibp", where)
        eps = list(opts["eps"]) if opts["eps"] is not None else [float(info.eps["linf"])]
        return cls.kind, {"eps": eps, "sweep": sweep}

    @classmethod
    def draws(cls, params):
        return False

    def run(self, model, x, y, ctx):
        model.eval()
        blocks = []
        for eps in self.params["eps"]:
            preds, ok = [], []
            with torch.no_grad():
                for i in range(0, len(y), ctx.batch_size):
                    xb = x[i:i + ctx.batch_size].to(ctx.device)
                    yb = y[i:i + ctx.batch_size].to(ctx.device)
                    margin_lo, logits = margin_bounds(model, xb, yb, eps)
                    preds.append(logits.argmax(1).cpu())
                    ok.append(verified(margin_lo, yb).cpu())
            blocks.append({**names.block(len(y), "ibp", self.name, eps if self.params["sweep"] else None, eps=eps),
                           "pred": torch.cat(preds).numpy(), "correct": torch.cat(ok).numpy()})
        return concat(blocks)

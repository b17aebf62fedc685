"""smooth: randomized smoothing certification (Cohen et al. 2019, bench.certify.smoothing), CERTIFY per input.

Suite entry (the kind stands alone; its keys sit beside it):
    - smooth:
      sigma: 0.25        # noise level, a number or a list (one block per value); default 0.25
      n0: 100            # selection samples (Cohen: 100)
      n: 100000          # estimation samples (Cohen: 100000; suites on CPU use fewer)
      alpha: 0.001       # failure probability (Cohen: 0.001)
Names: ``smooth@<sigma>``. Rows: pred = smoothed prediction or -1 (abstain), correct = pred == label,
radius = certified L2 radius (0 when abstaining), n, agree = count of the predicted class among the n,
sigma. Certified accuracy at r = mean(correct and radius >= r) (the report's radii: its metric declarations).
"""
from __future__ import annotations

import numpy as np

from bench.results import names
from bench.certify.smoothing import certify
from bench.evals._base import EVALS, Evaluation, concat
from bench.suite.yamlio import Field, parse


@EVALS.register("smooth")
class Smooth(Evaluation):
    kind = "smooth"
    version = 2  # sigma in its own column (the eps column held it)
    fields = {
        "sigma": Field("floats", 0.25, lo=0.0, open_lo=True),
        "n0": Field("int", 100, lo=1),
        "n": Field("int", 100000, lo=1),
        "alpha": Field("float", 0.001, lo=0.0, hi=0.5, open_lo=True),
    }

    @classmethod
    def resolve(cls, main, opts, info, where):
        p = parse(opts, cls.fields, "smooth", where)
        p["sigma"] = list(p["sigma"]) if isinstance(p["sigma"], (list, tuple)) else [p["sigma"]]
        return "smooth", p

    def run(self, model, x, y, ctx):
        p, blocks = self.params, []
        for sigma in p["sigma"]:
            out = certify(model, x, sigma, p["n0"], p["n"], p["alpha"], ctx.info.num_classes,
                          max(ctx.batch_size, 1024), ctx.device)
            blocks.append({**out, **names.block(len(y), "smooth", self.name, sigma, sigma=sigma),
                           "correct": out["pred"] == y.numpy(), "n": np.full(len(y), p["n"])})
        return concat(blocks)

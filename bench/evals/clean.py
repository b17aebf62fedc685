"""clean: plain accuracy on the unperturbed test subset."""
from __future__ import annotations

import numpy as np

from bench.attacks.run import predict
from bench.evals import EVALS, Evaluation


@EVALS.register("clean")
class Clean(Evaluation):
    kind = "clean"

    def run(self, model, x, y, ctx):
        model.eval()
        pred = predict(model, x, ctx.batch_size, ctx.device).numpy()
        return {"evaluation": np.full(len(y), "clean", dtype=object), "pred": pred, "correct": pred == y.numpy()}

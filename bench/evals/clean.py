"""clean: accuracy on the unperturbed test subset; with ``predictor:`` (bench.evals._predictors: vote, smooth) under
that inference mode, named ``clean[vote]``."""
from __future__ import annotations

from bench.results import names
from bench.evals import _predictors
from bench.evals._base import EVALS, Evaluation
from bench.suite.yamlio import Field, parse


@EVALS.register("clean")
class Clean(Evaluation):
    kind = "clean"
    fields = {"predictor": Field("any", None)}

    @classmethod
    def resolve(cls, main, opts, info, where):
        spec = _predictors.parse_predictor(parse(opts, cls.fields, "clean", where)["predictor"], info, where)
        return (names.block_name("clean", predictor=spec["name"]), {"predictor": spec}) if spec else ("clean", {})

    @classmethod
    def draws(cls, params):
        """Only through a predictor (vote and smooth sample)."""
        return bool(params.get("predictor"))

    def run(self, model, x, y, ctx):
        pred = _predictors.predictions(model, self.params.get("predictor"), x, ctx.info.num_classes, ctx.batch_size, ctx.device)
        spec = self.params.get("predictor")
        base = "clean" if spec and self.name == names.block_name("clean", predictor=spec["name"]) else self.name
        return {**names.block(len(y), "clean", base, predictor=spec and spec["name"], evaluation=self.name),
                "pred": pred, "correct": pred == y.numpy()}

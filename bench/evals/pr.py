"""pr: probabilistic robustness of each test input in a vicinity (bench.pr.vicinity), at one or more radii.

Suite entry: ``- pr: linf`` with ``eps`` (a number or a list; default: the vicinity's default radius for
the dataset, e.g. digits' Linf 0.1) and ``n`` (samples per input, default 100 as in the AT-PR and PRL
evaluations). One block of rows per radius, named ``pr:<vicinity>@<radius>``.

Rows: pred = clean prediction, correct = clean-correct, n, agree = samples classified as the label
(strictly above every other logit, bench.pr.estimate), pr = agree / n, eps = the radius.
Aggregates (mean PR, ProbAcc(q), augmented accuracy): declared in bench.results.metrics; the cell's notes
hold them per radius (``pr``).
"""
from __future__ import annotations

import numpy as np

from bench.attacks.run import predicted_labels
from bench.evals._base import EVALS, Evaluation, concat
from bench.pr.estimate import agree_counts
from bench.pr.vicinity import VICINITIES, radii
from bench.results import names
from bench.results.metrics import summarise
from bench.suite.yamlio import Field, parse


@EVALS.register("pr")
class ProbabilisticRobustness(Evaluation):
    kind = "pr"
    main = Field("str", required=True)
    fields = {"eps": Field("floats", None, lo=0.0), "n": Field("int", 100, lo=1)}

    @classmethod
    def resolve(cls, main, opts, info, where):
        VICINITIES.get(main, where, "pr")
        opts = parse(opts, cls.fields, "pr", where)
        return f"pr:{main}", {"vicinity": main, "eps": radii(main, opts["eps"], info, where), "n": opts["n"]}

    def run(self, model, x, y, ctx):
        model.eval()
        pred = predicted_labels(model, x, ctx.batch_size, ctx.device).numpy()
        correct = pred == y.numpy()
        n, blocks = self.params["n"], []
        for r in self.params["eps"]:
            agree = agree_counts(model, x, y, self.params["vicinity"], r, n, ctx.batch_size, ctx.device)
            block = {**names.block(len(y), "pr", self.name, r, eps=r), "pred": pred, "correct": correct,
                     "n": np.full(len(y), n), "agree": agree, "pr": agree / n}
            ctx.notes.setdefault("pr", {})[block["evaluation"][0]] = summarise("pr", block)
            blocks.append(block)
        return concat(blocks)

    @classmethod
    def merge_notes(cls, notes, columns):
        """The aggregates per radius, over the assembled rows (a chunk's cover its own inputs only). The
        samples come from torch's generator, shared by a chunk's inputs: the kind draws (``draws``)."""
        if len(notes) == 1:
            return notes[0]
        names_ = columns["evaluation"]
        return {"pr": {name: summarise("pr", {k: v[names_ == name] for k, v in columns.items()})
                       for name in dict.fromkeys(names_)}}

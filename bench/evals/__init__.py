"""Evaluation registry: what an eval cell does to a trained model on a fixed test subset.

A suite names an evaluation by its kind as the key, with the kind's main value (``attack: PGD``,
``pr: linf``), optional ``as:`` (the display name) and the kind's own keys. ``resolve`` validates them
(one line naming file:line and the field on a mistake) and returns the evaluation's name and its fully
resolved parameters, which go into the cell id. ``run`` returns the per-sample rows as columns: at
least ``evaluation, index, label, pred, correct``, with the name columns from ``bench.results.names.block``; see
README "Per-sample rows". What the report computes from a kind's rows is declared in bench/metrics.py.
"""
from bench.evals._base import EVALS, EvalContext, Evaluation, chunk_seed, concat  # noqa: F401 (public)
from bench.registry import import_all

import_all(__name__, __path__)  # every module registers itself

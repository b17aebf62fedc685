"""Metric declarations, one list per kind of rows (the ``kind`` column, bench.results.names). Torch-free: reports,
`bench check` and the leaderboard read these declarations without importing any evaluation module.

A metric is a per-sample SQL expression over the row columns (evaluated by DuckDB in one columnar pass,
bench.report.values), NULL where a sample does not count, and how the samples aggregate:

    rate   a boolean per sample; value = mean over seeds of the per-seed share (Wilson interval, McNemar)
    mean   a number per sample; value = mean over seeds of the per-seed mean (normal interval)

A new evaluation kind declares its metrics here with ``declare`` (or from its own module, or a test):
the leaderboard, `bench check --write` and the HTML report pick them up with no edit in bench.report.
These declarations are the one home of every aggregate: a cell's notes (``summarise``), the report, the
check and the site all compute them from here, under these names.

    clean, attack, ibp   accuracy                correct
    certify              accuracy                correct (majority prediction == label)
                         certified_rate          decision == certified
                         certified_accuracy      certified and correct                 (headline)
    pr                   mean_pr                 PR over clean-correct inputs (AT-PR)  (headline)
                         probacc@q               PR > 1 - q over all inputs (PRL's ProbAcc), q in PROBACC_Q
                         probacc_cc@q            PR > 1 - q over clean-correct inputs (AT-PR's reading)
                         augmented_accuracy      mean PR over all inputs (PRL's accuracy on vicinity samples)
    smooth               accuracy                correct (abstain counts as wrong)
                         certified_accuracy@r    correct and radius >= r, r in SMOOTH_RADII (headline r = 0.5)

The conventions of PR (Zhang et al. 2025, AT-PR; Robey et al. 2022, PRL): a vicinity sample counts as
agreeing when the label's logit is strictly above every other (bench.pr.estimate), and ProbAcc compares
strictly, pr > 1 - q.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.registry import Registry

PROBACC_Q = (0.2, 0.1, 0.05, 0.01)
SMOOTH_RADII = (0.0, 0.25, 0.5, 0.75, 1.0)
AGGREGATES = ("rate", "mean")


@dataclass(frozen=True)
class Metric:
    name: str
    per_sample: str  # SQL expression over the row columns; NULL where the sample does not count
    aggregate: str = "rate"  # one of AGGREGATES
    higher: bool = True  # higher is better (bold = max)
    headline: bool = False  # the one a leaderboard shows
    display: str = ""  # the leaderboard's suffix, e.g. "cert. acc."

    def __post_init__(self):
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"metric {self.name}: aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")


METRICS: Registry[tuple[Metric, ...]] = Registry("metric kind")


def declare(kind: str, *metrics: Metric) -> None:
    """Declare the metrics of rows of ``kind`` (exactly one headline, the first when none is marked)."""
    if not metrics:
        raise ValueError(f"{kind}: declare at least one metric")
    if not any(m.headline for m in metrics):
        metrics = (Metric(**{**metrics[0].__dict__, "headline": True}), *metrics[1:])
    if sum(m.headline for m in metrics) != 1:
        raise ValueError(f"{kind}: exactly one headline metric")
    METRICS.register(kind)(tuple(metrics))


def metrics_of(kind: str) -> tuple[Metric, ...]:
    """The metrics of a kind of rows; kinds without declarations have accuracy."""
    return METRICS.get(kind) if kind in METRICS else (ACCURACY,)


def headline_metric(kind: str) -> Metric:
    return next(m for m in metrics_of(kind) if m.headline)


def find_metric(kind: str, name: str) -> Metric:
    return next(m for m in metrics_of(kind) if m.name == name)


def summarise(kind: str, columns: dict) -> dict:
    """Every declared metric of one block of rows (``columns``: row columns, equal-length arrays), computed
    by DuckDB from the same per-sample SQL the report uses: {metric: {value, n[, std]}} (``std`` over the
    samples for a mean). A cell records this in its notes."""
    import duckdb
    import pandas as pd

    metrics = metrics_of(kind)
    frame = pd.DataFrame(columns)
    con = duckdb.connect()
    con.register("block", frame)
    parts = []
    for i, m in enumerate(metrics):
        v = f"CAST(({m.per_sample}) AS DOUBLE)"
        parts.append(f"avg({v}) AS a{i}, count({v}) AS n{i}, stddev_pop({v}) AS s{i}")
    row = con.execute(f"SELECT {', '.join(parts)} FROM block").fetchone()
    con.close()
    out = {}
    for i, m in enumerate(metrics):
        value, n, std = row[3 * i:3 * i + 3]
        out[m.name] = {"value": float("nan") if value is None else float(value), "n": int(n)}
        if m.aggregate == "mean":
            out[m.name]["std"] = float("nan") if std is None else float(std)
    return out


ACCURACY = Metric("accuracy", "correct", headline=True)
CERTIFIED = "coalesce(decision = 'certified', false)"
for _kind in ("clean", "attack", "ibp"):
    declare(_kind, ACCURACY)
declare("certify", Metric("accuracy", "correct"), Metric("certified_rate", CERTIFIED),
        Metric("certified_accuracy", f"{CERTIFIED} AND correct", headline=True, display="cert. acc."))
declare("pr", Metric("mean_pr", "CASE WHEN correct THEN pr END", "mean", headline=True, display="mean PR"),
        *[Metric(f"probacc@{q:g}", f"coalesce(pr > {1 - q!r}, false)") for q in PROBACC_Q],
        *[Metric(f"probacc_cc@{q:g}", f"CASE WHEN correct THEN coalesce(pr > {1 - q!r}, false) END") for q in PROBACC_Q],
        Metric("augmented_accuracy", "pr", "mean"))
declare("smooth", Metric("accuracy", "correct"),
        *[Metric(f"certified_accuracy@{r:g}", f"correct AND coalesce(radius, -1) >= {r!r}", headline=r == 0.5,
                 display=f"cert. acc. r={r:g}" if r == 0.5 else "") for r in SMOOTH_RADII])

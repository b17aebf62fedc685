"""Per-sample rows held in DuckDB, and every aggregate the report needs, each in one columnar pass.

``Rows`` reads the parquet files of a results folder (``cell_files``) or a DataFrame (tests) into one DuckDB
table. Layouts never iterate over samples: they select on ``blocks`` (one line per dataset, recipe,
evaluation and seed, with the name parts of bench.names) and read the aggregates:

- ``values``: every declared metric (bench.metrics) of every block, per seed and pooled (k, n, sums for
  intervals), in one GROUP BY over all rows;
- ``discordant``: for each column (dataset, evaluation, metric), the samples on which each recipe and the
  column's best recipe disagree (McNemar's b and c), in one join;
- ``per_sample``/``any_attack``: the per-sample outcomes of a few blocks (and their AND over attacks),
  for layouts that compare combinations.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from bench import metrics as declared
from bench.errors import UserError
from bench.names import parse
from bench.schema import COLUMNS, ROW_SCHEMA

KEY = ["dataset", "recipe", "evaluation"]
PARTS = ["kind", "base", "predictor", "adaptive", "sweep", "component"]
PARAMS = ["eps", "kappa", "alpha", "sigma"]


def cell_files(results: str | Path) -> list[Path]:
    """The parquet files of a results folder's done cells (until bench.results.cell_files: every
    samples/*.parquet)."""
    samples = Path(results) / "samples"
    return sorted(samples.glob("*.parquet")) if samples.is_dir() else []


def _sql(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


class Rows:
    """The rows of one report (see the module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str):
        """``source``: a relation with COLUMNS, ``src`` and ``pos`` (the file and the row's position in it,
        which order blocks as the files list them)."""
        self.con = con
        legacy = [r[0] for r in con.execute(f"SELECT DISTINCT evaluation FROM {source} WHERE kind IS NULL").fetchall()]
        if legacy:  # rows written before the name columns: their parts from their names (bench.names.parse)
            con.register("legacy_parts", pd.DataFrame([{"evaluation": ev, **parse(ev)} for ev in legacy]))
            fill = ", ".join(f"coalesce(r.{c}, p.{c}) AS {c}" for c in PARTS)
            source = f"(SELECT r.* REPLACE ({fill}) FROM {source} r LEFT JOIN legacy_parts p USING (evaluation))"
        con.execute(f"CREATE VIEW rows AS SELECT * FROM {source}")

    @staticmethod
    def _connect() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        con.execute("SET enable_progress_bar = false")
        return con

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Rows":
        table = pa.Table.from_pandas(frame.reindex(columns=COLUMNS), schema=ROW_SCHEMA, preserve_index=False)
        table = table.append_column("src", pa.array([""] * len(frame), pa.string()))
        table = table.append_column("pos", pa.array(range(len(frame)), pa.int64()))
        con = cls._connect()
        con.register("frame_rows", table)
        return cls(con, "frame_rows")

    @classmethod
    def from_files(cls, files: list[Path]) -> "Rows":
        con = cls._connect()
        source = (f"read_parquet([{', '.join(_sql(f) for f in files)}], union_by_name=true, filename=true, "
                  f"file_row_number=true)")
        have = set(con.execute(f"DESCRIBE SELECT * FROM {source}").df()["column_name"])
        cols = ", ".join(c if c in have else f"NULL::{_duck(ROW_SCHEMA.field(c).type)} AS {c}" for c in COLUMNS)
        return cls(con, f"(SELECT {cols}, filename AS src, file_row_number AS pos FROM {source})")

    def __len__(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM rows").fetchone()[0])

    def query(self, sql: str, **frames) -> pd.DataFrame:
        for name, frame in frames.items():
            self.con.register(name, frame)
        try:
            return self.con.execute(sql).df()
        finally:
            for name in frames:
                self.con.unregister(name)

    @staticmethod
    def _metrics() -> list[tuple[str, str, str]]:
        """(metric, per-sample SQL, the condition on ``kind`` of the rows it applies to) for every declared
        metric, one entry per distinct (metric, SQL); kinds without declarations have accuracy."""
        kinds: dict[tuple[str, str], list[str]] = {(declared.ACCURACY.name, declared.ACCURACY.per_sample): []}
        for kind in declared.METRICS:
            for m in declared.of(kind):
                kinds.setdefault((m.name, m.per_sample), []).append(kind)
        out = []
        for (name, sql), ks in kinds.items():
            cond = f"kind IN ({', '.join(_sql(k) for k in ks)})" if ks else "FALSE"
            if (name, sql) == (declared.ACCURACY.name, declared.ACCURACY.per_sample):
                cond += f" OR kind NOT IN ({', '.join(_sql(k) for k in declared.METRICS)})" if len(declared.METRICS) \
                    else " OR TRUE"
            out.append((name, sql, f"({cond})"))
        return out

    @cached_property
    def _per_seed(self) -> tuple[pd.DataFrame, list]:
        """One GROUP BY over every row: per (dataset, recipe, evaluation, seed) the name parts, parameters,
        cells, sample count, and sum / count / sum of squares of every declared metric's per-sample values."""
        metrics = self._metrics()
        aggs = []
        for i, (name, sql, kinds) in enumerate(metrics):
            v = f"CASE WHEN {kinds} THEN CAST(({sql}) AS DOUBLE) END"
            aggs.append(f"sum({v}) AS s{i}, count({v}) AS n{i}, sum(({v}) * ({v})) AS q{i}")
        firsts = ", ".join(f"any_value({c}) AS {c}" for c in PARTS + PARAMS + ["cell", "train_cell"])
        df = self.query(f"SELECT dataset, recipe, evaluation, seed, {firsts}, count(*) AS samples, min(index) AS lo, "
                        f"max(index) AS hi, {', '.join(aggs)} "
                        f"FROM rows GROUP BY dataset, recipe, evaluation, seed ORDER BY min(src), min(pos)")
        return df, metrics

    @property
    def blocks(self) -> pd.DataFrame:
        """One line per (dataset, recipe, evaluation, seed) in the rows' order: name parts, parameters, the
        cell and train cell, and the number of samples."""
        return self._per_seed[0]

    @cached_property
    def indices(self) -> dict[str, int]:
        """The number of distinct test inputs per dataset."""
        return dict(self.con.execute("SELECT dataset, count(DISTINCT index) FROM rows GROUP BY dataset").fetchall())

    @cached_property
    def values(self) -> pd.DataFrame:
        """Every declared metric of every (dataset, recipe, evaluation), in the rows' order then the kind's
        declaration order: value = mean over seeds of the per-seed mean; sd over seeds; k = sum and n = count
        of the per-sample values, ss = their sum of squares."""
        df, metrics = self._per_seed
        index = {(name, sql): i for i, (name, sql, _) in enumerate(metrics)}
        out = []
        for key, g in df.groupby(KEY, sort=False):
            for m in declared.of(g["kind"].iloc[0]):
                i = index[(m.name, m.per_sample)]
                n = g[f"n{i}"].to_numpy(dtype=float)
                s = g[f"s{i}"].to_numpy(dtype=float)
                mean = np.divide(s, n, out=np.full(len(n), np.nan), where=n > 0)
                seeds = mean[~np.isnan(mean)]
                out.append((*key, m.name, float(seeds.mean()) if len(seeds) else np.nan,
                            float(seeds.std(ddof=1)) if len(seeds) > 1 else np.nan, len(seeds),
                            float(np.nansum(s)), int(n.sum()), float(np.nansum(g[f"q{i}"].to_numpy(dtype=float)))))
        return pd.DataFrame(out, columns=[*KEY, "metric", "value", "sd", "seeds", "k", "n", "ss"])

    def _samples(self, metric: str) -> str:
        """SELECT dataset, recipe, evaluation, seed, index, v: one declared metric's per-sample values."""
        parts = [f"SELECT dataset, recipe, evaluation, seed, index, CAST(({sql}) AS DOUBLE) AS v FROM rows "
                 f"WHERE {kinds}" for name, sql, kinds in self._metrics() if name == metric]
        return " UNION ALL ".join(parts)

    def _bits(self, samples: str, by: str) -> str:
        """Per group ``by`` of ``samples`` (with index and v), two bitstrings over the test indices: ``p``
        (present) and ``o`` (v true); pairs of methods then compare in a join of one line per block."""
        lo, hi = int(self.blocks["lo"].min()), int(self.blocks["hi"].max())
        agg = f"bitstring_agg(index, {lo}, {hi})"
        return (f"SELECT {by}, {agg} AS p, coalesce({agg} FILTER (WHERE v <> 0), bitstring('0', {hi - lo + 1})) AS o "
                f"FROM ({samples}) GROUP BY {by}")

    def discordant(self, metric: str, best: pd.DataFrame) -> pd.DataFrame:
        """McNemar's counts of each recipe against its column's best for one metric: ``best`` has dataset,
        evaluation, best (a recipe); returns dataset, evaluation, recipe, b (right for the best only), c
        (right for the recipe only), on the samples both have. One GROUP BY over the rows."""
        bits = self._bits(self._samples(metric), "dataset, recipe, evaluation, seed")
        return self.query(f"""
            WITH s AS ({bits}),
                 ref AS (SELECT s.dataset, s.evaluation, s.seed, s.p AS rp, s.o AS ro FROM s JOIN best
                         ON s.dataset = best.dataset AND s.evaluation = best.evaluation AND s.recipe = best.best)
            SELECT dataset, evaluation, recipe, sum(bit_count(ro & ~o & p & rp)) AS b,
                   sum(bit_count(~ro & o & p & rp)) AS c
            FROM s JOIN ref USING (dataset, evaluation, seed) GROUP BY dataset, evaluation, recipe""", best=best)

    def per_sample(self, dataset: str, recipe: str, evaluation: str, metric: str = "accuracy") -> pd.Series | None:
        """One block's per-sample values of a declared metric, indexed by (seed, index); None when absent."""
        b = self.blocks
        kinds = b.loc[(b["dataset"] == dataset) & (b["recipe"] == recipe) & (b["evaluation"] == evaluation), "kind"]
        if kinds.empty:
            return None
        m = declared.find(kinds.iloc[0], metric)
        df = self.query(f"SELECT seed, index, CAST(({m.per_sample}) AS DOUBLE) AS v FROM rows WHERE dataset = "
                        f"{_sql(dataset)} AND recipe = {_sql(recipe)} AND evaluation = {_sql(evaluation)} "
                        f"ORDER BY src, pos")
        return pd.Series(df["v"].to_numpy(), index=pd.MultiIndex.from_frame(df[["seed", "index"]]))

    def any_attack(self, dataset: str, evaluations: list[str]) -> dict[str, pd.Series]:
        """Per recipe, the per-sample AND of ``correct`` over those of ``evaluations`` it has, on the samples
        present in each of them (bitstrings per block, ANDed per recipe and seed)."""
        evs = ", ".join(_sql(e) for e in dict.fromkeys(evaluations))
        samples = (f"SELECT recipe, seed, evaluation, index, correct AS v FROM rows "
                   f"WHERE dataset = {_sql(dataset)} AND evaluation IN ({evs})")
        df = self.query(f"SELECT recipe, seed, bit_and(p)::VARCHAR AS p, bit_and(o)::VARCHAR AS o "
                        f"FROM ({self._bits(samples, 'recipe, seed, evaluation')}) GROUP BY recipe, seed")
        lo = int(self.blocks["lo"].min())
        out: dict[str, list] = {}
        for r in df.itertuples(index=False):
            present = np.flatnonzero(np.frombuffer(r.p.encode(), np.uint8) == ord("1"))
            hit = np.frombuffer(r.o.encode(), np.uint8)[present] == ord("1")
            out.setdefault(r.recipe, []).append(pd.Series(hit, index=pd.MultiIndex.from_arrays(
                [np.full(len(present), r.seed), present + lo], names=["seed", "index"])))
        return {r: pd.concat(parts).sort_index() for r, parts in out.items()}

    def column(self, name: str, where: str = "TRUE") -> pd.DataFrame:
        """Some columns of the rows matching a SQL condition, in the rows' order (plots)."""
        return self.query(f"SELECT {name} FROM rows WHERE {where} ORDER BY src, pos")


def _duck(t: pa.DataType) -> str:
    return {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}[t]


def load(results: str | Path) -> Rows:
    """The rows of a results folder (its done cells)."""
    files = cell_files(results)
    if not files:
        raise UserError(f"no results in {results}: run `bench run SUITE --out {results}` first")
    return Rows.from_files(files)


_FRAMES: dict[int, tuple[pd.DataFrame, Rows]] = {}


def as_rows(rows) -> Rows:
    """A Rows for a DataFrame of rows (the same Rows for the same frame), or ``rows`` itself."""
    if isinstance(rows, Rows):
        return rows
    hit = _FRAMES.get(id(rows))
    if hit is None or hit[0] is not rows:
        if len(_FRAMES) >= 8:
            _FRAMES.pop(next(iter(_FRAMES)))
        hit = _FRAMES[id(rows)] = (rows, Rows.from_frame(rows))
    return hit[1]

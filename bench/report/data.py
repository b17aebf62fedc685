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

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con  # holds the table ``rows`` (COLUMNS and rid, the row's position)
        self._fill_parts()

    @staticmethod
    def _connect() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        return con

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Rows":
        table = pa.Table.from_pandas(frame.reindex(columns=COLUMNS), schema=ROW_SCHEMA, preserve_index=False)
        con = cls._connect()
        con.register("arrow_rows", table)
        con.execute("CREATE TABLE rows AS SELECT *, row_number() OVER () - 1 AS rid FROM arrow_rows")
        con.unregister("arrow_rows")
        return cls(con)

    @classmethod
    def from_files(cls, files: list[Path]) -> "Rows":
        con = cls._connect()
        source = f"read_parquet([{', '.join(_sql(f) for f in files)}], union_by_name=true)"
        have = set(con.execute(f"DESCRIBE SELECT * FROM {source}").df()["column_name"])
        cols = ", ".join(c if c in have else f"NULL::{_duck(ROW_SCHEMA.field(c).type)} AS {c}" for c in COLUMNS)
        con.execute(f"CREATE TABLE rows AS SELECT {cols}, row_number() OVER () - 1 AS rid FROM {source}")
        return cls(con)

    def __len__(self) -> int:
        return int(self.con.execute("SELECT count(*) FROM rows").fetchone()[0])

    def _fill_parts(self) -> None:
        """Rows written before the name columns existed: their parts from their names (bench.names.parse)."""
        missing = [r[0] for r in self.con.execute("SELECT DISTINCT evaluation FROM rows WHERE kind IS NULL").fetchall()]
        if not missing:
            return
        parts = pd.DataFrame([{"evaluation": ev, **parse(ev)} for ev in missing])
        self.con.register("parts", parts)
        sets = ", ".join(f"{c} = coalesce(rows.{c}, parts.{c})" for c in PARTS)
        self.con.execute(f"UPDATE rows SET {sets} FROM parts WHERE rows.evaluation = parts.evaluation AND rows.kind IS NULL")
        self.con.unregister("parts")

    def query(self, sql: str, **frames) -> pd.DataFrame:
        for name, frame in frames.items():
            self.con.register(name, frame)
        try:
            return self.con.execute(sql).df()
        finally:
            for name in frames:
                self.con.unregister(name)

    @cached_property
    def blocks(self) -> pd.DataFrame:
        """One line per (dataset, recipe, evaluation, seed) in the rows' order: name parts, parameters, the
        cell and train cell, and the number of samples."""
        firsts = ", ".join(f"any_value({c}) AS {c}" for c in PARTS + PARAMS + ["cell", "train_cell"])
        return self.query(f"SELECT dataset, recipe, evaluation, seed, {firsts}, count(*) AS samples, "
                          f"count(DISTINCT index) AS indices, min(rid) AS first FROM rows "
                          f"GROUP BY dataset, recipe, evaluation, seed ORDER BY first")

    @cached_property
    def indices(self) -> dict[str, int]:
        """The number of distinct test inputs per dataset."""
        return dict(self.con.execute("SELECT dataset, count(DISTINCT index) FROM rows GROUP BY dataset").fetchall())

    def _metric_union(self, cols: str) -> str:
        """SELECT ``cols``, metric, v over every row, one branch per (kind, declared metric)."""
        kinds = [k for k in dict.fromkeys(self.blocks["kind"]) if k is not None]
        parts = []
        for kind in kinds:
            for i, m in enumerate(declared.of(kind)):
                parts.append(f"SELECT {cols}, {_sql(m.name)} AS metric, {i} AS mi, "
                             f"CAST(({m.per_sample}) AS DOUBLE) AS v FROM rows WHERE kind = {_sql(kind)}")
        return " UNION ALL ".join(parts) or f"SELECT {cols}, NULL AS metric, 0 AS mi, NULL::DOUBLE AS v FROM rows"

    @cached_property
    def values(self) -> pd.DataFrame:
        """Every declared metric of every (dataset, recipe, evaluation): value = mean over seeds of the
        per-seed mean; sd over seeds; k = sum and n = count of the per-sample values, ss = sum of squares."""
        union = self._metric_union("dataset, recipe, evaluation, seed, rid")
        return self.query(f"""
            WITH per_seed AS (
                SELECT dataset, recipe, evaluation, metric, any_value(mi) AS mi, seed, min(rid) AS first,
                       sum(v) AS k, count(v) AS n, sum(v * v) AS ss, sum(v) / count(v) AS mean
                FROM ({union}) GROUP BY dataset, recipe, evaluation, metric, seed)
            SELECT dataset, recipe, evaluation, metric, avg(mean) AS value, stddev_samp(mean) AS sd,
                   count(mean) AS seeds, sum(k) AS k, sum(n) AS n, sum(ss) AS ss, min(first) AS first, min(mi) AS mi
            FROM per_seed GROUP BY dataset, recipe, evaluation, metric ORDER BY first, mi""")

    def discordant(self, best: pd.DataFrame) -> pd.DataFrame:
        """McNemar's counts of each recipe against its column's best: ``best`` has dataset, evaluation,
        metric, best (a recipe); returns those with recipe, b (right for the best only), c (right for recipe only)."""
        union = self._metric_union("dataset, recipe, evaluation, seed, index")
        return self.query(f"""
            WITH s AS ({union}),
                 ref AS (SELECT s.* FROM s JOIN best USING (dataset, evaluation, metric) WHERE s.recipe = best.best)
            SELECT s.dataset, s.evaluation, s.metric, s.recipe,
                   count(*) FILTER (WHERE ref.v <> 0 AND s.v = 0) AS b,
                   count(*) FILTER (WHERE ref.v = 0 AND s.v <> 0) AS c
            FROM s JOIN ref USING (dataset, evaluation, metric, seed, index)
            GROUP BY s.dataset, s.evaluation, s.metric, s.recipe""", best=best)

    def per_sample(self, dataset: str, recipe: str, evaluation: str, metric: str = "accuracy") -> pd.Series | None:
        """One block's per-sample values of a declared metric, indexed by (seed, index); None when absent."""
        b = self.blocks
        kinds = b.loc[(b["dataset"] == dataset) & (b["recipe"] == recipe) & (b["evaluation"] == evaluation), "kind"]
        if kinds.empty:
            return None
        m = declared.find(kinds.iloc[0], metric)
        df = self.query(f"SELECT seed, index, CAST(({m.per_sample}) AS DOUBLE) AS v FROM rows WHERE dataset = "
                        f"{_sql(dataset)} AND recipe = {_sql(recipe)} AND evaluation = {_sql(evaluation)} ORDER BY rid")
        return pd.Series(df["v"].to_numpy(), index=pd.MultiIndex.from_frame(df[["seed", "index"]]))

    def any_attack(self, dataset: str, evaluations: list[str]) -> dict[str, pd.Series]:
        """Per recipe, the per-sample AND of ``correct`` over those of ``evaluations`` it has, on the samples
        present in each of them."""
        evs = ", ".join(_sql(e) for e in dict.fromkeys(evaluations))
        df = self.query(f"""
            WITH sub AS (SELECT * FROM rows WHERE dataset = {_sql(dataset)} AND evaluation IN ({evs})),
                 present AS (SELECT recipe, count(DISTINCT evaluation) AS blocks FROM sub GROUP BY recipe)
            SELECT recipe, seed, index, bool_and(correct) AS v, min(rid) AS first
            FROM sub JOIN present USING (recipe)
            GROUP BY recipe, seed, index, present.blocks HAVING count(DISTINCT evaluation) = present.blocks
            ORDER BY first""")
        return {r: pd.Series(g["v"].to_numpy(dtype=bool), index=pd.MultiIndex.from_frame(g[["seed", "index"]]))
                for r, g in df.groupby("recipe", sort=False)}

    def column(self, name: str, where: str = "TRUE") -> pd.DataFrame:
        """Some columns of the rows matching a SQL condition, in the rows' order (plots)."""
        return self.query(f"SELECT {name} FROM rows WHERE {where} ORDER BY rid")


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

"""Per-sample rows held in DuckDB, and every aggregate the report needs from one columnar pass.

``Rows`` is a DuckDB view over the parquet files of a results folder (``bench.results.folder.cell_files``, nothing copied) or
over a DataFrame (tests). Layouts never iterate over samples: one GROUP BY (dataset, recipe, evaluation,
seed) per kind of rows (``_pass``) gives

- ``blocks``: one line per block and seed with the name parts of bench.results.names and the parameters;
- ``values``: every declared metric (bench.results.metrics) of every block: mean over seeds of the per-seed mean,
  the pooled sum, count and sum of squares for the intervals;
- per block, bitstrings over the test indices: which samples it has, and for each rate metric which ones
  are true. McNemar's discordant counts (with several seeds: a sign test's, on per-input means) against a column's best (``discordant``) and the any-attack AND
  (``any_attack``) are bit operations on these, with no second pass and no per-sample join;
- with several seeds, ``inputs``: per-input means over seeds (a second pass), the units of the intervals.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from bench.results.metrics import Metric, metrics_of
from bench.errors import UserError
from bench.results import folder
from bench.results.names import parse
from bench.results.schema import COLUMNS, ROW_SCHEMA

KEY = ["dataset", "recipe", "evaluation"]
PARTS = ["kind", "base", "predictor", "adaptive", "sweep", "component"]
PARAMS = ["eps", "norm", "kappa", "alpha", "sigma"]
ONE = ord("1")


def _sql(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _duck(t: pa.DataType) -> str:
    return {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}[t]


def _read(files: list[str]) -> str:
    """A relation over parquet files of bench's row schema (bench.results.folder.cell_files(check=True) checked it, so
    no union_by_name, which reads every file's schema first): every row column, src and pos."""
    return (f"(SELECT {', '.join(COLUMNS)}, filename AS src, file_row_number AS pos FROM read_parquet("
            f"[{', '.join(map(_sql, files))}], filename=true, file_row_number=true))")


def _empty() -> str:
    cols = ", ".join(f"NULL::{_duck(f.type)} AS {f.name}" for f in ROW_SCHEMA)
    return f"SELECT {cols}, NULL::VARCHAR AS src, NULL::BIGINT AS pos WHERE FALSE"


def _bits(text: str) -> np.ndarray:
    """A DuckDB bitstring ('0110...') as booleans, one per test index from the lowest."""
    return np.frombuffer(text.encode(), np.uint8) == ONE


def _pairs(parts: list[tuple[int, np.ndarray]]) -> pd.MultiIndex:
    """The (seed, index) MultiIndex of per-seed sorted test indices, seeds ascending: what
    pd.MultiIndex.from_arrays gives, without factorising levels that are sorted already."""
    seeds, at = [seed for seed, _ in parts], [a for _, a in parts]
    index = at[0] if len(at) == 1 else np.concatenate(at)
    level = at[0] if len(at) == 1 else np.unique(index)
    codes = [np.repeat(np.arange(len(seeds)), [len(a) for a in at]),
             np.arange(len(level)) if len(at) == 1 else np.searchsorted(level, index)]
    return pd.MultiIndex(levels=[np.array(seeds, np.int64), level], codes=codes, names=["seed", "index"],
                         verify_integrity=False)


class Rows:
    """The rows of one report (see the module docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, parts: list[tuple[str | None, str]], lo: int, hi: int):
        """``parts``: (kind, relation) pairs, the relation holding COLUMNS, ``src`` and ``pos`` (the file and
        the row's position in it, which order blocks as the files list them) for rows of that kind only, or
        for any rows (kind None: a DataFrame, or files whose footers do not show one kind, such as results
        written before the name columns); lo..hi: the range of test indices."""
        self.con, self.lo, self.hi = con, lo, hi
        self.by_kind: dict[str | None, list[str]] = {}
        for i, (kind, rel) in enumerate(parts):
            if kind is not None:
                self.by_kind.setdefault(kind, []).append(rel)
                continue
            missing = [r[0] for r in con.execute(f"SELECT DISTINCT evaluation FROM {rel} WHERE kind IS NULL").fetchall()]
            if missing:  # their parts from their names (bench.results.names.parse)
                con.register(f"legacy_{i}", pd.DataFrame([{"evaluation": ev, **parse(ev)} for ev in missing]))
                fill = ", ".join(f"coalesce(r.{c}, p.{c}) AS {c}" for c in PARTS)
                rel = f"(SELECT r.* REPLACE ({fill}) FROM {rel} r LEFT JOIN legacy_{i} p USING (evaluation))"
            con.execute(f"CREATE VIEW mixed_{i} AS SELECT * FROM {rel}")
            for (k,) in con.execute(f"SELECT DISTINCT kind FROM mixed_{i}").fetchall():
                self.by_kind.setdefault(k, []).append(f"(SELECT * FROM mixed_{i} WHERE kind = {_sql(k)})")
        rels = [r for rs in self.by_kind.values() for r in rs]
        con.execute("CREATE VIEW rows AS " + (" UNION ALL ".join(f"SELECT * FROM {r}" for r in rels)
                                              or f"SELECT * FROM ({_empty()})"))

    @staticmethod
    def _connect() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        con.execute("SET enable_progress_bar = false")
        con.execute("SET parquet_metadata_cache = true")  # every query reads the same footers
        return con

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Rows":
        table = pa.Table.from_pandas(frame.reindex(columns=COLUMNS), schema=ROW_SCHEMA, preserve_index=False)
        table = table.append_column("src", pa.array([""] * len(frame), pa.string()))
        table = table.append_column("pos", pa.array(range(len(frame)), pa.int64()))
        con = cls._connect()
        con.register("frame_rows", table)
        index = frame["index"].astype("int64") if len(frame) else pd.Series([0])
        return cls(con, [(None, "frame_rows")], int(index.min()), int(index.max()))

    @classmethod
    def from_files(cls, files: list[Path]) -> "Rows":
        """Files of bench's row schema (bench.results.folder.cell_files(check=True)) grouped by the one kind their
        footers' statistics show (each query then reads only its kind's files), the others in one group; the
        index range from the same statistics. Each footer was read once, by the check (bench.results.folder.footer)."""
        con = cls._connect()
        stats = [f.stats if f is not None else {} for f in map(folder.footer, files)]
        groups: dict[str | None, list[str]] = {}
        for f, st in zip(map(str, files), stats):
            kind = st.get("kind")
            one = kind is not None and kind[0] == kind[1] and kind[2] == 0 and isinstance(kind[0], str)
            groups.setdefault(kind[0] if one else None, []).append(f)
        index = [st.get("index") for st in stats]
        if not files or None in index:  # files without statistics
            lo, hi = con.execute(f"SELECT coalesce(min(index), 0), coalesce(max(index), 0) FROM "
                                 f"{_read(list(map(str, files))) if files else f'({_empty()})'}").fetchone()
        else:
            lo, hi = min(i[0] for i in index), max(i[1] for i in index)
        return cls(con, [(kind, _read(fs)) for kind, fs in groups.items()], int(lo), int(hi))

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

    def _sources(self):
        """(kind, its declared metrics, the SQL of its rows with each metric's per-sample value v{i})."""
        for kind, rels in self.by_kind.items():
            metrics = metrics_of(kind)
            values = ", ".join(f"CAST(({m.per_sample}) AS DOUBLE) AS v{i}" for i, m in enumerate(metrics))
            yield kind, metrics, " UNION ALL ".join(f"SELECT *, {values} FROM {r}" for r in rels)

    @cached_property
    def inputs(self) -> dict[tuple, tuple[int, float, float]]:
        """{(dataset, evaluation, metric, recipe): (inputs, sum, sum of squares)} of the per-input means over
        seeds of every declared metric: the units of the intervals when there are several seeds (the seeds
        of one input are not independent samples). A second columnar pass, read only with several seeds."""
        out = {}
        for _, metrics, source in self._sources():
            means = ", ".join(f"avg(v{i}) AS m{i}" for i in range(len(metrics)))
            sums = ", ".join(f"count(m{i}) AS c{i}, sum(m{i}) AS s{i}, sum(m{i} * m{i}) AS q{i}" for i in range(len(metrics)))
            df = self.query(f"SELECT dataset, recipe, evaluation, {sums} FROM (SELECT dataset, recipe, evaluation, "
                            f"{means} FROM ({source}) GROUP BY dataset, recipe, evaluation, index) "
                            f"GROUP BY dataset, recipe, evaluation")
            for i, m in enumerate(metrics):
                for r in zip(df["dataset"], df["evaluation"], df["recipe"], df[f"c{i}"], df[f"s{i}"], df[f"q{i}"]):
                    out[(r[0], r[1], m.name, r[2])] = (int(r[3]), float(r[4] or 0.0), float(r[5] or 0.0))
        return out

    @cached_property
    def _pass(self) -> list[tuple[tuple[Metric, ...], pd.DataFrame]]:
        """One GROUP BY (dataset, recipe, evaluation, seed) per kind of rows (only the kind's metrics are
        computed on its rows): name parts, parameters, cells, samples, the presence bitstring ``p``, and
        per declared metric i its sum ``s{i}``, count ``n{i}``, sum of squares ``q{i}`` (= the sum for a rate,
        whose values are 0 or 1) and, for rates, the bitstring ``o{i}`` of samples where it holds."""
        bits = f"bitstring_agg(index, {self.lo}, {self.hi})"
        firsts = ", ".join(f"any_value({c}) AS {c}" for c in PARTS + PARAMS + ["cell", "train_cell", "params"])
        out = []
        for kind, metrics, source in self._sources():
            aggs = []
            for i, m in enumerate(metrics):
                aggs.append(f"sum(v{i}) AS s{i}, count(v{i}) AS n{i}, "
                            + (f"sum(v{i} * v{i}) AS q{i}" if m.aggregate == "mean" else f"sum(v{i}) AS q{i}"))
                if m.aggregate == "rate":
                    aggs.append(f"coalesce({bits} FILTER (WHERE v{i} <> 0), bitstring('0', {self.hi - self.lo + 1}))"
                                f"::VARCHAR AS o{i}")
            out.append((metrics, self.query(
                f"SELECT dataset, recipe, evaluation, seed, {firsts}, count(*) AS samples, {bits}::VARCHAR AS p, "
                f"{', '.join(aggs)}, min(src) AS first_src, min(pos) AS first_pos FROM ({source}) "
                f"GROUP BY dataset, recipe, evaluation, seed")))
        return out

    @cached_property
    def blocks(self) -> pd.DataFrame:
        """One line per (dataset, recipe, evaluation, seed) in the rows' order: name parts, parameters, the
        cell and train cell, the evaluation's resolved parameters (JSON) and the number of samples."""
        cols = ["dataset", "recipe", "evaluation", "seed", *PARTS, *PARAMS, "cell", "train_cell", "params", "samples",
                "first_src", "first_pos"]
        frames = [df[cols] for _, df in self._pass]
        if not frames:
            return pd.DataFrame(columns=cols[:-2])
        both = pd.concat(frames, ignore_index=True).sort_values(["first_src", "first_pos"], kind="stable")
        return both.drop(columns=["first_src", "first_pos"]).reset_index(drop=True)

    @cached_property
    def indices(self) -> dict[str, int]:
        """The number of distinct test inputs per dataset (the union of its blocks' samples)."""
        seen: dict[str, np.ndarray] = {}
        for _, df in self._pass:
            for ds, p in zip(df["dataset"].tolist(), df["p"].tolist()):
                seen[ds] = seen[ds] | _bits(p) if ds in seen else _bits(p)
        return {ds: int(b.sum()) for ds, b in seen.items()}

    @cached_property
    def values(self) -> pd.DataFrame:
        """Every declared metric of every (dataset, recipe, evaluation), in the rows' order then the kind's
        declaration order: value = mean over seeds of the per-seed mean; sd over seeds; k = sum and n = count
        of the per-sample values, ss = their sum of squares."""
        cols = [*KEY, "metric", "value", "sd", "seeds", "k", "n", "ss"]
        out: dict[str, list] = {c: [] for c in [*cols, "mi"]}
        for metrics, df in self._pass:
            k = range(len(metrics))
            keys = list(zip(*(df[c].tolist() for c in KEY)))
            first = dict.fromkeys(keys)  # the groups in first-seen order (groupby(sort=False))
            s, q = (df[[f"{c}{i}" for i in k]].to_numpy(float) for c in "sq")
            n = df[[f"n{i}" for i in k]].to_numpy()
            m = s / np.where(n > 0, n, np.nan)
            if len(first) == len(keys):  # one seed per block: the sums are the block's own (NaN sums to 0)
                stats = (m, np.full(m.shape, np.nan), (~np.isnan(m)).astype(np.int64), np.nan_to_num(s, nan=0.0), n,
                         np.nan_to_num(q, nan=0.0))
            else:
                codes = np.fromiter(map({key: i for i, key in enumerate(first)}.get, keys), np.int64, len(keys))
                g = pd.DataFrame(np.hstack([m, s, q]), columns=range(3 * len(k))).groupby(codes, sort=False)
                ms, sums = list(k), list(range(len(k), 3 * len(k)))
                summed = g[sums].sum().to_numpy()
                stats = (g[ms].mean().to_numpy(), g[ms].std().to_numpy(), g[ms].count().to_numpy(),
                         summed[:, :len(k)], pd.DataFrame(n).groupby(codes, sort=False).sum().to_numpy(), summed[:, len(k):])
            for i, metric in enumerate(metrics):
                for c, key in enumerate(KEY):
                    out[key] += [f[c] for f in first]
                out["metric"] += [metric.name] * len(first)
                out["mi"] += [i] * len(first)
                for name, v in zip(("value", "sd", "seeds", "k", "n", "ss"), stats):
                    out[name].append(v[:, i])
        if not out["metric"]:
            return pd.DataFrame(columns=cols)
        frame = pd.DataFrame({c: (np.concatenate(v) if c in ("value", "sd", "seeds", "k", "n", "ss") else v)
                              for c, v in out.items()})
        rank = {key: i for i, key in enumerate(dict.fromkeys(zip(*(self.blocks[c].tolist() for c in KEY))))}
        order = [rank[key] for key in zip(*(out[c] for c in KEY))]  # the rows' order, then the declaration's
        return frame.iloc[np.lexsort((frame["mi"].to_numpy(), order))][cols].reset_index(drop=True)

    def _bitsets(self, metric: str | None) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
        """{(dataset, recipe, evaluation, seed): (present, true)} for a rate metric (None: ``correct``)."""
        out = {}
        for metrics, df in self._pass:
            names = [m.name for m in metrics]
            name = metric if metric is not None else "accuracy"
            if name not in names or metrics[names.index(name)].aggregate != "rate":
                continue
            col = f"o{names.index(name)}"
            for r in zip(*(df[c].tolist() for c in ("dataset", "recipe", "evaluation", "seed", "p", col))):
                out[r[:4]] = (_bits(r[4]), _bits(r[5]))
        return out

    def discordant(self, metric: str, best: pd.DataFrame) -> pd.DataFrame:
        """Paired counts of each recipe against its column's best for one rate metric, over inputs: ``best``
        has dataset, evaluation, best (a recipe); returns dataset, evaluation, recipe, b (inputs whose mean
        over seeds is higher for the best), c (higher for the recipe) and shared (inputs both have). With one
        seed, b and c are McNemar's discordant counts; with several, a sign test's (seeds are not pairs)."""
        seeds: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = {}
        for (ds, recipe, ev, _), (p, o) in self._bitsets(metric).items():
            seeds.setdefault((ds, recipe, ev), []).append((p, o & p))
        # per input: seeds present n and true k (one seed: the bitsets themselves, 0/1 as booleans)
        per = {key: both[0] if len(both) == 1 else tuple(np.sum(part, axis=0, dtype=np.int64) for part in zip(*both))
               for key, both in seeds.items()}
        ref = dict(zip(zip(best["dataset"], best["evaluation"]), best["best"]))
        out = []
        for (ds, recipe, ev), (n, k) in per.items():
            if (ds, ref.get((ds, ev)), ev) not in per:
                continue
            rn, rk = per[(ds, ref[(ds, ev)], ev)]
            both = (n > 0) & (rn > 0)
            top, mine = rk * n, k * rn  # the per-input means rk/rn and k/n, compared without dividing
            out.append((ds, ev, recipe, int((both & (top > mine)).sum()), int((both & (top < mine)).sum()),
                        int(both.sum())))
        return pd.DataFrame(out, columns=["dataset", "evaluation", "recipe", "b", "c", "shared"])

    def any_attack(self, dataset: str, evaluations: list[str]) -> dict[str, pd.Series]:
        """Per recipe, the per-sample AND of ``correct`` over those of ``evaluations`` it has, on the samples
        present in each of them, indexed by (seed, index)."""
        wanted = set(evaluations)
        per: dict[tuple, list] = {}
        for (ds, recipe, ev, seed), (p, o) in self._bitsets(None).items():
            if ds == dataset and ev in wanted:
                acc = per.setdefault((recipe, seed), [p.copy(), o.copy()])
                acc[0] &= p
                acc[1] &= o
        out: dict[str, list] = {}
        for (recipe, seed), (p, o) in per.items():
            out.setdefault(recipe, []).append((seed, np.flatnonzero(p), o))
        for parts in out.values():
            parts.sort(key=lambda part: part[0])  # by (seed, index)
        return {r: pd.Series(np.concatenate([o[at] for _, at, o in parts]),
                             index=_pairs([(seed, at + self.lo) for seed, at, _ in parts])) for r, parts in out.items()}

    def column(self, name: str, where: str = "TRUE") -> pd.DataFrame:
        """Some columns of the rows matching a SQL condition, in the rows' order (plots)."""
        return self.query(f"SELECT {name} FROM rows WHERE {where} ORDER BY src, pos")


def load(results: str | Path) -> Rows:
    """The rows of a results folder (its done cells)."""
    files = folder.cell_files(results, check=True)
    if not files:
        bad = folder.damaged(results)
        if bad:
            raise UserError(f"no results in {results} verify: {bad[0][0]}: {bad[0][1]} ({len(bad)} files like it); "
                            "re-run `bench run` to recompute them")
        raise UserError(f"no results in {results}: run `bench run SUITE --out {results}` first")
    return Rows.from_files(files)


def as_rows(rows) -> Rows:
    """A Rows for a DataFrame of rows (converted anew each call, so a frame changed in place is read as it
    is now), or ``rows`` itself."""
    return rows if isinstance(rows, Rows) else Rows.from_frame(rows)

"""RESULTS/samples is one parquet dataset that pandas, pyarrow.dataset and DuckDB read as it is, with the
documented schema (bench.results.store.ROW_SCHEMA), and the three agree on every query."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from bench.results import folder, store
from bench.suite.config import load_suite
from bench.execute.local import run_local
from bench.plan.grid import plan

DUCK_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}


@pytest.fixture
def results(tiny_suite, tmp_path):
    trains, evals = plan(load_suite(tiny_suite()))
    run_local(trains, evals, tmp_path / "out", "cpu", None, show_bars=False, log=lambda s: None)
    # a sweep-like cell of another kind: columns an attack never fills, all-null ones it does
    store.write_rows(tmp_path / "out", "pr0", {
        "dataset": np.full(3, "digits", dtype=object), "evaluation": np.full(3, "pr:linf@0.1", dtype=object),
        "index": np.arange(3), "label": np.arange(3), "pred": np.arange(3), "correct": np.array([True, False, True]),
        "n": np.full(3, 100), "agree": np.array([100, 3, 97]), "pr": np.array([1.0, 0.03, 0.97])}, {"cell": "pr0"})
    # a half-written file under its temporary name must not be read
    (tmp_path / "out" / "samples" / ".x.parquet.tmp").write_bytes(b"PAR1 partial")
    return tmp_path / "out" / "samples"


def _summary(df: pd.DataFrame) -> pd.DataFrame:
    return (df.groupby("evaluation").agg(rows=("index", "size"), acc=("correct", "mean"), pr=("pr", "mean"))
            .sort_index())


def test_pandas_pyarrow_duckdb_read_one_dataset(results):
    duckdb = pytest.importorskip("duckdb")
    files = sorted(results.glob("*.parquet"))
    assert len(files) == 5  # 2 recipes x (clean, PGD) + the pr cell

    by_pandas = pd.read_parquet(results)
    dataset = pads.dataset(results, format="parquet")
    assert dataset.schema.remove_metadata() == store.ROW_SCHEMA
    by_arrow = dataset.to_table().to_pandas()
    con = duckdb.connect()
    glob = str(results / "*.parquet")
    by_duck = con.execute(f"SELECT * FROM read_parquet('{glob}')").df()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()

    assert list(by_pandas.columns) == list(by_arrow.columns) == list(by_duck.columns) == store.COLUMNS
    assert [(name, typ) for name, typ, *_ in described] == [(f.name, DUCK_TYPES[f.type]) for f in store.ROW_SCHEMA]
    assert len(by_pandas) == len(by_arrow) == len(by_duck) == 2 * 2 * 40 + 3
    want = _summary(by_pandas)
    pd.testing.assert_frame_equal(_summary(by_arrow), want)
    pd.testing.assert_frame_equal(_summary(by_duck), want, check_dtype=False)
    # the same query in SQL
    sql = con.execute(f"""SELECT evaluation, count(*) AS rows, avg(correct::INT) AS acc, avg(pr) AS pr
                          FROM read_parquet('{glob}') GROUP BY evaluation ORDER BY evaluation""").df()
    pd.testing.assert_frame_equal(sql.set_index("evaluation"), want, check_dtype=False)
    assert set(want.index) == {"clean", "attack:PGD", "pr:linf@0.1"}
    assert by_pandas.loc[by_pandas.evaluation == "clean", "adv_pred"].isna().all()
    assert (by_pandas.loc[by_pandas.evaluation == "attack:PGD", "eps"] == 0.1).all()
    # each file carries its cell's metadata
    assert folder.cell_meta(results / "pr0.parquet") == {"cell": "pr0"}
    for path in files:
        if path.stem != "pr0":
            m = folder.cell_meta(path)
            assert m["cell"] == path.stem and m["seconds"] > 0

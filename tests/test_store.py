"""The parquet store: one schema for every file, atomic writes, metadata, content-addressed ids."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.ids import cell_id
from bench.results import atomic, folder, store


def test_cell_id_is_order_independent_and_content_sensitive():
    assert cell_id({"a": 1, "b": [1, 2]}) == cell_id({"b": [1, 2], "a": 1})
    assert cell_id({"a": 1}) != cell_id({"a": 2})
    assert len(cell_id({})) == 16


def test_rows_use_the_full_schema_with_nulls_and_metadata(tmp_path):
    cols = {"dataset": np.array(["digits"] * 3, dtype=object), "evaluation": np.array(["clean"] * 3, dtype=object),
            "index": np.arange(3), "label": np.array([1, 2, 3]), "pred": np.array([1, 0, 3]),
            "correct": np.array([True, False, True])}
    path = store.write_rows(tmp_path, "abc", cols, {"seconds": 1.5, "notes": {"x": 1}})
    table = pq.read_table(path)
    assert table.schema.remove_metadata() == store.ROW_SCHEMA
    df = table.to_pandas()
    assert df["correct"].tolist() == [True, False, True] and df["pr"].isna().all()
    assert folder.cell_meta(path) == {"seconds": 1.5, "notes": {"x": 1}}
    assert [p.name for p in tmp_path.joinpath("samples").iterdir()] == ["abc.parquet"]  # no temporary left


def test_unknown_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside the row schema"):
        store.write_rows(tmp_path, "x", {"index": np.arange(2), "bogus": np.arange(2)}, {})
    assert not list((tmp_path / "samples").glob("*"))


def test_failed_write_leaves_nothing(tmp_path):
    def boom(tmp):
        open(tmp, "w").write("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.write(tmp_path / "f.json", boom)
    assert list(tmp_path.iterdir()) == []


def test_samples_folder_reads_as_one_dataset(tmp_path):
    for i in range(2):
        store.write_rows(tmp_path, f"c{i}", {"index": np.arange(2), "pr": np.array([0.5, 1.0]) if i else np.array([np.nan, np.nan])}, {})
    df = pd.read_parquet(tmp_path / "samples")
    assert len(df) == 4 and list(df.columns) == store.COLUMNS

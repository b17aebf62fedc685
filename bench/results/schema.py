"""The per-sample row schema every parquet file of OUT/samples shares (bench.results.store writes it; the report
reads it without importing torch). Columns an evaluation does not fill are null; the name-part columns are
bench.results.names'."""
from __future__ import annotations

import pyarrow as pa

ROW_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("recipe", pa.string()), ("arch", pa.string()), ("seed", pa.int64()),
    ("evaluation", pa.string()),
    # the evaluation name's parts (bench.results.names)
    ("kind", pa.string()), ("base", pa.string()), ("predictor", pa.string()), ("adaptive", pa.bool_()),
    ("sweep", pa.bool_()),
    ("index", pa.int64()), ("label", pa.int64()), ("pred", pa.int64()),
    ("correct", pa.bool_()),
    # attacks
    ("adv_pred", pa.int64()), ("linf", pa.float64()), ("l2", pa.float64()), ("l0", pa.float64()),
    ("in_budget", pa.bool_()), ("eps", pa.float64()), ("component", pa.string()),
    ("norm", pa.string()),  # the norm eps bounds (linf, l2, l1); null for unbounded attacks
    # probabilistic robustness
    ("n", pa.int64()), ("agree", pa.int64()), ("pr", pa.float64()),
    # certification
    ("decision", pa.string()), ("samples", pa.int64()), ("kappa", pa.float64()), ("alpha", pa.float64()),
    # randomized smoothing
    ("radius", pa.float64()), ("sigma", pa.float64()),
    # traceability
    ("cell", pa.string()), ("train_cell", pa.string()), ("params", pa.string()),
])
COLUMNS = [f.name for f in ROW_SCHEMA]

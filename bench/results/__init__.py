"""A results folder: the rows' schema, names and metric declarations, run.json, writing cells (store,
under locks) and reading them back. Everything here but ``store`` is torch-free, so `bench report` and
`bench check` read results without torch.

The reading side is re-exported here: ``bench.results.read_rows(dir)``, ``cell_files``, ``pending_cells``,
``cell_meta`` (bench.results.folder); run.json is bench.results.runfile.
"""
from bench.results.folder import cell_files, cell_meta, pending_cells, read_rows  # noqa: F401

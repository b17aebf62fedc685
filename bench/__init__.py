"""bench: a robustness benchmarking harness for image classifiers.

The Python API, imported on first use (it needs torch; ``bench.summary`` does not): ``bench.evaluate``
(a model object under a suite's evaluations -> per-sample rows), ``bench.load_split`` (bench's train and
test splits of a dataset) and ``bench.summary`` (rows or a results folder -> the leaderboard).
"""

from bench.version import __version__  # noqa: F401


def __getattr__(name: str):
    if name == "evaluate":  # bench.api, imported on first use (it needs torch)
        from bench.api import evaluate

        return evaluate
    if name == "load_split":
        from bench.api import load_split

        return load_split
    if name == "summary":  # bench.report.summary: torch-free
        from bench.report.summary import summary

        return summary
    raise AttributeError(f"module 'bench' has no attribute {name!r}")

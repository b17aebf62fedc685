"""bench: a robustness benchmarking harness for image classifiers."""

from bench.version import __version__  # noqa: F401


def __getattr__(name: str):
    if name == "evaluate":  # bench.evaluate(model, ...): bench.api, imported on first use (it needs torch)
        from bench.api import evaluate

        return evaluate
    raise AttributeError(f"module 'bench' has no attribute {name!r}")

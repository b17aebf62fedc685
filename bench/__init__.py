"""bench: a robustness benchmarking harness for image classifiers."""

__version__ = "0.1.0"

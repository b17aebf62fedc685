"""bench's version (a leaf: setup.cfg, the package and results' provenance read it)."""

__version__ = "0.1.0"

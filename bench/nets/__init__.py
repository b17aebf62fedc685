"""Architecture registry. Every net takes [0,1] pixels: normalisation is its first layer.

``build(arch, info, **args)`` makes a net for a dataset (channels, size, classes, mean/std).
"""
from bench.nets._base import ARCHS, Normalize, arch_params, build  # noqa: F401 (public)
from bench.registry import import_all

import_all(__name__, __path__)  # every module registers itself

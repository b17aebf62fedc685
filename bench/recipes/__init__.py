"""Recipe registry: training methods. One file per method, each a Recipe subclass whose docstring names
the paper, the loss and the defaults.

The engine (bench.execute.train) owns the loop, the optimizer and the schedule; a recipe owns one update:
``loss(model, x, y, state)`` returns (scalar loss, logits for the running train accuracy), and ``step``
(backward + optimizer step) can be overridden by methods that change the update itself (AWP, ADT-AM).

Mixed precision: on CUDA the engine turns on float16 autocast with a GradScaler for recipes whose
``amp`` is True (the default). The base ``step`` computes the loss under ``self.autocast()`` and updates
with ``self.backward(loss, optimizer)``. A recipe that overrides ``step`` trains in float32 unless its
class declares ``amp = True`` and its step uses the same two helpers; one whose loss needs float32
precision sets ``amp = False``. On CPU both helpers are plain
float32. The inner searches of the recipes (PGD, TRADES' KL search, AT-PR, FAT, GAIRAT, ADT-EXP, PRL's
thresholds) turn autocast off (bench.recipes._modes.inner_search): adversarial examples come from float32 input
gradients and only the outer update is autocast. Attack evaluation never runs under autocast.
"""
from bench.recipes._base import RECIPES, TrainContext, StepState, Recipe, eps_field  # noqa: F401 (public)
from bench.registry import import_all

import_all(__name__, __path__)  # every module registers itself

"""Plugins: modules outside bench whose registrations go into bench's own registries.

A suite's ``plugins: [mypkg.bench_plugins]`` and every entry point of the ``bench.suite.plugins`` group (for
installed packages) name modules; importing one runs its ``@RECIPES.register(...)``,
``@EVALS.register(...)``, ``ATTACKS.add(...)`` ... exactly as bench's own modules do. bench's registries
are filled first, so a plugin name that clashes with a built-in one (or another plugin's) is one line
naming both modules. ``bench list`` shows the module each entry comes from.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import sys

from bench.errors import UserError
from bench.registry import RegistryClash

GROUP = "bench.suite.plugins"
# bench's registries, imported before any plugin so clashes are reported against bench's own modules
BUILTIN = ("bench.nets", "bench.recipes", "bench.attacks", "bench.evals", "bench.pr.vicinity", "bench.certify.rules",
           "bench.report.layouts")
_entry_points_loaded = False


def _import(module: str, where: str | None, field: str) -> None:
    if module in sys.modules:
        return
    try:
        importlib.import_module(module)
    except RegistryClash as e:
        sys.modules.pop(module, None)
        raise UserError(str(e), where, field) from None
    except ImportError as e:
        raise UserError(f"cannot import plugin module {module!r}: {e}", where, field) from None
    except Exception as e:  # a plugin's own bug: one line, not a traceback
        raise UserError(f"plugin module {module!r} raised {type(e).__name__}: {e}", where, field) from None


def load(modules, where: str | None = None, field: str = "plugins") -> None:
    """Import bench's registries, the installed entry-point plugins, then ``modules`` (a suite's list)."""
    for name in BUILTIN:
        importlib.import_module(name)
    load_entry_points()
    for module in modules:
        _import(module, where, field)


def load_entry_points() -> None:
    """Import every module of the ``bench.suite.plugins`` entry-point group, once per process."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=GROUP):
        _import(ep.value.split(":")[0], None, f"entry point {ep.name} ({ep.value})")

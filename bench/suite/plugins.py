"""Plugins: modules outside bench whose registrations go into bench's own registries.

A suite's ``plugins: [mypkg.bench_plugins]`` and every entry point of the ``bench.plugins`` group (for
installed packages) name modules; importing one runs its ``@RECIPES.register(...)``,
``@EVALS.register(...)``, ``ATTACKS.add(...)`` ... exactly as bench's own modules do. bench's registries
are filled first, so a plugin name that clashes with a built-in one (or another plugin's) is one line
naming both modules. ``bench list`` shows the module each entry comes from.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

from bench.errors import UserError
from bench.registry import RegistryClash

GROUP = "bench.plugins"
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")  # a module's dotted name
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


@contextlib.contextmanager
def importable(folder):
    """``folder`` first on the import path for the length of the block (None: nothing changes). A suite's
    folder while the suite is read and its `module:` models are built, so a builder or plugin module
    beside the suite imports without PYTHONPATH, as a script's folder does for ``python script.py``."""
    path = str(Path(folder).resolve()) if folder is not None else None
    added = path is not None and path not in sys.path
    if added:
        sys.path.insert(0, path)
        importlib.invalidate_caches()
    try:
        yield
    finally:
        if added and path in sys.path:
            sys.path.remove(path)


def load(modules, where: str | None = None, field: str = "plugins") -> None:
    """Import bench's registries, the installed entry-point plugins, then ``modules`` (a suite's list)."""
    for name in BUILTIN:
        importlib.import_module(name)
    load_entry_points()
    for module in modules:
        _import(module, where, field)


def load_entry_points() -> None:
    """Import every module of the ``bench.plugins`` entry-point group, once per process."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=GROUP):
        _import(ep.value.split(":")[0], None, f"entry point {ep.name} ({ep.value})")


def load_recorded(folder, modules) -> None:
    """Import the plugin modules a results folder's run.json names (the suite's `plugins:`), so that `bench report`
    and `bench check` have their metric declarations. A results folder is data: it can only name a module that
    is already installed, never bring one (a module found inside the folder is refused), and the standard
    library is not a plugin. Errors are one line."""
    import importlib.util
    from pathlib import Path

    root = Path(folder).resolve()
    for module in modules:
        top = module.split(".")[0]
        if top in sys.stdlib_module_names:
            raise UserError(f"{root / 'run.json'}: plugins: {module!r} is part of Python, not a bench plugin")
        if module in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: found without running any of its code
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise UserError(f"{root / 'run.json'}: plugins: the suite's plugin module {module!r} is not installed; "
                            "install it to report its metrics")
        places = [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])
        if any(root == Path(p).resolve() or root in Path(p).resolve().parents for p in places):
            raise UserError(f"{root / 'run.json'}: plugins: {module!r} would be imported from inside the results "
                            "folder; a results folder never brings code")
        _import(module, str(root / "run.json"), "plugins")

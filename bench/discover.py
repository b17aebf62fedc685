"""Import every module of a package so that its registrations run (one file per entry, no import lists)."""
from __future__ import annotations

import importlib
import pkgutil


def import_all(package_name: str, package_path) -> None:
    for mod in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package_name}.{mod.name}")

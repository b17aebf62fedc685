"""One generic registry: a name -> object table with a register decorator and did-you-mean lookups; and
``import_all``, which imports every module of a plugin package so that its registrations run (one file per
entry, no import lists; modules whose name starts with ``_`` are the package's private helpers)."""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import pkgutil
import sys
from typing import Any, Callable, Generic, Iterator, TypeVar

from bench.errors import UserError, shown

T = TypeVar("T")


def did_you_mean(name: str, choices) -> str:
    """A ' (did you mean X?)' suffix for an unknown name, or '' when nothing is close."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


class RegistryClash(ValueError):
    """Two modules registered the same name in one registry (the message names both)."""


class Registry(Generic[T]):
    """Named entries of one kind (datasets, archs, recipes, attacks, vicinities, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}  # name -> the module that registered it (`bench list` shows it)

    def register(self, name: str | None = None, origin: str | None = None) -> Callable[[T], T]:
        origin = origin or sys._getframe(1).f_globals.get("__name__", "?")

        def deco(obj: T) -> T:
            key = name or getattr(obj, "name", None) or obj.__name__
            if key in self._items:
                raise RegistryClash(f"{self.kind} {key!r} is registered by both {self._origin[key]} and {origin}")
            self._items[key] = obj
            self._origin[key] = origin
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        return self.register(name, sys._getframe(1).f_globals.get("__name__", "?"))(obj)

    def origin(self, name: str) -> str:
        """The module that registered ``name``."""
        return self._origin[name]

    def get(self, name: str, where: str | None = None, field: str | None = None) -> T:
        if not isinstance(name, str):
            raise UserError(f"expected a {self.kind} name, got {shown(name)}", where, field)
        try:
            return self._items[name]
        except KeyError:
            raise UserError(
                f"unknown {self.kind} {shown(name)}{did_you_mean(name, self._items)}", where, field
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self):
        return self._items.items()

    def names(self, pattern: str = "*") -> list[str]:
        return [n for n in self._items if fnmatch.fnmatchcase(n.lower(), pattern.lower())]

    def list(self, pattern: str = "*") -> list[tuple[str, Any]]:
        return [(n, self._items[n]) for n in self.names(pattern)]


def first_doc_line(obj) -> str:
    """The first line of an object's docstring ('' without one): what `bench list` shows."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def import_all(package_name: str, package_path) -> None:
    """Import every module of a package whose name does not start with ``_``, in name order."""
    for mod in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package_name}.{mod.name}")

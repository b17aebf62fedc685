"""YAML with line numbers, and typed field parsing that names file:line and the field on every error.

A loaded mapping is a ``Node`` (a dict that remembers its file, its own line and each key's line); a
sequence is a ``Seq``. Fractions such as ``8/255`` are parsed as numbers by ``to_float``, never eval'd.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from bench.errors import UserError
from bench.registry import did_you_mean

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^\s*({_NUMBER})\s*/\s*({_NUMBER})\s*$")
_PLAIN = re.compile(rf"^\s*{_NUMBER}\s*$")
MAX_FLOAT = 1e12  # larger magnitudes are typos (1e308 overflows the first product it enters)
MAX_INT = 2**63 - 1  # the parquet rows' int64
MAX_DEPTH = 32  # nesting deeper than any suite or card needs
PLAIN_TYPES = (str, int, float, bool, type(None))
# MAX_DEPTH + 1 flow collections opened in a row: refused before parsing (PyYAML's scanner takes time
# quadratic in the nesting depth, and recurses once per level).
_DEEP = re.compile(r"[\[{](?:\s*[\[{]){%d}" % MAX_DEPTH)


class Node(dict):
    """A YAML mapping with its file, its line, and the line of each key (1-based)."""

    file: str = "<memory>"
    line: int = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def where(self, key: Any = None) -> str:
        return f"{self.file}:{self.key_lines.get(key, self.line)}"


class Seq(list):
    """A YAML sequence with its file, its line and each item's line."""

    file: str = "<memory>"
    line: int = 0

    def __init__(self, *args):
        super().__init__(*args)
        self.item_lines: list[int] = []

    def where(self, i: int | None = None) -> str:
        line = self.item_lines[i] if i is not None and i < len(self.item_lines) else self.line
        return f"{self.file}:{line}"


def _loader(file: str):
    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node):
        out = Node()
        out.file, out.line = file, node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise UserError(f"a key must be a plain name, got a {_kind(key)}",
                                f"{file}:{key_node.start_mark.line + 1}")
            if key in out:
                raise UserError(f"duplicate key {key!r}", f"{file}:{key_node.start_mark.line + 1}", str(key))
            out[key] = loader.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(loader, node):
        out = Seq(loader.construct_object(child, deep=True) for child in node.value)
        out.file, out.line = file, node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return Loader


def _kind(value: Any) -> str:
    return {Node: "mapping", Seq: "list"}.get(type(value), type(value).__name__)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's contents; a missing, unreadable or non-UTF-8 file is a one-line UserError."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", file) from None
    except IsADirectoryError:
        raise UserError("is a folder, not a file", file) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror}", file) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"not UTF-8 text (byte 0x{data[e.start]:02x})", f"{file}:{line}") from None


def _check_tree(data: Any, file: str) -> None:
    """Only plain values (strings, numbers, booleans, null, mappings, lists), nested at most MAX_DEPTH deep."""
    todo = [(data, 0, data.line if isinstance(data, (Node, Seq)) else 1)]
    while todo:
        value, depth, line = todo.pop()
        if isinstance(value, (Node, Seq)):
            if depth >= MAX_DEPTH:
                raise UserError(f"nested more than {MAX_DEPTH} levels deep", f"{file}:{value.line}")
            children = value.values() if isinstance(value, Node) else value
            todo.extend((child, depth + 1, value.line) for child in children)
        elif not isinstance(value, PLAIN_TYPES):
            raise UserError(f"unsupported value {value!r} (a {_kind(value)}); quote it to make it a string",
                            f"{file}:{line}")


def load_yaml(path: str | Path, text: str | None = None) -> Node:
    """Load a YAML file whose top level is a mapping; every error is a one-line UserError."""
    file = str(path)
    if text is None:
        text = read_text(path)
    if deep := _DEEP.search(text):
        line = text[: deep.start()].count("\n") + 1
        raise UserError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", f"{file}:{line}")
    try:
        data = yaml.load(text, Loader=_loader(file))  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"invalid YAML: {e.problem or e.context}", f"{file}{line}") from None
    except yaml.reader.ReaderError as e:  # a control character
        line = text[: e.position].count("\n") + 1
        code = e.character if isinstance(e.character, int) else ord(e.character)
        raise UserError(f"invalid YAML: control character 0x{code:02x} is not allowed", f"{file}:{line}") from None
    except yaml.YAMLError as e:
        raise UserError(f"invalid YAML: {str(e).splitlines()[0]}", f"{file}:1") from None
    except RecursionError:
        raise UserError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", f"{file}:1") from None
    if not isinstance(data, Node):
        raise UserError("expected a mapping at the top level", f"{file}:1")
    _check_tree(data, file)
    return data


def to_float(value: Any, where: str, field: str) -> float:
    """A number from YAML: int, float, '1e-3', or a fraction '8/255'. Booleans are rejected."""
    if isinstance(value, bool):
        raise UserError(f"expected a number, got {value!r}", where, field)
    if isinstance(value, int) and abs(value) > MAX_FLOAT:
        out = math.inf  # float() of a huge int overflows; refused below like 1e308
    elif isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str) and (m := _FRACTION.match(value)):
        num, den = float(m.group(1)), float(m.group(2))
        if den == 0:
            raise UserError(f"division by zero in {value!r}", where, field)
        out = num / den
    elif isinstance(value, str) and _PLAIN.match(value):
        out = float(value)
    else:
        raise UserError(f"expected a number (like 0.1 or 8/255), got {value!r}", where, field)
    if math.isnan(out):
        raise UserError(f"expected a finite number, got {value!r}", where, field)
    if abs(out) > MAX_FLOAT:
        raise UserError(f"{value!r} is out of range (at most {MAX_FLOAT:g} in magnitude)", where, field)
    return out


def to_int(value: Any, where: str, field: str) -> int:
    """An integer from YAML (or a string of digits); floats, even 2.0, and booleans are rejected."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"expected an integer, got {value!r}", where, field)
    if abs(value) > MAX_INT:
        raise UserError(f"{value} is out of range (at most 2**63 - 1 in magnitude)", where, field)
    return value


@dataclass(frozen=True)
class Field:
    """One allowed key of a mapping: its kind, default, bounds and choices.

    kind: 'int' | 'float' | 'str' | 'bool' | 'map' | 'list' | 'floats' (a number or a list of numbers)
    | 'any'. ``required`` fields have no default.
    """

    kind: str
    default: Any = None
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    open_lo: bool = False


def bounded(x: float, spec: Field, where: str, field: str) -> None:
    if spec.lo is not None and (x < spec.lo or (spec.open_lo and x == spec.lo)):
        sign = ">" if spec.open_lo else ">="
        raise UserError(f"must be {sign} {spec.lo:g}, got {x:g}", where, field)
    if spec.hi is not None and x > spec.hi:
        raise UserError(f"must be <= {spec.hi:g}, got {x:g}", where, field)


def convert(value: Any, spec: Field, where: str, field: str) -> Any:
    """Check and convert one value against its Field."""
    kind = spec.kind
    if kind == "any":
        return value
    if kind == "float":
        out = to_float(value, where, field)
        bounded(out, spec, where, field)
    elif kind == "int":
        out = to_int(value, where, field)
        bounded(out, spec, where, field)
    elif kind == "floats":
        items = value if isinstance(value, list) else [value]
        if not items:
            raise UserError("expected at least one number", where, field)
        out = []
        for i, v in enumerate(items):
            w = value.where(i) if isinstance(value, Seq) else where
            x = to_float(v, w, field)
            bounded(x, spec, w, field)
            out.append(x)
        out = tuple(out)
    elif kind == "str":
        if not isinstance(value, str):
            raise UserError(f"expected a string, got {value!r}", where, field)
        out = value
    elif kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"expected true or false, got {value!r}", where, field)
        out = value
    elif kind == "map":
        if not isinstance(value, dict):
            raise UserError(f"expected a mapping, got {value!r}", where, field)
        out = value
    elif kind == "list":
        if not isinstance(value, list):
            raise UserError(f"expected a list, got {value!r}", where, field)
        out = value
    else:  # pragma: no cover - a programming error
        raise ValueError(kind)
    if spec.choices is not None and out not in spec.choices:
        raise UserError(
            f"must be one of {', '.join(map(str, spec.choices))}, got {out!r}"
            + (did_you_mean(str(out), [str(c) for c in spec.choices]) if isinstance(out, str) else ""),
            where,
            field,
        )
    return out


def parse(node: dict, specs: dict[str, Field], field: str = "", where: str | None = None) -> dict:
    """Validate a mapping against its Fields: unknown keys (with did-you-mean), missing required
    keys, kinds and bounds. Returns a plain dict with defaults filled in."""
    if not isinstance(node, dict):
        raise UserError(f"expected a mapping, got {node!r}", where, field or None)
    at = node.where if isinstance(node, Node) else (lambda key=None: where)
    prefix = f"{field}." if field else ""
    for key in node:
        if key not in specs:
            raise UserError(
                f"unknown key {key!r}{did_you_mean(str(key), specs)}", at(key), f"{prefix}{key}"
            )
    out = {}
    for key, spec in specs.items():
        if key in node:
            out[key] = convert(node[key], spec, at(key), f"{prefix}{key}")
        elif spec.required:
            raise UserError("missing required key", at(), f"{prefix}{key}")
        else:
            out[key] = spec.default
    return out


def keys_known(node: dict, allowed: Iterable[str], field: str = "", where: str | None = None) -> None:
    """Reject keys outside ``allowed`` with a did-you-mean."""
    allowed = list(allowed)
    at = node.where if isinstance(node, Node) else (lambda key=None: where)
    for key in node:
        if key not in allowed:
            name = f"{field}.{key}" if field else str(key)
            raise UserError(f"unknown key {key!r}{did_you_mean(str(key), allowed)}", at(key), name)

"""YAML with line numbers, and typed field parsing that names file:line and the field on every error.

A loaded mapping is a ``Node`` (a dict that remembers its file, its own line and each key's line); a
sequence is a ``Seq``. Fractions such as ``8/255`` are parsed as numbers by ``to_float``, never eval'd.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from bench.errors import UserError, shown
from bench.registry import did_you_mean

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_FRACTION = re.compile(rf"^\s*({_NUMBER})\s*/\s*({_NUMBER})\s*$")
_PLAIN = re.compile(rf"^\s*{_NUMBER}\s*$")
MAX_FLOAT = 1e12  # larger magnitudes are typos (1e308 overflows the first product it enters)
MAX_INT = 2**63 - 1  # the parquet rows' int64
MAX_DEPTH = 32  # nesting deeper than any suite or card needs
MAX_BYTES = 128 * 1024  # a suite or card file (the largest shipped suite is 4 KB)
MAX_NODES = 100_000  # values in a file, counted with aliases expanded (an alias bomb stops here)
MAX_LABEL = 100  # characters of a name (a suite's, an `as:` label)
_HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")  # Unicode categories a name may not hold (bench.suite.yamlio.label)
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


# libyaml's parser where PyYAML has it (a 128 KB list parses in a fraction of a second, not seconds); the
# constructors and the resolver below are Python either way.
_BASE = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
_TAG = "tag:yaml.org,2002:"
# YAML 1.1's implicit ints and floats less their base-60 forms: a plain `1:30` is the string '1:30' (as in
# YAML 1.2), never the number 90.
_RESOLVERS = {first: [(tag, re.compile(f"(?!.*:)(?:{rx.pattern})", rx.flags) if tag in (_TAG + "int", _TAG + "float")
                       else rx) for tag, rx in pairs]
              for first, pairs in _BASE.yaml_implicit_resolvers.items()}
_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_SCALARS = ("int", "float", "bool", "null", "str", "timestamp", "binary")


def _scalar(tag: str, construct, file: str):
    """A scalar constructor whose failures (``!!float abc``, ``!!int 1.5``, ``!!bool maybe``, 100,000 digits,
    an explicit base-60 ``!!int 1:30``, a YAML 1.1 octal ``010``) are one line naming the line."""

    def build(loader, node):
        where = f"{file}:{node.start_mark.line + 1}"
        value = node.value if isinstance(node.value, str) else ""
        if tag in ("int", "float") and ":" in value:
            raise UserError(f"{shown(value)} is a base-60 number in YAML 1.1; write it in base 10, or quote it", where)
        if tag == "int" and _OCTAL.fullmatch(value):  # `seed: 010` is 8 in YAML 1.1, 10 in YAML 1.2
            raise UserError(f"{shown(value)} is an octal number in YAML 1.1 ({construct(loader, node)}); write it "
                            "in base 10 without the leading zero, or quote it", where)
        if tag in ("int", "float") and len(value) > 400:
            raise UserError(f"a number of {len(value)} characters is out of range", where)
        try:
            return construct(loader, node)
        except (yaml.YAMLError, UserError):
            raise
        except Exception:  # noqa: BLE001 - ValueError, KeyError ... of PyYAML's own constructor
            raise UserError(f"{shown(value)} is not a valid !!{tag}", where) from None

    return build


def _loader(file: str):
    class Loader(_BASE):
        yaml_implicit_resolvers = _RESOLVERS

    def construct_mapping(loader, node):
        out = Node()
        out.file, out.line = file, node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise UserError(f"a key must be a plain name, got a {_kind(key)}",
                                f"{file}:{key_node.start_mark.line + 1}")
            if key in out:
                raise UserError(f"duplicate key {shown(key)}", f"{file}:{key_node.start_mark.line + 1}", str(key))
            try:
                out[key] = loader.construct_object(value_node, deep=True)
            except UserError as e:  # a scalar that does not construct: name its key
                raise UserError(e.message, e.where, e.field or str(key)) from None
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(loader, node):
        out = Seq(loader.construct_object(child, deep=True) for child in node.value)
        out.file, out.line = file, node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    for tag in _SCALARS:
        Loader.add_constructor(_TAG + tag, _scalar(tag, _BASE.yaml_constructors[_TAG + tag], file))
    return Loader


def _kind(value: Any) -> str:
    return {Node: "mapping", Seq: "list"}.get(type(value), type(value).__name__)


def read_text(path: str | Path, limit: int | None = None) -> str:
    """A UTF-8 text file's contents (at most ``limit`` bytes); a missing, unreadable, too large or non-UTF-8
    file is a one-line UserError."""
    file = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit + 1)
    except FileNotFoundError:
        raise UserError("no such file", file) from None
    except IsADirectoryError:
        raise UserError("is a folder, not a file", file) from None
    except OSError as e:
        raise UserError(f"cannot read: {e.strerror}", file) from None
    if limit is not None and len(data) > limit:
        raise _too_large(file, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"not UTF-8 text (byte 0x{data[e.start]:02x})", f"{file}:{line}") from None


def is_file(path: Path) -> bool:
    """Whether ``path`` names a file; a name the system refuses (too long, a NUL byte) names none."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """Whether ``path`` names a folder (as ``is_file``)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _too_large(file: str, limit: int) -> UserError:
    return UserError(f"larger than {limit // 1024} KB", f"{file}:1")


def _check_tree(data: Any, file: str) -> None:
    """Only plain values (strings, numbers, booleans, null, mappings, lists), nested at most MAX_DEPTH deep,
    at most MAX_NODES of them counting each alias as the values it stands for (so an alias bomb stops early)."""
    todo = [(data, 0, data.line if isinstance(data, (Node, Seq)) else 1, None)]
    count = 0
    while todo:
        value, depth, line, field = todo.pop()
        count += 1
        if count > MAX_NODES:
            raise UserError(f"more than {MAX_NODES:,} values (aliases counted as the values they repeat)",
                            f"{file}:{line}", field)
        if isinstance(value, Node):
            if depth >= MAX_DEPTH:
                raise UserError(f"nested more than {MAX_DEPTH} levels deep", f"{file}:{value.line}", field)
            todo.extend((child, depth + 1, value.key_lines.get(key, value.line), field or str(key))
                        for key, child in value.items())
        elif isinstance(value, Seq):
            if depth >= MAX_DEPTH:
                raise UserError(f"nested more than {MAX_DEPTH} levels deep", f"{file}:{value.line}", field)
            todo.extend((child, depth + 1, value.line, field) for child in value)
        elif not isinstance(value, PLAIN_TYPES):
            raise UserError(f"unsupported value {shown(value)} (a {_kind(value)}); quote it to make it a string",
                            f"{file}:{line}", field)


def load_yaml(path: str | Path, text: str | None = None) -> Node:
    """Load a YAML file whose top level is a mapping; every error is a one-line UserError."""
    file = str(path)
    if text is None:
        text = read_text(path, MAX_BYTES)
    elif len(text) > MAX_BYTES:
        raise _too_large(file, MAX_BYTES)
    if deep := _DEEP.search(text):
        line = text[: deep.start()].count("\n") + 1
        raise UserError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", f"{file}:{line}")
    try:
        data = yaml.load(text, Loader=_loader(file))  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ":1"
        raise UserError(f"invalid YAML: {e.problem or e.context}", f"{file}{line}") from None
    except yaml.reader.ReaderError as e:  # a control character
        before = text[: e.position] if _BASE is yaml.SafeLoader else text.encode()[: e.position]  # libyaml: bytes
        line = before.count("\n" if isinstance(before, str) else b"\n") + 1
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
        raise UserError(f"expected a number, got {shown(value)}", where, field)
    if isinstance(value, int) and abs(value) > MAX_FLOAT:
        out = math.inf  # float() of a huge int overflows; refused below like 1e308
    elif isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str) and (m := _FRACTION.match(value)):
        num, den = float(m.group(1)), float(m.group(2))
        if den == 0:
            raise UserError(f"division by zero in {shown(value)}", where, field)
        out = num / den
    elif isinstance(value, str) and _PLAIN.match(value):
        out = float(value)
    else:
        raise UserError(f"expected a number (like 0.1 or 8/255), got {shown(value)}", where, field)
    if math.isnan(out):
        raise UserError(f"expected a finite number, got {shown(value)}", where, field)
    if abs(out) > MAX_FLOAT:
        raise UserError(f"{shown(value)} is out of range (at most {MAX_FLOAT:g} in magnitude)", where, field)
    return out


def to_int(value: Any, where: str, field: str) -> int:
    """An integer from YAML (or a string of digits); floats, even 2.0, and booleans are rejected."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"expected an integer, got {shown(value)}", where, field)
    if abs(value) > MAX_INT:
        raise UserError(f"{shown(value)} is out of range (at most 2**63 - 1 in magnitude)", where, field)
    return value


def label(value: str, where: str, field: str) -> str:
    """A name that rows, tables and folders show: not empty, and no control, format (U+FEFF, bidi overrides) or
    line-separator (U+0085, U+2028) characters, which would break a table's line or hide in it."""
    if not value.strip():
        raise UserError("expected a non-empty name", where, field)
    if len(value) > MAX_LABEL:
        raise UserError(f"{shown(value)}: a name is at most {MAX_LABEL} characters", where, field)
    for c in value:
        if unicodedata.category(c) in _HIDDEN:
            raise UserError(f"{shown(value)}: a name may not hold U+{ord(c):04X} ({unicodedata.name(c, 'a control')} "
                            "character)", where, field)
    return value


@dataclass(frozen=True)
class Field:
    """One allowed key of a mapping: its kind, default, bounds and choices.

    kind: 'int' | 'float' | 'str' | 'label' (a name rows and tables show: ``label``) | 'bool' | 'map' | 'list'
    | 'floats' (a number or a list of numbers) | 'any'. ``required`` fields have no default.
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
    elif kind in ("str", "label"):
        if not isinstance(value, str):
            raise UserError(f"expected a string, got {shown(value)}", where, field)
        if kind == "label":
            label(value, where, field)
        out = value
    elif kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"expected true or false, got {shown(value)}", where, field)
        out = value
    elif kind == "map":
        if not isinstance(value, dict):
            raise UserError(f"expected a mapping, got {shown(value)}", where, field)
        out = value
    elif kind == "list":
        if not isinstance(value, list):
            raise UserError(f"expected a list, got {shown(value)}", where, field)
        out = value
    else:  # pragma: no cover - a programming error
        raise ValueError(kind)
    if spec.choices is not None and out not in spec.choices:
        raise UserError(
            f"must be one of {', '.join(map(str, spec.choices))}, got {shown(out)}"
            + (did_you_mean(str(out), [str(c) for c in spec.choices]) if isinstance(out, str) else ""),
            where,
            field,
        )
    return out


def parse(node: dict, specs: dict[str, Field], field: str = "", where: str | None = None) -> dict:
    """Validate a mapping against its Fields: unknown keys (with did-you-mean), missing required
    keys, kinds and bounds. Returns a plain dict with defaults filled in."""
    if not isinstance(node, dict):
        raise UserError(f"expected a mapping, got {shown(node)}", where, field or None)
    at = node.where if isinstance(node, Node) else (lambda key=None: where)
    prefix = f"{field}." if field else ""
    for key in node:
        if key not in specs:
            raise UserError(
                f"unknown key {shown(key)}{did_you_mean(str(key), specs)}", at(key), f"{prefix}{key}"
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
            raise UserError(f"unknown key {shown(key)}{did_you_mean(str(key), allowed)}", at(key), name)

"""The code's layout rules (docs/DESIGN.md, "Layout"), checked on the source: no import circle, counting the
imports inside functions too; no module over 400 lines; a module whose name starts with ``_`` is imported only
from inside its own package; no import renames a bench module or name; no branch asks whether a model is
external (the cell types answer for themselves)."""
from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _modules() -> dict[str, Path]:
    out = {}
    for path in BENCH.rglob("*.py"):
        parts = path.relative_to(BENCH.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str:
    """The module an import of ``name`` (a module, or a name inside one) loads."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(path: Path):
    """(imported module, the import node) for every import of a bench module anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bench":
                    yield _owner(alias.name), node, alias
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "bench":
            for alias in node.names:
                yield _owner(f"{node.module}.{alias.name}"), node, alias


def _graph() -> dict[str, set[str]]:
    return {name: {dep for dep, _, _ in _imports(path) if dep and dep != name} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_counting_imports_inside_functions():
    assert _cycles(_graph()) == []


def test_no_module_over_400_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_private_modules_stay_inside_their_package():
    leaks = []
    for name, path in MODULES.items():
        for dep, _, _ in _imports(path):
            package, _, leaf = dep.rpartition(".")
            inside = name == package or name.startswith(package + ".")
            if leaf.startswith("_") and not leaf.startswith("__") and not inside:
                leaks.append(f"{name} imports {dep}")
    assert leaks == []


def test_no_renaming_imports_of_bench_names():
    renamed = [f"{name}: {alias.name} as {alias.asname}" for name, path in MODULES.items()
               for _, _, alias in _imports(path) if alias.asname]
    assert renamed == []


def test_no_branch_asks_whether_a_model_is_external():
    asks = [f"{name}:{node.lineno}" for name, path in MODULES.items() for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value == "external"
                                                     for c in [node.left, *node.comparators])]
    assert asks == []

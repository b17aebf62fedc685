"""Fuzz `bench validate` with malformed suites made from the shipped ones: deleted keys, wrong types,
huge, negative and NaN numbers, random bytes, truncation, deep nesting. Each must end in one line and
exit 2, or `ok` and exit 0: never a traceback, never a file written."""
from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml

from bench.cli import main

SUITES = ["quickstart", "table9", "autoattack", "certify"]
N = 260
WRONG = [None, True, False, "", "x", "8/0", "1/3", [], {}, [1, [2]], {"a": 1}, 0, -1, -10**30, 10**30, 2.5, -0.5,
         1e308, -1e308, float("nan"), float("inf"), "nan", "2020-01-01", "../..", "a|b", "PGD@0.1"]


def _paths(node, prefix=()):
    """Every (path, value) in a loaded YAML tree."""
    yield prefix, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def _set(tree, path, value=None, delete=False):
    for k in path[:-1]:
        tree = tree[k]
    if delete:
        del tree[path[-1]]
    else:
        tree[path[-1]] = value


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def mutate(text: str, rng: random.Random) -> bytes:
    tree = yaml.safe_load(text)
    paths = [p for p, _ in _paths(tree) if p]
    op = rng.choice(["delete", "wrong", "wrong", "wrong", "bytes", "truncate", "deep", "duplicate", "several"])
    if op in ("delete", "wrong", "duplicate", "several"):
        tree = copy.deepcopy(tree)
        for _ in range(rng.randint(2, 4) if op == "several" else 1):
            paths = [p for p, _ in _paths(tree) if p]
            path = rng.choice(paths)
            if op == "delete":
                _set(tree, path, delete=True)
            elif op == "duplicate":
                parent = tree
                for k in path[:-1]:
                    parent = parent[k]
                if isinstance(parent, list):
                    parent.append(copy.deepcopy(parent[path[-1]]))
                else:
                    _set(tree, path, [copy.deepcopy(parent[path[-1]])] * 2)
            else:
                _set(tree, path, copy.deepcopy(rng.choice(WRONG)))
        return yaml.safe_dump(tree, sort_keys=False).encode()
    data = text.encode()
    if op == "bytes":
        at = rng.randrange(len(data))
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
    if op == "truncate":
        return data[: rng.randrange(len(data))]
    _set(tree, rng.choice(paths), "DEEP")  # deep: a value nested 40 or 3000 levels
    return yaml.safe_dump(tree, sort_keys=False).replace("DEEP", _deep(rng.choice([40, 3000])), 1).encode()


def _tree(root: Path) -> set:
    return {(str(p), p.stat().st_size) for p in root.rglob("*")}


def test_malformed_suites_are_one_line_or_ok(tmp_path, capsys, monkeypatch):
    rng = random.Random(12)
    texts = {s: Path(f"suites/{s}.yaml").read_text() for s in SUITES}
    (tmp_path / "suites").mkdir()
    monkeypatch.chdir(tmp_path)
    outcomes = {0: 0, 2: 0}
    for i in range(N):
        name = SUITES[i % len(SUITES)]
        path = tmp_path / "suites" / f"{name}.yaml"
        data = mutate(texts[name], rng)
        path.write_bytes(data)
        before = _tree(tmp_path)
        try:
            code = main(["validate", str(path)])
        except BaseException as e:  # a traceback shown to a user
            pytest.fail(f"mutation {i} of {name} raised {type(e).__name__}: {e}\n{data[:400]!r}")
        out, err = capsys.readouterr()
        assert code in (0, 2), (i, data[:400], err)
        outcomes[code] += 1
        if code == 2:
            assert out == "" and len(err.splitlines()) == 1 and err.startswith("bench: error: "), (i, data[:400], err)
        else:
            assert err == "" and out.rstrip().endswith(")") and ": ok (" in out, (i, out, err)
        assert _tree(tmp_path) == before, f"mutation {i} wrote a file"
    assert outcomes[2] >= N // 2 and sum(outcomes.values()) == N >= 200, outcomes

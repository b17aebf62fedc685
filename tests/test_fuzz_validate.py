"""Fuzz `bench validate` with malformed suites made from the shipped ones: deleted keys, wrong types,
huge, negative and NaN numbers, random bytes, truncation, deep nesting, alias bombs, oversized files, numbers
and lists, odd unicode, explicit YAML tags, base-60 numbers, huge architectures. Each must end in one line and
exit 2, or `ok` and exit 0, within CASE_S seconds: never a traceback, never a file written (issue 23)."""
from __future__ import annotations

import copy
import os
import random
import signal
import time
from pathlib import Path

import pytest
import yaml

from bench.cli import main

SUITES = ["quickstart", "table9", "autoattack", "certify", "fashion-ci", "papers/atpr"]
N = 520  # the full fuzz (slow: about a minute on 2 shared cores); every `make test-fast` runs N_FAST of them
N_FAST = 100
CASE_S = 5.0  # seconds one case may take (issue 23: one line within 2 s; 5 s leaves room on a loaded machine)
WRONG = [None, True, False, "", "x", "8/0", "1/3", [], {}, [1, [2]], {"a": 1}, 0, -1, -10**30, 10**30, 2.5, -0.5,
         1e308, -1e308, float("nan"), float("inf"), "nan", "2020-01-01", "../..", "a|b", "PGD@0.1"]
# Raw YAML put in place of a value: explicit tags, YAML 1.1's base-60 and octal numbers, odd scalars.
RAW = ["!!float abc", "!!int 1.5", "!!bool maybe", "!!timestamp 2020-13-45", "!!binary '###'", "!!null x",
       "!!python/object:os.system x", "!!set {a: null}", "!!omap [a: 1]", "!!str 1", "!!int 1:30", "1:30", "-1:30:00",
       "190:20:30.15", "010", "0o17", "0x_FF", "0b101", ".inf", "-.NaN", "~", "1_000", "'1:30'", "!!int " + "9" * 5000,
       "!!float " + "1" * 500 + ".5", "&x [*x]", "*undefined", "{? [a]: 1}", "[a, {b: c}, [d]]"]
ODD = ["\x85", "\u2028", "\u2029", "\ufeff", "\u202e", "\u200b", "\x00", "\x1b[31m", "\r", "\n", "é", "🙂", "a\u0301",
       "\U0010ffff", "=HYPERLINK(\"http://x\")", "[x](javascript:alert(1))", "<script>", "../../etc/passwd"]


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


def _bomb(rng: random.Random) -> tuple[str, str]:
    """Anchors a0..aK, each a list of `width` aliases of the one before: (their YAML, the last alias)."""
    levels, width = rng.randint(3, 12), rng.randint(2, 12)
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n", f"*a{levels - 1}"


def _huge(rng: random.Random) -> str:
    """Raw YAML for an oversized value."""
    kind = rng.choice(["digits", "fraction", "string", "list", "seeds", "map"])
    n = rng.choice([500, 5000, 50_000])
    if kind == "digits":
        return "9" * n
    if kind == "fraction":
        return f"{'1' * n}/{'3' * n}"
    if kind == "string":
        return "s" * n * 2
    if kind == "list":
        return "[" + ", ".join(map(str, range(min(n, 20_000)))) + "]"
    if kind == "seeds":
        return "[" + ",".join(map(str, range(rng.choice([10_001, 12_000])))) + "]"
    return "{" + ", ".join(f"k{i}: {i}" for i in range(min(n, 5000))) + "}"


def _dump(tree, path, raw: str) -> str:
    """The tree as YAML with ``raw`` (YAML text) at ``path``."""
    _set(tree, path, "PLACEHOLDER")
    return yaml.safe_dump(tree, sort_keys=False, width=10**9).replace("PLACEHOLDER", raw, 1)


def mutate(text: str, rng: random.Random) -> bytes:
    tree = yaml.safe_load(text)
    paths = [p for p, _ in _paths(tree) if p]
    op = rng.choice(["delete", "wrong", "wrong", "wrong", "bytes", "truncate", "deep", "duplicate", "several",
                     "bomb", "bomb", "huge", "huge", "oversized", "unicode", "unicode", "raw", "raw", "arch"])
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
    if op == "oversized":  # past the file limit: a comment, a string or a list
        pad = rng.choice(["#" + "x" * (200 << 10) + "\n", f"description: {'y' * (200 << 10)}\n",
                          f"seeds: [{','.join(map(str, range(40_000)))}]\n", "#" + "z" * (50 << 20) + "\n"])
        return (pad + text if rng.random() < 0.5 else text + pad).encode()
    if op == "bomb":
        defs, alias = _bomb(rng)
        return (defs + _dump(tree, rng.choice(paths), alias)).encode()
    if op == "huge":
        return _dump(tree, rng.choice(paths), _huge(rng)).encode()
    if op == "raw":
        return _dump(tree, rng.choice(paths), rng.choice(RAW)).encode()
    if op == "unicode":  # an odd character inside a string (a name, a label, a card, a key)
        strings = [p for p, v in _paths(tree) if p and isinstance(v, str)] or paths
        path = rng.choice(strings)
        value = str(rng.choice([v for p, v in _paths(tree) if p == path]))
        at = rng.randrange(len(value) + 1)
        _set(tree, path, value[:at] + rng.choice(ODD) + value[at:])
        return yaml.safe_dump(tree, sort_keys=False, allow_unicode=rng.random() < 0.5).encode()
    if op == "arch":  # an architecture far too large, or just too deep
        depth, width = rng.choice([(10_000, 1_000), (10_000, 1), (6004, 10), (604, 100)])
        entry = {"card": "erm", "as": "huge", "arch": "wrn", "arch_args": {"depth": depth, "width": width}}
        tree["recipes"] = list(tree.get("recipes") or []) + [entry]
        return yaml.safe_dump(tree, sort_keys=False).encode()
    _set(tree, rng.choice(paths), "DEEP")  # deep: a value nested 40 or 3000 levels
    return yaml.safe_dump(tree, sort_keys=False).replace("DEEP", _deep(rng.choice([40, 3000])), 1).encode()


def _tree(root: Path) -> set:
    return {(str(p), p.stat().st_size) for p in root.rglob("*")}


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def fuzz(n: int, seed: int, tmp_path: Path, capsys) -> None:
    rng = random.Random(seed)
    texts = {s: Path(f"suites/{s}.yaml").read_text() for s in SUITES}
    for name in SUITES:  # imports and first builds: not a case's time
        assert main(["validate", f"suites/{name}.yaml"]) == 0
    (tmp_path / "suites").mkdir()
    here = Path.cwd()
    os.chdir(tmp_path)
    capsys.readouterr()
    outcomes, slowest = {0: 0, 2: 0}, (0.0, None)
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(n):
            name = SUITES[i % len(SUITES)]
            path = tmp_path / "suites" / f"{name.replace('/', '-')}.yaml"
            data = mutate(texts[name], rng)
            path.write_bytes(data)
            before = _tree(tmp_path)
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, CASE_S)
            try:
                code = main(["validate", str(path)])
            except _Timeout:
                pytest.fail(f"mutation {i} of {name} took over {CASE_S} s\n{data[:400]!r}")
            except BaseException as e:  # a traceback shown to a user
                pytest.fail(f"mutation {i} of {name} raised {type(e).__name__}: {e}\n{data[:400]!r}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, (time.perf_counter() - start, i))
            out, err = capsys.readouterr()
            assert code in (0, 2), (i, data[:400], err)
            outcomes[code] += 1
            if code == 2:
                assert out == "" and len(err.splitlines()) == 1 and err.startswith("bench: error: "), \
                    (i, data[:400], err)
                assert len(err) < 600, (i, err[:1000])
            else:
                assert err == "" and out.rstrip().endswith(")") and ": ok (" in out, (i, out, err)
            assert _tree(tmp_path) == before, f"mutation {i} wrote a file"
    finally:
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
    assert outcomes[2] >= n // 2 and sum(outcomes.values()) == n, outcomes
    print(f"{n} cases: {outcomes}; slowest {slowest[0]:.2f} s (case {slowest[1]})")


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """A data root where the shipped suites' CIFAR-10 files exist (empty: `bench validate` only looks for
    them), outside the folder the fuzz writes in."""
    root = tmp_path / "data"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"")
    monkeypatch.setenv("BENCH_DATA", str(root))
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_malformed_suites_are_one_line_or_ok(data_root, capsys):
    fuzz(N_FAST, 23, data_root, capsys)


@pytest.mark.slow
def test_500_malformed_suites_are_one_line_or_ok(data_root, capsys):
    assert N >= 500
    fuzz(N, 12, data_root, capsys)

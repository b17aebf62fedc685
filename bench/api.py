"""The Python API: ``bench.evaluate(model, ...)`` judges a model object from a notebook under a suite's
evaluations, on the same fixed test subset as ``bench run`` (in the spirit of RobustBench's
``benchmark()``); ``bench.load_split(dataset, "train" | "test")`` gives bench's own split of a dataset, to
train on exactly the images bench does not test on.

The evaluations are the entries of a suite's ``evaluations:`` list, as Python dicts or YAML strings
(``"attack: PGD"``, ``{"attack": "PGD", "params": {"steps": 20}}``). The model is checked on one test
batch first (input shape, class count) and then run through the same eval cells as a suite, so its rows
equal those of the same net evaluated by ``bench run``. With ``out=`` the cells are written to that
results folder (resumable, and `bench report` reads it); without, to a temporary folder that is removed.

A mistake is one ``UserError`` naming the argument (``evaluations[1]: attack: unknown attack 'PDG' (did you
mean 'PGD'?)``, ``dataset: ...``): the arguments are checked as a suite document whose lines map back to
them (``_Document``), and the CLI's wording (``--data-root``, the suite) is said in Python terms.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from bench.errors import UserError
from bench.suite.models import WHY_NORMALIZE, input_normalization

WHERE = "bench.evaluate"
SPLITS = ("train", "test")
# the CLI's and the suite's wording in messages, as a Python caller says it
PYTHON_WORDS = (("pass --data-root DIR or set BENCH_DATA", "pass data_root=DIR or set BENCH_DATA"),
                ("set `download: true` on the dataset in the suite", "pass download=True"),
                ("--data-root", "data_root="), ("the suite's ", "the "))


class _Document:
    """The arguments as a suite document, and which argument each of its lines came from."""

    def __init__(self):
        self.text, self.args = "", [None]  # args[line]: the argument of that (1-based) line

    def add(self, arg: str, text: str) -> None:
        self.text += text
        self.args += [arg] * text.count("\n")

    def value(self, arg: str, key: str, value, indent: str = "") -> None:
        try:
            self.add(arg, f"{indent}{key}: {json.dumps(_plain(value))}\n")
        except (TypeError, ValueError):
            raise UserError(f"expected a plain value, got {type(value).__name__}", arg) from None

    def argument(self, where: str | None) -> str | None:
        m = re.fullmatch(rf"{re.escape(WHERE)}:(\d+)", where or "")
        return self.args[min(int(m.group(1)), len(self.args) - 1)] if m else where

    def translate(self, e: UserError) -> UserError:
        """The error in the caller's terms: the argument for file:line, the key only inside an evaluation
        entry (the others are the document's own keys), the CLI's wording in Python's."""
        arg = self.argument(e.where)
        field = e.field if arg and arg.startswith("evaluations") and e.field != "evaluations" else None
        message = re.sub(rf"{re.escape(WHERE)}:\d+", lambda m: self.argument(m.group(0)) or "", e.message)
        for cli_words, python_words in PYTHON_WORDS:
            message = message.replace(cli_words, python_words)
        return UserError(message, arg, field)


def _plain(obj):
    """Python values as YAML and JSON write them: numpy and torch scalars as numbers, tuples as lists."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if not isinstance(obj, (str, bytes)) and hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    return obj


def _entries(evaluations) -> list[tuple[str, object]]:
    """(argument name, entry) per evaluation: ``evaluations[i]`` (``evaluations`` for a single one), a YAML
    string read, a string holding a list giving several entries under the same name."""
    single = isinstance(evaluations, (str, dict))
    items = [evaluations] if single else evaluations
    if not isinstance(items, (list, tuple)):
        raise UserError(f"expected a list of evaluations, got {type(evaluations).__name__}", "evaluations")
    out = []
    for i, e in enumerate(items):
        arg = "evaluations" if single else f"evaluations[{i}]"
        if isinstance(e, str):
            try:
                e = yaml.safe_load(e)
            except yaml.YAMLError as err:
                what = " ".join(str(x) for x in (getattr(err, "context", None), getattr(err, "problem", None)) if x)
                raise UserError(f"not valid YAML: {what or str(err).strip().splitlines()[0]}", arg) from None
        out.extend((arg, x) for x in (e if isinstance(e, list) else [e]))
    if not out:
        raise UserError("no evaluations", "evaluations")
    return out


def _document(dataset, evaluations, n_test, seed, batch_size, download) -> _Document:
    if not isinstance(dataset, str):
        raise UserError(f"expected a dataset name, got {dataset!r}", "dataset")
    doc = _Document()
    doc.add("label", "name: bench-evaluate\n")
    doc.add("dataset", f"datasets:\n  {json.dumps(dataset)}:\n")
    doc.value("n_test", "n_test", n_test, "    ")
    doc.value("download", "download", download, "    ")
    doc.value("seed", "sample_seed", seed)
    doc.value("batch_size", "batch_size", batch_size)
    doc.add("model", "models: []\n")
    doc.add("evaluations", "evaluations:\n")
    for arg, entry in _entries(evaluations):
        try:
            doc.add(arg, yaml.safe_dump([_plain(entry)], sort_keys=False, default_flow_style=False))
        except yaml.YAMLError:
            raise UserError(f"expected plain values (strings, numbers, lists, dicts), got {entry!r}", arg) from None
    return doc


def _normalization(normalize, label: str):
    if normalize is None:
        raise UserError('give normalize="none" if the model takes [0,1] pixels, or normalize={"mean": [...], '
                        '"std": [...]} if it was trained on normalised input (bench puts that normalisation in '
                        f"front of it); {WHY_NORMALIZE}", "normalize")
    return input_normalization(_plain(normalize), label, False, "normalize", None)


def _bar(n: int, enabled: bool):
    """A tqdm bar over the evaluations (a notebook widget in Jupyter), or None."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="bench.evaluate", unit="evaluation", dynamic_ncols=True)


def _run_cells(cells, folder: Path, dev: str, root, bar) -> None:
    """Compute each cell (done ones are skipped); with a bar, each evaluation's progress in its postfix: the
    inputs through the model every second, and AutoAttack's and bench's log lines (bench.execute.progress)."""
    from bench.execute.compute import compute
    from bench.execute.progress import Board

    class BarBoard(Board):
        label = ""

        def say(self, text: str) -> None:
            bar.set_postfix_str(text.removeprefix(f"eval {self.label}: "), refresh=True)

    board = BarBoard(lines=False)
    model_cell, *evals = cells
    compute(model_cell, folder, dev, root, progress=False)
    for cell in evals:
        if bar is None:
            compute(cell, folder, dev, root, progress=False)
            continue
        board.label = cell.name
        bar.set_description(f"bench.evaluate {cell.name}")
        with board.evaluating(cell.name, interval=1.0):
            compute(cell, folder, dev, root, progress=False)
        bar.update(1)


def evaluate(model, dataset: str = "digits", evaluations=("clean",), n_test: int = 500, seed: int = 0,
             device: str = "auto", out: str | Path | None = None, label: str | None = None,
             batch_size: int = 256, data_root: str | None = None, normalize=None, download: bool = False,
             progress: bool = True) -> pd.DataFrame:
    """Evaluate ``model`` (a torch.nn.Module) on ``n_test`` test samples of ``dataset`` drawn with ``seed``;
    returns the per-sample rows (bench.results.store.COLUMNS; README "Per-sample rows"; ``bench.summary``
    makes the leaderboard of them).

    ``normalize`` is required: ``"none"`` for a model that takes [0,1] pixels, ``{"mean": [...], "std":
    [...]}`` for one trained on normalised input (bench puts that normalisation in front of it). The model
    is moved to ``device`` and put in eval mode. ``progress`` shows a tqdm bar on stderr (a widget in a
    notebook). ``download`` fetches a dataset that is not under ``data_root`` (internet). A mistake is one
    UserError naming the argument."""
    from torch import nn

    from bench.execute.settings import in_effect, resolve_device
    from bench.execute.compute import check_all
    from bench.plan.cells import ModelCell
    from bench.plan.grid import eval_cells
    from bench.results import integrity, runfile, store
    from bench.suite.config import load_suite

    if not isinstance(model, nn.Module):
        raise UserError(f"expected a torch.nn.Module, got {type(model).__name__}", "model")
    label = type(model).__name__ if label is None else label
    if not isinstance(label, str) or not label.strip():
        raise UserError(f"expected a non-empty name, got {label!r}", "label")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UserError(f"{out} exists and is not a folder", "out")
    try:
        dev = resolve_device(device)
    except UserError:
        raise UserError('no CUDA device is available on this machine (use device="cpu")', "device") from None
    norm = _normalization(normalize, label)
    doc = _document(dataset, evaluations, n_test, seed, batch_size, download)
    try:
        suite = load_suite(WHERE, doc.text)
        cell = ModelCell.of(model, dataset, label, norm, download)
        evals = eval_cells(suite, [cell])
        check_all([cell], evals, data_root, dev)
        with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
            folder = Path(out) if out is not None else Path(tmp)
            integrity.own_folder(folder)  # nothing read or written through a link inside it
            bar = _bar(len(evals), progress)
            try:
                _run_cells([cell, *evals], folder, dev, data_root, bar)
            finally:
                if bar is not None:
                    bar.close()
            rows = pd.concat([pd.read_parquet(store.samples_path(folder, e.id)) for e in evals], ignore_index=True)
            if out is not None:
                info = runfile.record(suite, [cell], evals, dev, "bench.evaluate", in_effect(dev))
                info["suite"] = folder.name
                info["models"] = {cell.recipe: cell.describe()["external"]}
                info["order"]["recipes"] = [cell.recipe]
                old = runfile.read(folder) if (folder / runfile.NAME).exists() else None
                runfile.write(folder, runfile.merge(old, info))
    except UserError as e:
        raise doc.translate(e) from None
    return rows


def load_split(dataset: str, split: str = "test", n: int | None = None, seed: int = 0,
               data_root: str | None = None, download: bool = False):
    """bench's ``split`` ("train" or "test") of ``dataset`` as (x, y): x float32 N x C x H x W in [0,1], y
    int64, the same images in the same order as bench reads them (digits: a fixed seeded 1297/500 split;
    the others: the dataset's own). With ``n``, the subset of ``n`` that bench draws with ``seed``: a suite's
    ``n_test`` test samples (``seed`` = its ``sample_seed``, what ``bench.evaluate(n_test=, seed=)`` uses;
    the rows' ``index`` column numbers them in the full test split) or a recipe's ``n_train`` training
    samples (``seed`` = the training seed). The tensors are copies, free to change."""
    from bench.data import DATASETS, splits, subset
    from bench.suite.yamlio import Field, convert

    DATASETS.get(dataset, "dataset")  # an unknown name: one line, with a did-you-mean
    if split not in SPLITS:
        raise UserError(f'expected "train" or "test", got {split!r}', "split")
    if n is not None:
        n = convert(n, Field("int", lo=1), "n", None)
    seed = convert(seed, Field("int", lo=0), "seed", None)
    try:
        part = splits(dataset, data_root, download)[SPLITS.index(split)]
    except UserError as e:
        raise _Document().translate(e) from None
    _, part = subset(part, n, seed)
    return part.x.clone(), part.y.clone()

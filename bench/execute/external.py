"""Building a model trained elsewhere (a suite's `models:` entry, bench.suite.models) from its files: a
registered architecture + state_dict, a builder + optional state_dict, a TorchScript file, or a RobustBench
zoo entry; optionally wrapped in a normalisation layer so that attacks and vicinities work on [0,1] pixels.

Checkpoints are read with ``torch.load(weights_only=True)``: a pickle that would run code is refused
before any of it runs. A TorchScript file is code by nature: loading one runs it (README says so).
Every failure is a UserError naming the entry.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.errors import UserError
from bench.nets import Normalize, build
from bench.results.store import unpickle_weights
from bench.suite.models import parse_builder
from bench.suite.plugins import importable

# Bumped when loading or wrapping an external model changes its numbers (hashed into the cell id, as a
# recipe's version is).
EXTERNAL_VERSION = 1
RB_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100"}  # bench name -> RobustBench's BenchmarkDataset


def read_state(path: str, label: str, where: str) -> dict:
    """A state_dict file (a bare dict of tensors, or one under a `state_dict` key)."""
    try:
        obj = unpickle_weights(Path(path).read_bytes())
    except OSError as e:
        raise UserError(f"{label}: cannot read {path}: {e.strerror or e}", where, "models.checkpoint") from None
    except ValueError as e:
        raise UserError(f"{label}: {path}: {e}", where, "models.checkpoint") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{label}: {path} holds no state_dict (a mapping of names to tensors)", where,
                        "models.checkpoint")
    return obj


def load_state(net: nn.Module, state: dict, label: str, where: str) -> None:
    """Strict loading, with shape mismatches and missing/unexpected keys as one line."""
    own = net.state_dict()
    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            raise UserError(f"{label}: checkpoint's {k} has shape {tuple(v.shape)}, the model's {tuple(own[k].shape)}",
                            where, "models.checkpoint")
    result = net.load_state_dict(state, strict=False)
    for what, keys in (("missing", result.missing_keys), ("unexpected", result.unexpected_keys)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
            raise UserError(f"{label}: checkpoint has {what} keys: {shown}", where, "models.checkpoint")


def _arch(s: dict, paths: dict, info, where: str) -> nn.Module:
    """bench's net for the dataset. A checkpoint of bench's own net (its normalisation layer `0.` and body
    `1.`) loads as a whole; any other loads into the bare architecture, which then takes [0,1] pixels
    unless ``normalize:`` says otherwise."""
    state = read_state(paths["checkpoint"], s["as"], where)
    net = build(s["arch"], info, **s.get("arch_args", {}))
    if not all(k.startswith(("0.", "1.")) for k in state):
        net = net[1]
    load_state(net, state, s["as"], where)
    return net


def _module(s: dict, paths: dict, info, where: str) -> nn.Module:
    fn = parse_builder(s["module"], where, paths.get("import_path"))
    try:
        with importable(paths.get("import_path")):
            net = fn(**s.get("args", {}))
    except Exception as e:
        raise UserError(f"{s['as']}: {s['module']}(**args) raised {type(e).__name__}: {e}", where, "models.module") from None
    if not isinstance(net, nn.Module):
        raise UserError(f"{s['as']}: {s['module']} returned {type(net).__name__}, not a torch.nn.Module", where,
                        "models.module")
    if "checkpoint" in paths:
        load_state(net, read_state(paths["checkpoint"], s["as"], where), s["as"], where)
    return net


def _torchscript(s: dict, paths: dict, info, where: str) -> nn.Module:
    try:
        return torch.jit.load(paths["torchscript"], map_location="cpu")
    except (RuntimeError, ValueError) as e:
        raise UserError(f"{s['as']}: {paths['torchscript']} is not a TorchScript file: {str(e).splitlines()[0]}",
                        where, "models.torchscript") from None


def _autoattack_name() -> None:
    """robustbench 1.1.1 declares PyPI's pyautoattack (the official AutoAttack code, packaged) as its
    AutoAttack but imports it under the GitHub package's name, ``autoattack``: with only pyautoattack
    installed, that name is pyautoattack."""
    import importlib.util
    import sys

    if importlib.util.find_spec("autoattack") is None and importlib.util.find_spec("pyautoattack") is not None:
        import pyautoattack
        import pyautoattack.state

        sys.modules["autoattack"], sys.modules["autoattack.state"] = pyautoattack, pyautoattack.state


def _zoo(label: str, where: str):
    try:
        _autoattack_name()
        from robustbench.model_zoo import model_dicts
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
        from robustbench.utils import rm_substr_from_state_dict
    except ImportError as e:
        raise UserError(f"{label}: `robustbench:` entries need the optional extra: "
                        f"pip install 'robustness-bench[robustbench]' (importing robustbench failed: {e})", where, "models.robustbench") from None
    return model_dicts, BenchmarkDataset, ThreatModel, rm_substr_from_state_dict


def robustbench_file(s: dict, paths: dict, dataset: str) -> Path:
    """Where RobustBench keeps an entry's checkpoint: MODEL_DIR/<dataset>/<threat model>/<name>.pt."""
    return Path(paths["model_dir"]) / RB_DATASETS[dataset] / s["threat_model"] / f"{s['robustbench']}.pt"


def _robustbench(s: dict, paths: dict, info, where: str) -> nn.Module:
    """A RobustBench zoo entry: its architecture from robustbench.model_zoo and its checkpoint, read as
    RobustBench's ``load_model`` reads it (a ``state_dict`` key if any; ``module.`` and ``model.`` prefixes
    removed) but with weights_only=True. bench never downloads: a missing file is one line saying where it goes."""
    model_dicts, BenchmarkDataset, ThreatModel, rm_substr = _zoo(s["as"], where)
    zoo = model_dicts[BenchmarkDataset(RB_DATASETS[info.name])][ThreatModel(s["threat_model"])]
    name = s["robustbench"]
    if name not in zoo:
        from bench.registry import did_you_mean

        raise UserError(f"{s['as']}: RobustBench has no {info.name} {s['threat_model']} entry {name!r}"
                        f"{did_you_mean(name, zoo)}", where, "models.robustbench")
    entry = zoo[name]
    if isinstance(entry.get("gdrive_id"), list):
        raise UserError(f"{s['as']}: {name} is an ensemble of several checkpoints, which bench does not load",
                        where, "models.robustbench")
    path = Path(paths["robustbench"])
    if not path.is_file():
        raise UserError(f"{s['as']}: put RobustBench's checkpoint of {name} at {path} (its Google Drive id "
                        f"{entry.get('gdrive_id')}; bench does not download)", where, "models.robustbench")
    state = read_state(str(path), s["as"], where)
    state = rm_substr(rm_substr(state, "module."), "model.")
    net = entry["model"]()
    load_state(net, state, s["as"], where)
    return net


BUILDERS = {"arch": _arch, "module": _module, "torchscript": _torchscript, "robustbench": _robustbench}


def build_model(settings: dict, paths: dict, info, where: str) -> nn.Module:
    """The entry's model on the CPU, wrapped in ``normalize:`` when given."""
    net = BUILDERS[settings["source"]](settings, paths, info, where)
    return normalized(net, settings.get("normalize"), info, settings["as"], where, "models.normalize")


def normalized(net: nn.Module, norm: dict | None, info, label: str, where: str | None, field: str) -> nn.Module:
    """``net`` behind a normalisation layer ({mean, std}, one value per channel of the dataset), so that it
    takes [0,1] pixels; ``net`` itself when ``norm`` is None."""
    if not norm:
        return net
    if len(norm["mean"]) != info.shape[0]:
        raise UserError(f"{label}: normalize has {len(norm['mean'])} channels, {info.name} has {info.shape[0]}",
                        where, field)
    return nn.Sequential(Normalize(norm["mean"], norm["std"]), net)


def check_model(net: nn.Module, x: torch.Tensor, info, label: str, where: str) -> None:
    """One forward of one test batch: the model takes the dataset's inputs and returns one logit per class."""
    try:
        with torch.no_grad():
            out = net(x)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{label}: the model fails on {info.name}'s inputs of shape {tuple(x.shape[1:])}: {msg}",
                        where, "models") from None
    if not isinstance(out, torch.Tensor) or out.shape != (len(x), info.num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(f"{label}: the model returns {got} for a batch of {len(x)}; {info.name} needs "
                        f"({len(x)}, {info.num_classes}) logits ({info.num_classes} classes)", where, "models")

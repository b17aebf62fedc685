"""The training engine: optimizer, schedule, batches, progress bar, checkpoint metadata.

Optimizers: sgd (momentum, weight_decay, nesterov), adam (betas, weight_decay), adadelta (rho).
Schedules: none, multistep (milestones in epochs, gamma), cosine (to 0 over all steps). Both the
milestones and the cosine are applied per step, so a fractional epoch count behaves.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm import tqdm

from bench.data import Split, augment_batch
from bench.recipes import RECIPES, StepState, TrainContext


def make_optimizer(params, cfg: dict) -> torch.optim.Optimizer:
    name = cfg["name"]
    lr, wd = cfg["lr"], cfg.get("weight_decay", 0.0)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.get("momentum", 0.9), weight_decay=wd,
                               nesterov=cfg.get("nesterov", False))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.get("betas", (0.9, 0.999))), weight_decay=wd)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=cfg.get("rho", 0.9), weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


def lr_factor(schedule: dict, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at a global step."""
    name = schedule.get("name", "none")
    if name == "none":
        return 1.0
    if name == "multistep":
        epoch = step / max(1, steps_per_epoch)
        passed = sum(1 for m in schedule.get("milestones", ()) if epoch >= m)
        return schedule.get("gamma", 0.1) ** passed
    if name == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / max(1, total_steps)))
    raise ValueError(f"unknown schedule {name!r}")


def train(model, recipe_name: str, args: dict, train_split: Split, settings: dict, info, seed: int,
          device: torch.device, progress: bool = True, label: str = "") -> dict:
    """Train ``model`` in place with the recipe; returns the metadata of the checkpoint."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    bs = settings["batch_size"]
    n = len(train_split)
    steps_per_epoch = max(1, math.ceil(n / bs))
    epochs = settings["epochs"]
    ctx = TrainContext(info=info, epochs=epochs, steps_per_epoch=steps_per_epoch, device=device)
    recipe = RECIPES.get(recipe_name)(args, ctx)
    recipe.setup(model)
    params = list(model.parameters()) + list(recipe.extra_parameters())
    optimizer = make_optimizer(params, settings["optimizer"])
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    augment = settings.get("augment") or info.augment
    x_all, y_all = train_split.x, train_split.y
    start = time.perf_counter()
    step, total_loss, total_correct, seen = 0, 0.0, 0, 0
    bar = tqdm(total=epochs * steps_per_epoch, desc=label or recipe_name, disable=not progress,
               leave=False, dynamic_ncols=True)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        total_loss, total_correct, seen = 0.0, 0, 0
        for b in range(steps_per_epoch):
            idx = order[b * bs:(b + 1) * bs]
            x = x_all[idx].to(device, non_blocking=True)
            y = y_all[idx].to(device, non_blocking=True)
            x = augment_batch(x, augment, gen)
            factor = lr_factor(settings["schedule"], step, steps_per_epoch, ctx.total_steps)
            for group, lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = lr * factor
            loss, logits = recipe.step(model, optimizer, x, y, StepState(epoch, step, ctx))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{label or recipe_name}: loss became {loss.item()} at step {step}")
            total_loss += loss.item() * len(y)
            total_correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{total_loss / seen:.3f}", acc=f"{total_correct / seen:.3f}")
    bar.close()
    model.eval()
    return {
        "train_seconds": time.perf_counter() - start,
        "epochs": epochs,
        "steps": step,
        "final_train_loss": total_loss / max(1, seen),
        "final_train_accuracy": total_correct / max(1, seen),
    }

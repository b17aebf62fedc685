"""The training engine: optimizer, schedule, batches, progress bar (and bench.execute.progress lines), checkpoint metadata.

Optimizers: sgd (momentum, weight_decay, nesterov), adam (betas, weight_decay), adadelta (rho).
Schedules: none, multistep (milestones in epochs, gamma), cosine (to 0 over all steps), cyclic (one cycle:
0 up to the base lr at ``peak`` of training, then down to 0, as Wong et al.'s CyclicLR and np.interp
schedules). All are applied per step, so a fractional epoch count behaves.

The GPU path (device cuda; CPU runs are plain float32 NCHW): mixed precision (float16 autocast and a
GradScaler) for recipes that allow it (``Recipe.amp``), the model and the batches in channels_last,
batches gathered into pinned host buffers and copied with non_blocking=True, and the running loss and
accuracy kept on the device (read back, and checked for NaN, every ``SYNC_EVERY`` steps and at the end
of each epoch) so the host never waits on the GPU in between.

Resuming: given a ``checkpoint`` (bench.execute.resume.Checkpoint), training saves its whole state at the
end of every epoch and, when a saved state exists, starts after its last finished epoch.
"""
from __future__ import annotations

import math
import time

import torch
from tqdm import tqdm

from bench.execute import progress, resume
from bench.data import Split, augment_batch
from bench.recipes import RECIPES, Recipe, StepState, TrainContext

SYNC_EVERY = 25  # steps between reads of the running loss (a GPU sync)


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
    if name == "cyclic":  # 0 -> 1 linearly until `peak` of training, then linearly back to 0 (one cycle)
        t, peak = step / max(1, total_steps), schedule.get("peak", 0.5)
        return t / peak if t < peak else (1 - t) / max(1e-12, 1 - peak)
    raise ValueError(f"unknown schedule {name!r}")


class Batches:
    """The batches of an epoch on the device. On CUDA each batch is gathered into one of two pinned
    host buffers and copied with non_blocking=True; an event per buffer keeps the next gather into it
    from overwriting a copy still in flight. Elsewhere: plain indexing."""

    def __init__(self, split: Split, batch_size: int, device: torch.device):
        self.x, self.y, self.bs, self.device = split.x, split.y, batch_size, device
        self.pinned = device.type == "cuda"
        if self.pinned:
            n = min(batch_size, len(split))
            self.buffers = [(torch.empty((n, *self.x.shape[1:]), dtype=self.x.dtype).pin_memory(),
                             torch.empty(n, dtype=self.y.dtype).pin_memory()) for _ in range(2)]
            self.copied = [None, None]

    def __call__(self, order: torch.Tensor):
        for b, start in enumerate(range(0, len(order), self.bs)):
            idx = order[start:start + self.bs]
            if not self.pinned:
                yield self.x[idx].to(self.device), self.y[idx].to(self.device)
                continue
            k = b % 2
            if self.copied[k] is not None:
                self.copied[k].synchronize()
            xb, yb = self.buffers[k][0][:len(idx)], self.buffers[k][1][:len(idx)]
            torch.index_select(self.x, 0, idx, out=xb)
            torch.index_select(self.y, 0, idx, out=yb)
            x, y = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            self.copied[k] = torch.cuda.Event()
            self.copied[k].record()
            yield x, y


def uses_amp(recipe, device: torch.device) -> bool:
    """Mixed precision: on CUDA only, for recipes that allow it (``Recipe.amp``). A recipe whose class
    overrides ``step`` gets it only if that class itself declares ``amp = True`` (its step then uses
    ``autocast()`` and ``backward()``); otherwise its update stays float32."""
    if device.type != "cuda" or not recipe.amp:
        return False
    owner = next(c for c in type(recipe).__mro__ if "step" in vars(c))
    return owner is Recipe or "amp" in vars(owner)


def make_recipe(model, method: str, settings: dict, info, device: torch.device, steps_per_epoch: int):
    """The recipe of a training config, set up on ``model`` (its context, mixed precision where it applies,
    its own state), and the model's optimizer: what a training run and a timed estimate step both use."""
    ctx = TrainContext(info=info, epochs=settings["epochs"], steps_per_epoch=steps_per_epoch, device=device)
    recipe = RECIPES.get(method)(settings["args"], ctx)
    recipe.scaler = torch.amp.GradScaler(device.type) if uses_amp(recipe, device) else None
    recipe.setup(model)
    return recipe, make_optimizer(list(model.parameters()), settings["optimizer"])


def train(model, method: str, settings: dict, train_split: Split, info, seed: int, device: torch.device,
          show_bar: bool = True, label: str = "", checkpoint=None) -> dict:
    """Train ``model`` in place with a resolved training config (bench.suite.cards.resolve_training: the
    recipe's ``args``, ``augment`` and the rest); returns the metadata of the checkpoint. With a
    ``checkpoint``, resume after its last saved epoch, and save the state after every epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    cuda = device.type == "cuda"
    model.to(device, memory_format=torch.channels_last if cuda else torch.preserve_format).train()
    bs = settings["batch_size"]
    n = len(train_split)
    steps_per_epoch = max(1, math.ceil(n / bs))
    epochs = settings["epochs"]
    recipe, optimizer = make_recipe(model, method, settings, info, device, steps_per_epoch)
    ctx, amp = recipe.ctx, recipe.scaler is not None
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    augment, crop = settings["augment"], settings.get("crop") or {}
    batches = Batches(train_split, bs, device)
    first, step, stats = 0, 0, {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
    saved = checkpoint.load() if checkpoint else None
    if saved is not None:
        first, step, stats = resume.restore(saved, model, optimizer, recipe, gen)
        line = f"resuming {label or method} at epoch {first + 1}/{epochs}"
        progress.say(line)
        if show_bar:
            tqdm.write(line)
    total_loss, total_correct, seen = stats["loss"], stats["correct"], stats["seen"]
    start = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, initial=step, desc=label or method, disable=not show_bar,
               leave=False, dynamic_ncols=True)
    for epoch in range(first, epochs):
        order = torch.randperm(n, generator=gen)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct_sum = torch.zeros((), dtype=torch.int64, device=device)
        seen, synced = 0, step
        for b, (x, y) in enumerate(batches(order)):
            x = augment_batch(x, augment, gen, **crop)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            factor = lr_factor(settings["schedule"], step, steps_per_epoch, ctx.total_steps)
            for group, lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = lr * factor
            loss, logits = recipe.step(model, optimizer, x, y, StepState(epoch, step, ctx))
            loss_sum += loss.double() * len(y)
            correct_sum += (logits.argmax(1) == y).sum()
            seen += len(y)
            step += 1
            if step - synced == SYNC_EVERY or b == steps_per_epoch - 1:
                total_loss, total_correct = loss_sum.item(), int(correct_sum.item())
                if not math.isfinite(total_loss):
                    raise FloatingPointError(f"{label or method}: loss became {total_loss} "
                                             f"between steps {synced} and {step - 1}")
                bar.update(step - synced)
                bar.set_postfix(epoch=epoch + 1, loss=f"{total_loss / seen:.3f}", acc=f"{total_correct / seen:.3f}")
                synced = step
        if checkpoint:
            checkpoint.save(resume.capture(model, optimizer, recipe, gen, epoch + 1, step, {
                "loss": total_loss, "correct": total_correct, "seen": seen,
                "seconds": stats["seconds"] + time.perf_counter() - start}))
        progress.epoch(label or method, epoch + 1, epochs, total_loss / max(1, seen), total_correct / max(1, seen),
                       time.perf_counter() - start, first)
    bar.close()
    model.eval()
    return {
        "train_seconds": stats["seconds"] + time.perf_counter() - start,
        "epochs": epochs,
        "steps": step,
        "final_train_loss": total_loss / max(1, seen),
        "final_train_accuracy": total_correct / max(1, seen),
        "amp": amp,
        "channels_last": cuda,
    }

"""One training epoch, the optimiser and the learning-rate schedule.

Importable and tested on their own; :mod:`trans3dhead.engine.fit` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trans3dhead.config import TrainConfig
from trans3dhead.data.device_augment import batch_to_device
from trans3dhead.engine.distributed import unwrap
from trans3dhead.engine.ema import ModelEMA
from trans3dhead.engine.step_window import NonFiniteLossError, StepWindow, parameters_finite
from trans3dhead.types import Batch

__all__ = [
    "NonFiniteLossError",
    "StepSchedule",
    "StepStats",
    "build_optimizer",
    "build_scheduler",
    "steps_per_step",
    "train_one_epoch",
    "use_fused_adam",
]


@dataclass
class StepStats:
    """What a report says about the ``steps`` optimiser steps since the previous one: epoch, global step
    and batch index in the epoch of the last of them, their mean weighted loss and mean named unweighted
    losses, the learning rate of the head parameters at the last step, items/s over the window (wall
    time, data loading included) and the items skipped as bad."""

    epoch: int
    step: int
    batch_index: int
    loss: float
    losses: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    items_per_s: float = 0.0
    skipped: int = 0
    steps: int = 1


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam with two groups: the backbone at ``lr * backbone_lr_mult``, everything else at ``lr``.

    Fused (one kernel for the whole update, no host sync even with a gradient scaler) when every
    parameter is a CUDA float tensor; the default implementation elsewhere (the CPU)."""
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    groups = [
        {
            "name": "backbone",
            "params": [p for p in model.parameters() if id(p) in backbone_ids and p.requires_grad],
            "lr": config.lr * config.backbone_lr_mult,
        },
        {
            "name": "heads",
            "params": [p for p in model.parameters() if id(p) not in backbone_ids and p.requires_grad],
            "lr": config.lr,
        },
    ]
    params = [p for g in groups for p in g["params"]]
    fused = {"fused": True} if use_fused_adam(params) else {}
    return torch.optim.Adam(
        [g for g in groups if g["params"]], lr=config.lr, weight_decay=config.weight_decay, **fused
    )


def use_fused_adam(params: list[torch.Tensor]) -> bool:
    """Whether Adam should run fused: only on CUDA, and only when every parameter there is a float."""
    return bool(params) and all(p.is_cuda and p.is_floating_point() for p in params)


class StepSchedule:
    """The paper's schedule on the optimiser-step axis: a linear warm-up over ``warmup_steps``, then
    ``lr x gamma`` at each milestone, a fraction of the ``total_steps`` planned for the run.

    With ``milestones=[2/3]`` over 360 epochs this is the paper's lr / 10 at epoch 240; in a short,
    budgeted run the milestone falls at two thirds of its steps rather than at an epoch boundary.
    """

    def __init__(self, *, total_steps: int, milestones: list[float], gamma: float, warmup_steps: int = 0):
        if total_steps < 1:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.milestones = sorted({max(1, round(f * total_steps)) for f in milestones})
        self.gamma, self.warmup_steps = gamma, warmup_steps

    def __call__(self, step: int) -> float:
        """Factor of the base lr for the update after ``step`` completed updates."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return warm * self.gamma ** sum(step >= m for m in self.milestones)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, *, total_steps: int):
    """``step`` (paper): a per-step :class:`StepSchedule` over the run's ``total_steps`` (call
    ``scheduler.step()`` after every optimiser step).  ``plateau`` (DAD-3DNet reference): reduce on the
    validation metric (call ``scheduler.step(value)`` after every validation)."""
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=config.gamma,
            patience=config.plateau_patience,
            min_lr=config.plateau_min_lr,
        )
    schedule = StepSchedule(
        total_steps=total_steps,
        milestones=config.milestones,
        gamma=config.gamma,
        warmup_steps=config.warmup_steps,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def steps_per_step(scheduler) -> bool:
    """Whether ``scheduler`` is stepped after every optimiser step (else after every validation)."""
    return isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR)


def _autocast(amp: str, device: torch.device, scaler: torch.amp.GradScaler | None):
    """The forward's mixed-precision context: ``amp`` off | bf16 | fp16 (fp16 needs the scaler)."""
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if amp == "fp16" or scaler is not None:
        return torch.autocast(device.type, dtype=torch.float16)
    return nullcontext()


def train_one_epoch(
    *,
    model: nn.Module,
    criterion: nn.Module,
    batches: Iterable[Batch | None],
    optimizer: torch.optim.Optimizer,
    epoch: int,
    step: int,
    device: torch.device,
    grad_clip: float = 0.0,
    scaler: torch.amp.GradScaler | None = None,
    amp: str = "off",
    first_batch_index: int = 0,
    max_steps: int = 0,
    scheduler=None,
    on_step: Callable[[StepStats], None] | None = None,
    report_at: Callable[[int], bool] | None = None,
    channels_last: bool = False,
    ema: ModelEMA | None = None,
    flip: Callable[..., tuple[torch.Tensor, Any]] | None = None,
) -> int:
    """Train over ``batches`` (None entries, batches whose items were all bad, are skipped).

    ``step`` is the global step before this epoch's first batch; returns the global step after the last.
    ``amp`` ("off", "bf16", "fp16") runs the forward under autocast; fp16 also needs ``scaler``.
    ``scheduler`` (optional) is stepped after every optimiser step.  ``channels_last`` feeds the images
    in that memory format (the model should be converted too).  ``ema`` (optional) moves its average
    towards the weights after every optimiser step.  Batches of the cache
    (:mod:`trans3dhead.data.cache`) are augmented here, on ``device``; ``flip`` (optional, a
    :class:`~trans3dhead.data.flip_augment.FlipAugment`) then mirrors some items of every batch.

    A step never waits for the device: losses and the finiteness checks stay there until a *report*,
    after every global step ``s`` with ``report_at(s)`` true (default: every step) and after the last
    step.  A report reads the steps since the previous one in one transfer and calls ``on_step`` with
    their means (logs, progress bars, checkpoints belong there).  A non-finite loss, or non-finite
    parameters after an update, raises :class:`NonFiniteLossError` at the report that sees it, naming
    the first bad step and its items (see :mod:`trans3dhead.engine.step_window`); at a report step a
    non-finite loss raises before any parameter is touched.
    """
    model.train()
    autocast = _autocast(amp, device, scaler)
    window = StepWindow(epoch=epoch)
    batch_index, lr = first_batch_index, 0.0
    for batch in batches:
        if batch is None:
            continue
        if max_steps and batch_index >= max_steps:
            break
        images, targets = batch_to_device(batch, device, channels_last=channels_last)
        if flip is not None:
            images, targets = flip(images, targets, step=step + 1)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
        with autocast:
            output = model(images)
            result = criterion(output, targets)
        report = report_at is None or report_at(step + 1)
        window.add_losses(
            step=step + 1,
            item_ids=batch.item_ids,
            skipped=batch.num_skipped,
            total=result.total,
            losses=result.losses,
        )
        if report:
            window.check()  # host sync: a bad loss of this window raises before this step's update
        _update(result.total, model=model, optimizer=optimizer, scaler=scaler, grad_clip=grad_clip)
        window.add_update(parameters_finite(model))
        if ema is not None:
            ema.update(unwrap(model))
        lr = optimizer.param_groups[-1]["lr"]  # the lr this update used
        if scheduler is not None:
            scheduler.step()
        step += 1
        batch_index += 1
        if report:
            _report(window, on_step, step=step, batch_index=batch_index, lr=lr)
    if len(window):
        _report(window, on_step, step=step, batch_index=batch_index, lr=lr)
    return step


def _update(total: torch.Tensor, *, model: nn.Module, optimizer, scaler, grad_clip: float) -> None:
    """Backward and one optimiser step (gradient scaling and clipping as configured)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(total).backward()
        scaler.unscale_(optimizer)
    else:
        total.backward()
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _report(window: StepWindow, on_step, *, step: int, batch_index: int, lr: float) -> None:
    stats = window.check()  # host sync: the window's losses and finiteness flags
    window.reset()
    if on_step is not None:
        on_step(
            StepStats(
                epoch=window.epoch,
                step=step,
                batch_index=batch_index,
                loss=stats.loss,
                losses=stats.losses,
                lr=lr,
                items_per_s=stats.items_per_s,
                skipped=stats.skipped,
                steps=stats.steps,
            )
        )

"""One training epoch, the optimiser and the learning-rate schedule.

Importable and tested on their own; :mod:`trans3dhead.engine.fit` puts them together.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn

from trans3dhead.config import TrainConfig
from trans3dhead.types import Batch

__all__ = [
    "NonFiniteLossError",
    "StepSchedule",
    "StepStats",
    "build_optimizer",
    "build_scheduler",
    "steps_per_step",
    "train_one_epoch",
]


class NonFiniteLossError(RuntimeError):
    """The loss, or the parameters after an update, became NaN or infinite; the message names the epoch,
    the step and the batch's item ids.  Raised before anything of that step is logged or checkpointed."""

    def __init__(
        self, *, epoch: int, step: int, item_ids: list[str], losses: dict[str, float], what: str = "loss"
    ) -> None:
        self.epoch, self.step, self.item_ids, self.losses = epoch, step, item_ids, losses
        shown = ", ".join(item_ids[:16]) + (f" (+{len(item_ids) - 16} more)" if len(item_ids) > 16 else "")
        terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        super().__init__(f"non-finite {what} at epoch {epoch} step {step} ({terms}); batch items: {shown}")


def _parameters_finite(model: nn.Module) -> bool:
    params = [p.detach() for p in model.parameters() if p.requires_grad]
    return bool(torch.isfinite(torch.stack(torch._foreach_norm(params))).all()) if params else True


@dataclass
class StepStats:
    """What a training step reports: epoch, global step, batch index in the epoch, weighted loss, the
    named unweighted losses, learning rate of the head parameters, items/s of this step, skipped items."""

    epoch: int
    step: int
    batch_index: int
    loss: float
    losses: dict[str, float] = field(default_factory=dict)
    lr: float = 0.0
    items_per_s: float = 0.0
    skipped: int = 0


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam with two groups: the backbone at ``lr * backbone_lr_mult``, everything else at ``lr``."""
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
    return torch.optim.Adam(
        [g for g in groups if g["params"]], lr=config.lr, weight_decay=config.weight_decay
    )


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
) -> int:
    """Train over ``batches`` (None entries, batches whose items were all bad, are skipped).

    ``step`` is the global step before this epoch's first batch; returns the global step after the last.
    ``amp`` ("off", "bf16", "fp16") runs the forward under autocast; fp16 also needs ``scaler``.
    ``scheduler`` (optional) is stepped after every optimiser step; ``on_step`` is called after every
    optimiser step (progress bars, logs, checkpoints).  A non-finite loss
    raises :class:`NonFiniteLossError` before any parameter is touched.
    """
    model.train()
    autocast = _autocast(amp, device, scaler)
    batch_index = first_batch_index
    for batch in batches:
        if batch is None:
            continue
        if max_steps and batch_index >= max_steps:
            break
        start = time.perf_counter()
        images, targets = batch.images.to(device, non_blocking=True), batch.targets.to(device)
        with autocast:
            output = model(images)
            result = criterion(output, targets)
        losses = {k: float(v.detach()) for k, v in result.losses.items()}
        if not math.isfinite(float(result.total.detach())):
            raise NonFiniteLossError(epoch=epoch, step=step + 1, item_ids=batch.item_ids, losses=losses)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(result.total).backward()
            scaler.unscale_(optimizer)
        else:
            result.total.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if not _parameters_finite(model):
            raise NonFiniteLossError(
                epoch=epoch,
                step=step + 1,
                item_ids=batch.item_ids,
                losses=losses,
                what="parameters after the update",
            )
        lr = optimizer.param_groups[-1]["lr"]  # the lr this update used
        if scheduler is not None:
            scheduler.step()
        step += 1
        batch_index += 1
        if on_step is not None:
            on_step(
                StepStats(
                    epoch=epoch,
                    step=step,
                    batch_index=batch_index,
                    loss=float(result.total.detach()),
                    losses=losses,
                    lr=lr,
                    items_per_s=len(batch.item_ids) / (time.perf_counter() - start),
                    skipped=batch.num_skipped,
                )
            )
    return step

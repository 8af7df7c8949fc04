"""The training steps since the last report, kept on the device so that a step never waits for the GPU.

Every optimiser step appends its losses (a small device tensor: total, then the named losses) and, after
the update, a device flag saying whether the parameters are still finite.  Nothing is read back until a
*report*: :meth:`StepWindow.check` reads the whole window in one host transfer, raises
:class:`NonFiniteLossError` for its first bad step (a non-finite loss, or non-finite parameters after
the update, in step order) and otherwise returns the window's means for the logs.

This is what makes the non-finite check asynchronous: a bad step is detected at the next report, not at
the step itself.  The error still names the first bad step, its batch's items and its losses, and nothing
of the window has been logged or checkpointed; but the steps between the bad one and the report have
updated the weights in memory.  Reporting after every step restores the old, strict behaviour.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = ["NonFiniteLossError", "StepWindow", "WindowStats", "parameters_finite"]


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


def parameters_finite(model: nn.Module) -> Tensor:
    """A 0-dim bool device tensor: every trainable parameter is finite (no host sync)."""
    params = [p.detach() for p in model.parameters() if p.requires_grad]
    if not params:
        return torch.ones((), dtype=torch.bool)
    return torch.isfinite(torch.stack(torch._foreach_norm(params))).all()


@dataclass
class _Step:
    step: int
    item_ids: list[str]
    names: list[str]
    skipped: int


@dataclass
class WindowStats:
    """Means over the steps of a window (``steps`` of them) and its throughput, from one host read."""

    steps: int
    loss: float
    losses: dict[str, float] = field(default_factory=dict)
    items_per_s: float = 0.0
    skipped: int = 0


class StepWindow:
    """Losses and finiteness flags of the steps since the last report, on the device (see module doc)."""

    def __init__(self, *, epoch: int) -> None:
        self.epoch = epoch
        self._steps: list[_Step] = []
        self._losses: list[Tensor] = []
        self._finite: list[Tensor] = []
        self._start = time.perf_counter()

    def __len__(self) -> int:
        return len(self._steps)

    def add_losses(
        self, *, step: int, item_ids: list[str], skipped: int, total: Tensor, losses: dict
    ) -> None:
        """Record a step's weighted total and named losses (before its update)."""
        row = torch.stack([total.detach().float(), *(v.detach().float() for v in losses.values())])
        self._steps.append(_Step(step=step, item_ids=list(item_ids), names=list(losses), skipped=skipped))
        self._losses.append(row)

    def add_update(self, finite: Tensor) -> None:
        """Record whether the parameters are finite after the last recorded step's update."""
        self._finite.append(finite.reshape(1).float())

    def check(self) -> WindowStats:
        """Read the window (one host sync); raise for its first bad step, else return its means."""
        values = torch.cat([*self._losses, *self._finite]).tolist()  # deliberate host sync: the report
        rows, offset = [], 0
        for s in self._steps:
            rows.append(values[offset : offset + 1 + len(s.names)])
            offset += 1 + len(s.names)
        flags = values[offset:]
        for i, (s, row) in enumerate(zip(self._steps, rows, strict=True)):
            losses = dict(zip(s.names, row[1:], strict=True))
            if not math.isfinite(row[0]):
                raise NonFiniteLossError(epoch=self.epoch, step=s.step, item_ids=s.item_ids, losses=losses)
            if i < len(flags) and not flags[i]:
                raise NonFiniteLossError(
                    epoch=self.epoch,
                    step=s.step,
                    item_ids=s.item_ids,
                    losses=losses,
                    what="parameters after the update",
                )
        return self._means(rows)

    def _means(self, rows: list[list[float]]) -> WindowStats:
        sums: dict[str, list[float]] = {}
        for s, row in zip(self._steps, rows, strict=True):
            for name, value in zip(s.names, row[1:], strict=True):
                sums.setdefault(name, []).append(value)
        items = sum(len(s.item_ids) for s in self._steps)
        return WindowStats(
            steps=len(self._steps),
            loss=sum(row[0] for row in rows) / max(len(rows), 1),
            losses={name: sum(v) / len(v) for name, v in sums.items()},
            items_per_s=items / max(time.perf_counter() - self._start, 1e-9),
            skipped=sum(s.skipped for s in self._steps),
        )

    def reset(self) -> None:
        """Start a new window (after a report)."""
        self._steps, self._losses, self._finite = [], [], []
        self._start = time.perf_counter()

"""An exponential moving average of a model's weights (``train.ema_decay``), kept beside the trained model.

After every optimiser step the average moves towards the live weights::

    ema <- d_t * ema + (1 - d_t) * live,    d_t = min(decay, (1 + t) / (10 + t))

where ``t`` counts the updates of this run (so the first steps, and a run that starts from random
weights, do not drag in stale values for long; the warm-up is the one TensorFlow's and timm's averages
use).  Every floating-point entry of the state dict is averaged, the batch-norm running statistics
included; integer buffers (batch-norm's step counters) are copied.

The averaged model is what a run with EMA validates, selects ``best.pt`` on and writes as a checkpoint's
``"model"`` (so eval, predict, ``init_from``, ``slim-checkpoint`` and checkpoint averaging use it without
knowing of EMA); the live weights, which the optimiser state belongs to, go to ``"train_model"`` and are
what a resumed run continues from.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA", "ema_decay_at"]


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay of update number ``updates`` (0-based): ``min(decay, (1 + t) / (10 + t))``."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class ModelEMA:
    """The moving average of ``model``'s weights: a frozen copy in eval mode, updated by :meth:`update`."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if isinstance(decay, bool) or not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay!r}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step towards ``model``'s current weights (the same architecture as the copy)."""
        d = ema_decay_at(self.decay, self.updates)
        live = model.state_dict()
        averaged, averaged_live, copied, copied_live = [], [], [], []
        for key, value in self.module.state_dict().items():
            if value.is_floating_point():
                averaged.append(value)
                averaged_live.append(live[key].detach())
            else:
                copied.append(value)
                copied_live.append(live[key])
        if averaged:
            torch._foreach_lerp_(averaged, averaged_live, 1.0 - d)
        for value, new in zip(copied, copied_live, strict=True):
            value.copy_(new)
        self.updates += 1

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any], *, updates: int) -> None:
        """Restore the average (a checkpoint's ``"model"``) and how many updates made it."""
        self.module.load_state_dict(state)
        self.updates = int(updates)

"""Reprojection loss: SmoothL1 between projected vertex subsets, in crop pixels.

See ``docs/conventions.md`` section 9.

Letters: B batch, V vertices.  ``loss = sum_k w_k * mean_{B, V_k, xy} smoothl1_beta(pred - gt)`` over the
subsets (face and head, 0.5 each, by default in the criterion); beta = 1 pixel as in the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["reprojection_loss"]


def reprojection_loss(
    predicted: Tensor, target: Tensor, subsets: Sequence[tuple[Tensor, float]], *, beta: float = 1.0
) -> Tensor:
    """Weighted SmoothL1 of projected vertices.

    Args:
        predicted: (B, V, 2) predicted vertices projected to the crop, pixels.
        target: (B, V, 2) GT projections, pixels.
        subsets: (vertex indices (V_s,), weight) pairs.
        beta: SmoothL1's switch point in pixels.

    Returns:
        A scalar tensor.
    """
    if predicted.ndim != 3 or predicted.shape[-1] != 2 or predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target must both have shape (B, V, 2), got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )
    if not subsets:
        raise ValueError("subsets must name at least one (indices, weight) pair")
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got beta={beta}")
    terms = [
        weight * F.smooth_l1_loss(predicted[:, idx], target[:, idx], beta=beta) for idx, weight in subsets
    ]
    return torch.stack(terms).sum()

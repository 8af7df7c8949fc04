"""DAD-3DNet's heatmap loss (``docs/conventions.md`` section 9, reference code): soft IoU on sigmoid heatmaps.

Letters: B batch, N landmarks (channels), h/w heatmap size.

Targets: one map per landmark, a Gaussian of radius r (window (2r + 1)^2, sigma = (2r + 1) / 6, peak 1)
centred at the integer cell ``floor(point / stride)`` (x = column, y = row) and cut at the map border;
landmarks that are not present get an empty map.  ``stride = 4``, ``r = 5`` gives 64 x 64 maps for a
256-px crop.

Loss: ``1 - mean_{B, N}[(sum y s + 1e-6) / (sum y^2 + sum s^2 - sum y s + 1e-6)]`` with ``s = sigmoid``
of the predicted logits and sums over the map.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gaussian_heatmaps", "soft_iou_loss"]

_IOU_EPS = 1e-6


def gaussian_heatmaps(
    points: Tensor, presence: Tensor, *, height: int, width: int, stride: int = 4, radius: int = 5
) -> Tensor:
    """Target heatmaps (B, N, h, w) from points (B, N, 2) in crop pixels and presence (B, N).

    A NaN point gives a NaN map, present or not (never a silently empty one).
    """
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (B, N, 2), got {tuple(points.shape)}")
    if tuple(presence.shape) != tuple(points.shape[:2]):
        raise ValueError(f"presence must have shape {tuple(points.shape[:2])}, got {tuple(presence.shape)}")
    if height < 1 or width < 1 or stride < 1 or radius < 0:
        raise ValueError(
            f"need height, width, stride >= 1 and radius >= 0, got height={height}, width={width}, "
            f"stride={stride}, radius={radius}"
        )
    sigma = (2 * radius + 1) / 6.0
    centre = torch.floor(points / stride)  # (B, N, 2) integer cells
    cols = torch.arange(width, dtype=points.dtype, device=points.device)
    rows = torch.arange(height, dtype=points.dtype, device=points.device)
    dx = cols - centre[..., 0:1]  # (B, N, w)
    dy = rows - centre[..., 1:2]  # (B, N, h)
    gx = torch.exp(-(dx**2) / (2 * sigma**2)) * (dx.abs() <= radius).to(points.dtype)
    gy = torch.exp(-(dy**2) / (2 * sigma**2)) * (dy.abs() <= radius).to(points.dtype)
    maps = gy[..., :, None] * gx[..., None, :]  # (B, N, h, w): the Gaussian is separable
    return maps * presence.to(points.dtype)[..., None, None]


def soft_iou_loss(logits: Tensor, target: Tensor) -> Tensor:
    """logits (B, N, h, w), target (B, N, h, w) in [0, 1] -> scalar ``1 - mean soft IoU``."""
    if logits.ndim != 4 or logits.shape != target.shape:
        raise ValueError(
            f"logits and target must both have shape (B, N, h, w), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )
    s = torch.sigmoid(logits).flatten(2)  # (B, N, h * w)
    y = target.flatten(2)
    overlap = (y * s).sum(-1)  # (B, N)
    union = (y * y).sum(-1) + (s * s).sum(-1) - overlap
    return 1.0 - ((overlap + _IOU_EPS) / (union + _IOU_EPS)).mean()

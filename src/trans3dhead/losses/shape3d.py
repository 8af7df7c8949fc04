"""3D head-shape loss (``docs/conventions.md`` section 9): MSE between unit-cube-normalised vertex subsets.

Letters: B batch, V vertices, V_s vertices of a subset.

Each mesh subset is normalised on its own, prediction and GT separately, with the reference formula::

    v = v - min_V(v)          # per coordinate: the box starts at 0
    v = v - 0.5 * max_V(v)    # per coordinate: the box is centred at 0
    v = v / max_{xyz}(max_V(v))  # one factor for all coordinates: the longest side spans [-1, 1]

so translation and uniform scale are removed and the aspect ratio is kept.  A degenerate subset (all
vertices equal) divides by zero and gives NaN, which is not hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["normalize_to_unit_cube", "shape3d_loss"]


def normalize_to_unit_cube(vertices: Tensor) -> Tensor:
    """(B, V, 3) or (V, 3) -> the same shape, centred, the longest bounding-box side spanning [-1, 1]."""
    if vertices.ndim not in (2, 3) or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must have shape (B, V, 3) or (V, 3), got {tuple(vertices.shape)}")
    v = vertices - vertices.amin(dim=-2, keepdim=True)  # (..., V, 3) minus (..., 1, 3)
    v = v - 0.5 * v.amax(dim=-2, keepdim=True)
    return v / v.amax(dim=(-2, -1), keepdim=True)  # (..., 1, 1): the half-length of the longest side


def shape3d_loss(predicted: Tensor, target: Tensor, subsets: Sequence[tuple[Tensor, float]]) -> Tensor:
    """``sum_k w_k * MSE(cube(pred[:, idx_k]), cube(target[:, idx_k]))``.

    Args:
        predicted: (B, V, 3) zero-rotation predicted vertices.
        target: (B, V, 3) GT vertices (model space, no global pose).
        subsets: (vertex indices (V_s,), weight) pairs.

    Returns:
        A scalar tensor.
    """
    if predicted.ndim != 3 or predicted.shape[-1] != 3 or predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target must both have shape (B, V, 3), got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )
    if not subsets:
        raise ValueError("subsets must name at least one (indices, weight) pair")
    terms = [
        weight * F.mse_loss(normalize_to_unit_cube(predicted[:, idx]), normalize_to_unit_cube(target[:, idx]))
        for idx, weight in subsets
    ]
    return torch.stack(terms).sum()

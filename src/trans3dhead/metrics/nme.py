"""Reprojection NME of the DAD-3DHeads benchmark (``docs/conventions.md`` section 11).

``NME = 100 * mean_N ||target - pred||_2 / sqrt(bbox_w * bbox_h)``, in original-image pixels, on the 68
landmarks (the benchmark's metric) or on any other point set (the dense 191 / 445 subsets).

Letters: N points, ``...`` leading (batch) dimensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trans3dhead.metrics._checks import as_array

__all__ = ["bbox_normaliser", "nme"]


def bbox_normaliser(bbox: Any) -> np.ndarray:
    """``sqrt(w * h)`` of boxes ``[x, y, w, h]`` (..., 4) -> (...) float32; w and h must be positive."""
    box = as_array(bbox, "bbox", trailing=(4,), dtype=np.float64)
    if not np.all(np.isfinite(box)) or np.any(box[..., 2:] <= 0):
        raise ValueError(f"bbox must be finite [x, y, w, h] with w > 0 and h > 0, got {box.tolist()}")
    # computed in float64 like np.sqrt(w * h) on the JSON numbers, then used as a float32 divisor
    return np.sqrt(box[..., 2] * box[..., 3]).astype(np.float32)


def nme(pred: Any, target: Any, *, bbox: Any) -> np.ndarray:
    """Normalised mean error (x100) of predicted 2D points.

    The arithmetic follows the reference benchmark under numpy 1.x, the version it pins: point errors,
    their division by ``sqrt(w * h)`` and the mean over N in float32, the final ``* 100`` in float64.

    Args:
        pred: (..., N, 2) predicted points, original-image pixels.
        target: (..., N, 2) ground-truth points.
        bbox: (..., 4) head boxes ``[x, y, w, h]``.

    Returns:
        (...) float64 NME values (a 0-d array for a single image).
    """
    pred = as_array(pred, "pred", trailing=(None, 2))
    target = as_array(target, "target", trailing=(None, 2))
    if pred.shape[-2] != target.shape[-2]:
        raise ValueError(f"pred has {pred.shape[-2]} points but target has {target.shape[-2]}")
    errors = np.linalg.norm(target - pred, 2, -1)  # (..., N) float32
    normalised = errors / bbox_normaliser(bbox)[..., None]  # float32 / float32
    return normalised.mean(axis=-1).astype(np.float64) * 100.0

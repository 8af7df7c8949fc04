"""Z_n accuracy: agreement of the depth order of nearby vertices (``docs/conventions.md`` section 11).

For GT points G and predicted points P in the same topology (the head subset, z pointing away from the
camera), ``Z_n = mean_{i,j} [(G[i,z] >= G[S[i,j],z]) == (P[i,z] >= P[S[i,j],z])]`` for a comparison index
table S of shape (V, n) that depends only on the GT.

* ``"reference"`` (default): the table the benchmark actually builds, ``argsort(cdist(G, G), dim=0)[:,
  1:n+1]``.  Sorting along dim 0 sorts each *column* of the distance matrix, so ``S[i, j]`` is the vertex
  that ranks i-th in distance from vertex ``j + 1`` -- not vertex i's j-th neighbour.  Only columns 1..n
  are used, so this needs n distance columns and n sorts of length V, never the V x V matrix.  Distances
  are exact (float64 from the float32 points) and ties are broken by vertex index; the reference's
  float32 ``torch.cdist`` goes through a matrix product whose rounding reorders near-equal distances
  in a machine-dependent way (about 1e-4 of Z5 per image, zero-mean), see ``"reference_cdist"``.
* ``"reference_cdist"``: the reference's literal computation (full float32 ``torch.cdist``, unstable
  ``torch.argsort``) for bit-level comparisons on one machine; O(V^2) memory, seconds per image.
* ``"knn"``: the metric as the paper describes it, ``S[i]`` = the n nearest neighbours of vertex i
  (itself excluded), found with a k-d tree; ties between equal distances are broken arbitrarily.

Letters: V points, n compared points per row, ``...`` leading (batch) dimensions.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from scipy.spatial import cKDTree

from trans3dhead.metrics._checks import as_array

__all__ = ["Z5_VARIANTS", "comparison_indices", "z_order_accuracy", "zn_accuracy"]

Z5Variant = Literal["reference", "reference_cdist", "knn"]
Z5_VARIANTS: tuple[str, ...] = ("reference", "reference_cdist", "knn")


def _reference_indices(points: np.ndarray, n: int) -> np.ndarray:
    """(V, 3) float32 -> (V, n): column-wise ranks of the distances from vertices 1..n."""
    g = points.astype(np.float64)
    squared = np.sum((g[None, :, :] - g[1 : n + 1, None, :]) ** 2, axis=-1)  # (n, V) = D[:, 1:n+1]^2 .T
    return np.argsort(squared, axis=1, kind="stable").T  # sorting contiguous rows is faster


def _reference_cdist_indices(points: np.ndarray, n: int) -> np.ndarray:
    t = torch.from_numpy(points)
    return torch.argsort(torch.cdist(t, t), dim=0)[:, 1 : n + 1].numpy()


def _knn_indices(points: np.ndarray, n: int) -> np.ndarray:
    """(V, 3) -> (V, n): each point's n nearest other points, nearest first."""
    count = points.shape[0]
    query = min(n + 2, count)  # one spare: a duplicate point may come back before the point itself
    _, idx = cKDTree(points.astype(np.float64)).query(points.astype(np.float64), k=query)
    not_self_first = np.argsort(idx == np.arange(count)[:, None], axis=1, kind="stable")
    return np.take_along_axis(idx, not_self_first, axis=1)[:, :n]


def comparison_indices(gt_points: Any, *, n: int = 5, variant: Z5Variant = "reference") -> np.ndarray:
    """The comparison index table S of one GT point set: (V, 3) -> (V, n) int64 (see the module doc)."""
    points = as_array(gt_points, "gt_points", trailing=(None, 3))
    if points.ndim != 2:
        raise ValueError(f"gt_points must have shape (V, 3), got {points.shape}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if points.shape[0] < n + 1:
        raise ValueError(f"Z{n} needs at least {n + 1} points, got {points.shape[0]}")
    builders = {
        "reference": _reference_indices,
        "reference_cdist": _reference_cdist_indices,
        "knn": _knn_indices,
    }
    if variant not in builders:
        raise ValueError(f"variant must be one of {Z5_VARIANTS}, got {variant!r}")
    return builders[variant](points, n).astype(np.int64)


def z_order_accuracy(pred_points: Any, gt_points: Any, indices: np.ndarray) -> float:
    """Fraction of the (i, S[i, j]) pairs whose depth order (``>=`` on z) agrees between GT and prediction.

    Args:
        pred_points: (V, 3) predicted points (only z is used), compared in float32.
        gt_points: (V, 3) GT points in the same topology.
        indices: (V, n) comparison table from :func:`comparison_indices`.

    Returns:
        The accuracy in [0, 1], rounded to float32 as the benchmark's ``torch.mean`` does.
    """
    gt = as_array(gt_points, "gt_points", trailing=(None, 3))
    pred = as_array(pred_points, "pred_points", trailing=(None, 3))
    if pred.shape != gt.shape or gt.ndim != 2:
        raise ValueError(f"pred_points and gt_points must both be (V, 3), got {pred.shape} and {gt.shape}")
    table = np.asarray(indices)
    if table.ndim != 2 or table.shape[0] != gt.shape[0]:
        raise ValueError(f"indices must have shape ({gt.shape[0]}, n), got {table.shape}")
    gz, pz = gt[:, 2], pred[:, 2]
    agree = (gz[:, None] >= gz[table]) == (pz[:, None] >= pz[table])  # (V, n)
    return float(np.float32(np.count_nonzero(agree)) / np.float32(agree.size))


def zn_accuracy(
    pred_points: Any, gt_points: Any, *, n: int = 5, variant: Z5Variant = "reference"
) -> np.ndarray:
    """Z_n accuracy of predictions against GT in the same topology.

    Args:
        pred_points: (..., V, 3) predicted points, z away from the camera.
        gt_points: (..., V, 3) GT points (the benchmark passes ``-(MV v)`` on the head subset).
        n: compared points per vertex (5 for Z5).
        variant: ``"reference"``, ``"reference_cdist"`` or ``"knn"`` (see the module doc).

    Returns:
        (...) float64 accuracies (a 0-d array for a single item).
    """
    gt = as_array(gt_points, "gt_points", trailing=(None, 3))
    pred = as_array(pred_points, "pred_points", trailing=(None, 3))
    if pred.shape != gt.shape:
        raise ValueError(
            f"pred_points and gt_points must have the same shape, got {pred.shape} and {gt.shape}"
        )
    flat_gt, flat_pred = gt.reshape(-1, *gt.shape[-2:]), pred.reshape(-1, *pred.shape[-2:])
    values = [
        z_order_accuracy(p, g, comparison_indices(g, n=n, variant=variant))
        for p, g in zip(flat_pred, flat_gt, strict=True)
    ]
    return np.asarray(values, dtype=np.float64).reshape(gt.shape[:-2])

"""Chamfer distance of the DAD-3DHeads benchmark (``docs/conventions.md`` section 11).

1. The GT camera-frame vertices ``MV . v`` are scaled so that the inner eye corners (landmarks 39 and
   42) are ``INTER_EYE_DISTANCE`` = 20 apart.
2. The 7 keypoints (landmarks 36, 39, 42, 45, 33, 48, 54) of the scaled GT are the Procrustes target of
   the 7 predicted keypoints (MATLAB-style: scaling, reflection allowed); the fitted transform is applied
   to every predicted point.
3. One-sided distance: for each GT vertex of the face subset, the squared distance to the nearest
   aligned predicted point; the metric is their mean (a mean of *squared* distances).

Everything runs in float32 as in the benchmark.  Nearest neighbours come from a k-d tree (exact), and
the squared distances are then recomputed in float32.  Letters: V GT vertices, M predicted points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from trans3dhead.metrics._checks import as_array
from trans3dhead.metrics.procrustes import procrustes
from trans3dhead.metrics.topology import BenchmarkTopology

__all__ = ["INTER_EYE_DISTANCE", "chamfer_distance", "one_sided_chamfer", "scale_to_eye_distance"]

#: Distance between the inner eye corners after GT scaling (the benchmark's "mean inter-eye distance").
INTER_EYE_DISTANCE = 20.0


def one_sided_chamfer(source: Any, target: Any) -> float:
    """Mean over ``source`` (S, 3) of the squared distance to the nearest point of ``target`` (M, 3).

    Computed in float32 and returned as the float32 value (as a Python float).
    """
    src = as_array(source, "source", trailing=(None, 3))
    tgt = as_array(target, "target", trailing=(None, 3))
    if src.ndim != 2 or tgt.ndim != 2 or len(src) == 0 or len(tgt) == 0:
        raise ValueError(
            f"source and target must be non-empty (S, 3) and (M, 3), got {src.shape}, {tgt.shape}"
        )
    tree = cKDTree(tgt.astype(np.float64), balanced_tree=False, compact_nodes=False)  # faster to build
    _, nearest = tree.query(src.astype(np.float64), k=1)
    offset = src - tgt[nearest]  # (S, 3) float32
    squared = offset[:, 0] * offset[:, 0] + offset[:, 1] * offset[:, 1] + offset[:, 2] * offset[:, 2]
    return float(squared.mean(dtype=np.float32))


def scale_to_eye_distance(camera_vertices: Any, topology: BenchmarkTopology) -> np.ndarray:
    """GT camera-frame vertices (V, 3) scaled so that landmarks 39 and 42 are 20 apart, float32."""
    vertices = as_array(camera_vertices, "camera_vertices", trailing=(topology.num_vertices, 3))
    keypoints = topology.keypoints_3d(vertices)  # (7, 3); rows 1 and 2 are the inner eye corners
    eye_distance = np.linalg.norm(keypoints[1] - keypoints[2])
    if not np.isfinite(eye_distance) or eye_distance <= 0:
        raise ValueError(
            f"GT inner eye corners are {eye_distance} apart: cannot scale to {INTER_EYE_DISTANCE}"
        )
    # the benchmark divides in float64 and multiplies a float32 tensor: the factor is rounded to float32
    return vertices * np.float32(INTER_EYE_DISTANCE / float(eye_distance))


def chamfer_distance(
    gt_camera_vertices: Any, pred_points: Any, pred_keypoints: Any, *, topology: BenchmarkTopology
) -> float:
    """The benchmark's Chamfer distance of one image.

    Args:
        gt_camera_vertices: (V, 3) GT vertices in the camera frame, ``(MV @ [v, 1])[:3]``.
        pred_points: (M, 3) predicted points (any count and topology).
        pred_keypoints: (7, 3) predicted keypoints, in the frame of ``pred_points``.
        topology: landmark embedding and the face subset.

    Raises:
        ValueError: bad shapes, or predicted keypoints that all coincide (no alignment exists).
    """
    scaled = scale_to_eye_distance(gt_camera_vertices, topology)
    points = as_array(pred_points, "pred_points", trailing=(None, 3))
    keypoints = as_array(pred_keypoints, "pred_keypoints", trailing=(len(topology.keypoints), 3))
    fit = procrustes(topology.keypoints_3d(scaled), keypoints)
    aligned = fit.transform.apply(points)  # (M, 3) float32
    return one_sided_chamfer(scaled[topology.face], aligned)

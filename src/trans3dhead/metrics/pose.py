"""Head pose metrics of the DAD-3DHeads benchmark (``docs/conventions.md`` section 11) and the rotation angle.

Letters: ``...`` leading (batch) dimensions.  Rotations act on column vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trans3dhead.geometry import gt_rotation, rotation_distance
from trans3dhead.metrics._checks import as_array

__all__ = ["gt_pose_rotation", "pose_angle", "pose_error"]


def gt_pose_rotation(model_view: Any) -> np.ndarray:
    """Ground-truth rotation ``(diag(1, -1, -1, 1) @ MV)[:3, :3]``: (..., 4, 4) -> (..., 3, 3) float64.

    MV is rounded to float32 first, as the benchmark reads it; the sign flips are exact in float64.
    """
    mv = as_array(model_view, "model_view", trailing=(4, 4)).astype(np.float64)
    return gt_rotation(torch.from_numpy(mv)).numpy()


def pose_error(pred_rotation: Any, gt_rotation_matrix: Any) -> np.ndarray:
    """``||I - R_pred R_gt^T||_F``: (..., 3, 3), (..., 3, 3) -> (...) float64.

    ``R_pred`` is rounded to float32 (as the benchmark reads a submission), the rest is float64.  For
    rotations this is ``2 sqrt(2) sin(theta / 2)`` with theta the angle of ``R_pred R_gt^T``; any 3x3
    matrix is accepted, as the benchmark does.
    """
    pred = as_array(pred_rotation, "pred_rotation", trailing=(3, 3)).astype(np.float64)
    gt = as_array(gt_rotation_matrix, "gt_rotation", trailing=(3, 3), dtype=np.float64)
    difference = np.eye(3) - pred @ np.swapaxes(gt, -1, -2)
    return np.sqrt(np.sum(difference * difference, axis=(-2, -1)))


def pose_angle(pred_rotation: Any, gt_rotation_matrix: Any) -> np.ndarray:
    """Geodesic angle of ``R_pred R_gt^T`` in degrees: (..., 3, 3), (..., 3, 3) -> (...) float64.

    Not part of the reference benchmark; reported beside the pose error because degrees read easily.
    """
    pred = as_array(pred_rotation, "pred_rotation", trailing=(3, 3)).astype(np.float64)
    gt = as_array(gt_rotation_matrix, "gt_rotation", trailing=(3, 3), dtype=np.float64)
    return rotation_distance(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()

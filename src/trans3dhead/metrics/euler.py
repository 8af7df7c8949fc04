"""Euler-angle errors for AFLW2000-3D (``docs/conventions.md`` sections 5 and 11).

Angles are (roll, pitch, yaw) in degrees in the benchmark convention of
:func:`trans3dhead.geometry.matrix_to_euler`.  The usual AFLW2000-3D protocol reports the mean absolute
error of yaw, pitch and roll and their mean (MAE), on the images whose GT angles all lie within
[-99, 99] degrees.  Letters: B images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from trans3dhead.errors import InputError
from trans3dhead.geometry import matrix_to_euler, wrap_angle
from trans3dhead.metrics._checks import as_array

__all__ = ["EulerMAE", "euler_angles", "euler_errors", "euler_mae"]

#: GT angles beyond this (degrees) are left out by the usual AFLW2000-3D protocol.
AFLW2000_MAX_ANGLE = 99.0


def euler_angles(rotation: Any) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> (roll, pitch, yaw) in degrees (..., 3), float64."""
    matrix = as_array(rotation, "rotation", trailing=(3, 3), dtype=np.float64)
    return matrix_to_euler(torch.from_numpy(matrix)).numpy()


def euler_errors(pred_euler: Any, gt_euler: Any, *, wrap: bool = False) -> np.ndarray:
    """Absolute angle errors (..., 3) -> (..., 3) in degrees.

    With ``wrap`` the difference is first wrapped to (-180, 180] (so 179 vs -179 is 2 degrees); the
    usual protocol does not wrap.
    """
    pred = as_array(pred_euler, "pred_euler", trailing=(3,), dtype=np.float64)
    gt = as_array(gt_euler, "gt_euler", trailing=(3,), dtype=np.float64)
    difference = pred - gt
    return np.abs(wrap_angle(difference) if wrap else difference)


@dataclass(frozen=True)
class EulerMAE:
    """Mean absolute errors in degrees over ``count`` images (``excluded`` left out by the angle filter)."""

    yaw: float
    pitch: float
    roll: float
    mean: float
    count: int
    excluded: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def euler_mae(
    pred_euler: Any, gt_euler: Any, *, max_abs_gt: float | None = AFLW2000_MAX_ANGLE, wrap: bool = False
) -> EulerMAE:
    """AFLW2000-3D table: MAE of yaw, pitch, roll and their mean.

    Args:
        pred_euler: (B, 3) predicted (roll, pitch, yaw) in degrees.
        gt_euler: (B, 3) GT (roll, pitch, yaw) in degrees.
        max_abs_gt: keep images whose GT angles are all within [-max_abs_gt, max_abs_gt]; None keeps all.
        wrap: wrap differences to (-180, 180] first.
    """
    errors = euler_errors(pred_euler, gt_euler, wrap=wrap)
    gt = as_array(gt_euler, "gt_euler", trailing=(3,), dtype=np.float64)
    if errors.ndim != 2:
        raise ValueError(f"pred_euler and gt_euler must be (B, 3), got {errors.shape}")
    keep = np.ones(len(gt), dtype=bool) if max_abs_gt is None else np.all(np.abs(gt) <= max_abs_gt, axis=1)
    if not keep.any():
        raise InputError(f"no image has all GT angles within +-{max_abs_gt} degrees")
    roll, pitch, yaw = errors[keep].mean(axis=0)
    return EulerMAE(
        yaw=float(yaw),
        pitch=float(pitch),
        roll=float(roll),
        mean=float((yaw + pitch + roll) / 3.0),
        count=int(keep.sum()),
        excluded=int((~keep).sum()),
    )

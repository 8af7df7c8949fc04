"""Euler-angle loss (paper section 3.4.1, Eq. 7): SmoothL1 between predicted and GT (roll, pitch, yaw).

Letters: B batch.  The predicted angles come from the predicted rotation through
:func:`trans3dhead.geometry.matrix_to_euler` (the benchmark convention, degrees).  The difference is
wrapped to (-180, 180] before the SmoothL1, so 179 vs -179 degrees is a 2 degree error, not 358; the
gradient is unchanged elsewhere.  ``loss = mean_{B, 3} smoothl1_beta(wrap(E_pred - E_gt))``.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from trans3dhead.geometry.rotation import matrix_to_euler, wrap_angle

__all__ = ["euler_loss"]


def euler_loss(rotation: Tensor, target_euler: Tensor, *, beta: float = 1.0) -> Tensor:
    """rotation (B, 3, 3) predicted, target_euler (B, 3) GT (roll, pitch, yaw) in degrees -> scalar."""
    if rotation.ndim != 3 or tuple(rotation.shape[1:]) != (3, 3):
        raise ValueError(f"rotation must have shape (B, 3, 3), got {tuple(rotation.shape)}")
    if tuple(target_euler.shape) != (rotation.shape[0], 3):
        raise ValueError(
            f"target_euler must have shape ({rotation.shape[0]}, 3), got {tuple(target_euler.shape)}"
        )
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got beta={beta}")
    difference = wrap_angle(matrix_to_euler(rotation) - target_euler)  # (B, 3) degrees in (-180, 180]
    return F.smooth_l1_loss(difference, difference.new_zeros(()).expand_as(difference), beta=beta)

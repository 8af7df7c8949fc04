"""Geodesic rotation loss: SmoothL1 of the angle between the predicted and the GT rotation.

Not in either paper; an option for training (``loss.weights.geodesic``), not a default.  Letters: B
batch.  ``loss = mean_B smoothl1_beta(angle(R_pred R_gt^T))``, the angle in degrees.  The Euler loss
averages three angles, so on the same errors it reads about 0.6 of this one (measured on the synthetic
data): a weight of 0.03 here matches the Euler loss's 0.05 (docs/experiments.md, stage 8).

Why it exists: the Euler loss (:mod:`.euler`, paper Eq. 7) compares (roll, pitch, yaw) in the benchmark
convention, whose yaw lies in [-90, 90].  Near |yaw| = 90 (profile views, common in DAD-3DHeads and in
the synthetic data) the decomposition is ill-conditioned: the gradient of roll and pitch with respect
to the rotation grows as ``1 / cos(yaw)``, and a rotation a few degrees across the profile line has
roll and pitch 180 degrees away, so a nearly right prediction is scored as a 180-degree error in two
angles.  The geodesic angle has neither problem: its gradient is bounded everywhere and it measures the
rotation error the benchmark's pose error measures.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from trans3dhead.geometry.rotation import rotation_distance

__all__ = ["geodesic_loss"]


def geodesic_loss(rotation: Tensor, target_rotation: Tensor, *, beta: float = 1.0) -> Tensor:
    """rotation (B, 3, 3) predicted, target_rotation (B, 3, 3) GT -> scalar, degrees."""
    if rotation.ndim != 3 or tuple(rotation.shape[1:]) != (3, 3):
        raise ValueError(f"rotation must have shape (B, 3, 3), got {tuple(rotation.shape)}")
    if tuple(target_rotation.shape) != tuple(rotation.shape):
        raise ValueError(
            f"target_rotation must have shape {tuple(rotation.shape)}, got {tuple(target_rotation.shape)}"
        )
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got beta={beta}")
    angle = rotation_distance(rotation, target_rotation.to(rotation.dtype))  # (B,) degrees in [0, 180]
    return F.smooth_l1_loss(angle, angle.new_zeros(()).expand_as(angle), beta=beta)

"""Rotation representations: 6D, axis-angle, matrix and the benchmark's Euler angles.

Every function is batched over any leading dimensions ``...``, differentiable, works in float32 and
float64, never writes into its inputs, and gives finite values and gradients at rotation angles 0 and
pi.  Matrices act on column vectors (``x' = R @ x``).  Conventions are documented in
``docs/conventions.md``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from trans3dhead.frames import FLIP_YZ_SIGNS

__all__ = [
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "matrix_to_euler",
    "euler_to_matrix",
    "wrap_angle",
    "rotation_angle",
    "rotation_distance",
    "gt_rotation",
]

_NORMALISE_EPS = 1e-12
_TAYLOR_THRESHOLD = 1e-2  # rotation angle (rad) below which Rodrigues' coefficients use their series
_GIMBAL_COS_FLOOR = 1e-7  # scipy's gimbal-lock tolerance (float64); float32 uses sqrt(eps) instead


def _check_last_dims(x: Tensor, dims: tuple[int, ...], name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < len(dims) or tuple(x.shape[x.dim() - len(dims) :]) != dims:
        want = "(..., " + ", ".join(str(d) for d in dims) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")


def _normalise(x: Tensor) -> Tensor:
    """x / max(|x|, eps) along the last dim: a zero vector stays zero, with finite gradients."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(_NORMALISE_EPS)


def _safe_norm(x: Tensor) -> Tensor:
    """Euclidean norm along the last dim whose gradient at the zero vector is 0 instead of NaN."""
    squared = (x * x).sum(dim=-1)
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


def _skew(v: Tensor) -> Tensor:
    """Cross-product matrix: v (..., 3) -> K (..., 3, 3) with K @ u = v x u."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (torch.stack((zero, -z, y), -1), torch.stack((z, zero, -x), -1), torch.stack((-y, x, zero), -1))
    return torch.stack(rows, dim=-2)


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """6D representation (..., 6) -> rotation matrix (..., 3, 3), DAD-3DHeads **column** convention.

    ``b1 = normalise(a1)``, ``b3 = normalise(b1 x a2)``, ``b2 = -(b1 x b3)``, ``R = [b1 b2 b3]`` (columns),
    where ``a1 = d6[..., :3]`` and ``a2 = d6[..., 3:]``.  This is the transpose of the row-stacked
    Gram-Schmidt of Zhou et al. (2019).  Degenerate inputs (a1 = 0 or a2 parallel to a1) give a
    singular matrix with zero columns rather than NaN.
    """
    _check_last_dims(d6, (6,), "d6")
    b1 = _normalise(d6[..., :3])
    b3 = _normalise(torch.linalg.cross(b1, d6[..., 3:], dim=-1))
    b2 = -torch.linalg.cross(b1, b3, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """Rotation matrix (..., 3, 3) -> 6D (..., 6): its first two columns, the inverse of the above."""
    _check_last_dims(matrix, (3, 3), "matrix")
    return torch.cat((matrix[..., :, 0], matrix[..., :, 1]), dim=-1)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues' formula: axis-angle (..., 3) (unit axis times angle in radians) -> (..., 3, 3).

    ``R = I + a K + b K^2`` with ``K = skew(axis_angle)``, ``a = sin t / t`` and
    ``b = (1 - cos t) / t^2``; both coefficients switch to their Taylor series for small ``t`` so
    values and gradients stay exact at ``t = 0``.
    """
    _check_last_dims(axis_angle, (3,), "axis_angle")
    theta_sq = (axis_angle * axis_angle).sum(dim=-1)
    small = theta_sq < _TAYLOR_THRESHOLD**2
    theta = torch.where(small, 1.0, theta_sq).sqrt()  # safe: never sqrt(0) on the taken branch
    a_exact = torch.sin(theta) / theta
    b_exact = 0.5 * (torch.sin(0.5 * theta) / (0.5 * theta)) ** 2  # (1 - cos t) / t^2 without cancellation
    a_series = 1.0 - theta_sq / 6.0 + theta_sq**2 / 120.0
    b_series = 0.5 - theta_sq / 24.0 + theta_sq**2 / 720.0
    a = torch.where(small, a_series, a_exact)[..., None, None]
    b = torch.where(small, b_series, b_exact)[..., None, None]
    k = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * k + b * (k @ k)


def _matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) as (w, x, y, z) with w >= 0.

    Shepperd's method: the symmetric matrix ``S = 4 q q^T`` is linear in R; its row with the largest
    diagonal entry (which is >= 1) gives q with a well-conditioned division.
    """
    m = matrix
    r00, r01, r02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    r10, r11, r12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    r20, r21, r22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    rows = torch.stack(
        (
            torch.stack((1 + r00 + r11 + r22, r21 - r12, r02 - r20, r10 - r01), -1),
            torch.stack((r21 - r12, 1 + r00 - r11 - r22, r01 + r10, r02 + r20), -1),
            torch.stack((r02 - r20, r01 + r10, 1 - r00 + r11 - r22, r12 + r21), -1),
            torch.stack((r10 - r01, r02 + r20, r12 + r21, 1 - r00 - r11 + r22), -1),
        ),
        dim=-2,
    )  # (..., 4, 4) = 4 q q^T
    diagonal = torch.diagonal(rows, dim1=-2, dim2=-1)  # (..., 4) = 4 q_i^2
    best = diagonal.argmax(dim=-1, keepdim=True)  # (..., 1)
    row = torch.take_along_dim(rows, best[..., None], dim=-2).squeeze(-2)  # (..., 4) = 4 q_best q
    pivot = torch.take_along_dim(diagonal, best, dim=-1)  # (..., 1) >= 1 for a rotation
    quaternion = _normalise(row / (2.0 * pivot.clamp_min(0.1).sqrt()))
    return torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) as (w, x, y, z) with w >= 0.

    q and -q are the same rotation; this returns the one with w >= 0 (a filter that averages
    quaternions over time must flip signs itself to keep consecutive ones in the same hemisphere).
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    return _matrix_to_quaternion(matrix)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """Quaternion (..., 4) as (w, x, y, z), normalised here (any non-zero length) -> rotation (..., 3, 3)."""
    _check_last_dims(quaternion, (4,), "quaternion")
    w, x, y, z = _normalise(quaternion).unbind(-1)
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """Rotation matrix (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi].

    Goes through a unit quaternion (Shepperd's method), so it is accurate near 0 and near pi; at exactly
    pi either of the two equivalent vectors may be returned.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    quaternion = _matrix_to_quaternion(matrix)
    w, v = quaternion[..., :1], quaternion[..., 1:]
    sin_half = _safe_norm(v)[..., None]  # (..., 1)
    small = sin_half < _TAYLOR_THRESHOLD
    safe_sin = torch.where(small, 1.0, sin_half)
    exact = 2.0 * torch.atan2(safe_sin, w) / safe_sin  # angle / sin(angle / 2)
    # 2 atan(s / w) / s = 2 / w - 2 s^2 / (3 w^3) + ...; w >= sqrt(1 - 1e-4) on this branch
    safe_w = torch.where(small, w, 1.0)  # w can be 0 (angle pi) where the series is not taken
    series = 2.0 / safe_w - 2.0 * sin_half**2 / (3.0 * safe_w**3)
    return v * torch.where(small, series, exact)


def wrap_angle(degrees: Tensor | np.ndarray | float) -> Tensor | np.ndarray | float:
    """Wrap angles in degrees to (-180, 180]; -180 maps to 180.  Same type out as in."""
    if isinstance(degrees, Tensor):
        return 180.0 - torch.remainder(180.0 - degrees, 360.0)
    wrapped = 180.0 - np.remainder(180.0 - np.asarray(degrees, dtype=float), 360.0)
    return float(wrapped) if np.ndim(wrapped) == 0 and not isinstance(degrees, np.ndarray) else wrapped


def _gimbal_tolerance(dtype: torch.dtype) -> float:
    return max(_GIMBAL_COS_FLOOR, math.sqrt(torch.finfo(dtype).eps))


def matrix_to_euler(matrix: Tensor) -> Tensor:
    """Rotation (..., 3, 3) -> Euler angles (..., 3) as **(roll, pitch, yaw) in degrees**.

    The DAD-3DHeads benchmark convention: with ``M = R^T = Rz(c) Ry(b) Rx(a)`` (scipy's extrinsic
    ``"xyz"``, ``b`` in [-90, 90]), ``roll = wrap(c)``, ``pitch = wrap(a - 180)``, ``yaw = wrap(b)``.
    A frontal face, ``R = diag(1, -1, -1)``, gives (0, 0, 0).  At gimbal lock (``|yaw| = 90``, detected
    when ``cos(yaw) <= max(1e-7, sqrt(eps))``) roll is set to 0, as scipy does.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    r = matrix  # M = R^T, so M_ij = R_ji below
    cos_b = _safe_norm(torch.stack((r[..., 0, 0], r[..., 0, 1]), dim=-1))
    b = torch.atan2(-r[..., 0, 2], cos_b)
    locked = cos_b <= _gimbal_tolerance(matrix.dtype)
    # general case: a = atan2(M21, M22), c = atan2(M10, M00); inputs made safe where unused
    a_free = torch.atan2(torch.where(locked, 0.0, r[..., 1, 2]), torch.where(locked, 1.0, r[..., 2, 2]))
    c_free = torch.atan2(torch.where(locked, 0.0, r[..., 0, 1]), torch.where(locked, 1.0, r[..., 0, 0]))
    # gimbal lock: c = 0 and M's second row is (0, cos a, -sin a) for either sign of b
    a_locked = torch.atan2(torch.where(locked, -r[..., 2, 1], 0.0), torch.where(locked, r[..., 1, 1], 1.0))
    a = torch.where(locked, a_locked, a_free)
    c = torch.where(locked, torch.zeros_like(c_free), c_free)
    roll = wrap_angle(torch.rad2deg(c))
    pitch = wrap_angle(torch.rad2deg(a) - 180.0)
    yaw = wrap_angle(torch.rad2deg(b))
    return torch.stack((roll, pitch, yaw), dim=-1)


def _elementary(angle: Tensor, axis: int) -> Tensor:
    """Rotation by ``angle`` (..., radians) about coordinate axis 0, 1 or 2 -> (..., 3, 3)."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == 1:
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    else:
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def euler_to_matrix(euler: Tensor) -> Tensor:
    """(roll, pitch, yaw) in degrees (..., 3) -> rotation (..., 3, 3), the inverse of ``matrix_to_euler``.

    ``R = (Rz(roll) Ry(yaw) Rx(pitch + 180))^T``.  ``matrix_to_euler(euler_to_matrix(e)) == e`` for
    angles in (-180, 180] with ``|yaw| < 90``; other inputs come back as an equivalent triple.
    """
    _check_last_dims(euler, (3,), "euler")
    roll, pitch, yaw = torch.deg2rad(euler).unbind(-1)
    m = _elementary(roll, 2) @ _elementary(yaw, 1) @ _elementary(pitch + math.pi, 0)
    return m.transpose(-1, -2)


def rotation_angle(matrix: Tensor) -> Tensor:
    """Geodesic angle of a rotation (..., 3, 3) -> (...) in degrees, in [0, 180].

    ``atan2(|vee(R - R^T)| / 2, (trace R - 1) / 2)``: accurate at all angles, unlike ``acos``, and with
    finite gradients at 0 and 180 degrees.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    skew = matrix - matrix.transpose(-1, -2)
    vee = torch.stack((skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]), dim=-1)  # 2 sin(t) axis
    sin_t = 0.5 * _safe_norm(vee)
    cos_t = 0.5 * (torch.diagonal(matrix, dim1=-2, dim2=-1).sum(dim=-1) - 1.0)
    return torch.rad2deg(torch.atan2(sin_t, cos_t))


def rotation_distance(matrix_a: Tensor, matrix_b: Tensor) -> Tensor:
    """Geodesic angle in degrees between rotations (..., 3, 3) and (..., 3, 3) (broadcast) -> (...)."""
    _check_last_dims(matrix_a, (3, 3), "matrix_a")
    _check_last_dims(matrix_b, (3, 3), "matrix_b")
    return rotation_angle(matrix_a @ matrix_b.transpose(-1, -2))


def gt_rotation(model_view: Tensor) -> Tensor:
    """DAD-3DHeads ground-truth rotation ``(diag(1, -1, -1, 1) @ MV)[:3, :3]``: (..., 4, 4) -> (..., 3, 3).

    The flip turns the OpenGL camera (y up, looking down -z) into the image frame (y down, z forward).
    """
    _check_last_dims(model_view, (4, 4), "model_view")
    signs = torch.tensor(FLIP_YZ_SIGNS, dtype=model_view.dtype, device=model_view.device)
    return model_view[..., :3, :3] * signs[:, None]  # FLIP_YZ @ MV[:3, :3]: rows y and z negated (exact)

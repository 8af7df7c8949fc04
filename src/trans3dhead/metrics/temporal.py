"""Temporal metrics of a video prediction against its ground truth: jitter and lag.

* **jitter**: the mean magnitude of the frame-to-frame acceleration (second difference) of a series,
  ``mean_t ||x[t+1] - 2 x[t] + x[t-1]||``.  Reported for the prediction and for the ground truth's own
  motion: a prediction that follows the truth exactly has the truth's jitter, and what it has beyond that
  is noise.  Landmarks: the mean over the N points of each point's acceleration, divided by the head size
  ``sqrt(w h)`` of the GT box at t, x100 (the units of the NME, per frame squared).  Rotations: the change
  of the angular velocity, ``||log(R[t+1] R[t]^T) - log(R[t] R[t-1]^T)||`` in degrees per frame squared.
* **lag**: the delay d (frames, to 0.05) that best aligns the prediction with the truth: it minimises the
  mean squared distance between the prediction at t and the truth at ``t - d`` (interpolated between
  frames), each with its mean over the compared frames removed so that a constant bias does not count.
  Positive: the prediction follows the truth late (a causal smoother lags); the truth shifted by k
  frames has lag k.  Landmarks are compared in head sizes, rotations as matrices (Frobenius distance).
  Positions rather than velocities: a velocity is a difference of two noisy frames, so the noise of a
  jittery prediction swamps it, while the smooth motion dominates the positions.

Series are arrays over T frames; frames without a value are NaN and every difference that touches one is
left out.  Letters: T frames, N points, D flattened dimensions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from trans3dhead.geometry import matrix_to_axis_angle
from trans3dhead.metrics._checks import as_array

__all__ = [
    "second_difference",
    "landmark_jitter",
    "angular_velocity",
    "rotation_jitter",
    "landmark_series",
    "rotation_series",
    "motion_lag",
]


def second_difference(series: Any) -> np.ndarray:
    """(T, ...) -> (T - 2, ...) ``x[t+1] - 2 x[t] + x[t-1]`` for t = 1 .. T-2 (NaN where a frame is)."""
    x = np.asarray(series, np.float64)
    if x.shape[0] < 3:
        return np.zeros((0, *x.shape[1:]))
    return x[2:] - 2.0 * x[1:-1] + x[:-2]


def _sizes(bbox: Any, frames: int) -> np.ndarray:
    box = as_array(bbox, "bbox", trailing=(4,), dtype=np.float64)
    if box.shape != (frames, 4) or np.any(box[:, 2:] <= 0):
        raise ValueError(f"bbox must be (T, 4) = ({frames}, 4) boxes with w, h > 0, got {box.shape}")
    return np.sqrt(box[:, 2] * box[:, 3])


def landmark_jitter(points: Any, *, bbox: Any) -> float:
    """Mean landmark acceleration (x100 of the head size per frame^2): (T, N, 2), (T, 4) -> float.

    NaN when no three consecutive frames have landmarks.
    """
    x = as_array(points, "points", trailing=(None, 2), dtype=np.float64)
    sizes = _sizes(bbox, x.shape[0])
    accel = np.linalg.norm(second_difference(x), axis=-1).mean(axis=-1)  # (T - 2,)
    values = 100.0 * accel / sizes[1:-1]
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def angular_velocity(rotations: Any) -> np.ndarray:
    """(T, 3, 3) rotations -> (T - 1, 3) rotation vectors ``log(R[t] R[t-1]^T)`` in degrees (NaN rows where a
    rotation is NaN).  The relative rotations are in the image frame (left-multiplied)."""
    r = torch.from_numpy(as_array(rotations, "rotations", trailing=(3, 3), dtype=np.float64).copy())
    if r.shape[0] < 2:
        return np.zeros((0, 3))
    relative = r[1:] @ r[:-1].transpose(-1, -2)  # (T - 1, 3, 3)
    bad = ~torch.isfinite(relative).flatten(1).all(dim=1)
    relative[bad] = torch.eye(3, dtype=relative.dtype)
    omega = torch.rad2deg(matrix_to_axis_angle(relative)).numpy()
    omega[bad.numpy()] = math.nan
    return omega


def rotation_jitter(rotations: Any) -> float:
    """Mean angular acceleration in degrees per frame^2: (T, 3, 3) -> float (NaN without 3 frames)."""
    omega = angular_velocity(rotations)
    values = np.linalg.norm(omega[1:] - omega[:-1], axis=-1) if len(omega) > 1 else np.zeros(0)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def _shifted(series: np.ndarray, shift: float) -> np.ndarray:
    """(T, D) series read at times t - shift by linear interpolation (NaN outside [0, T - 1])."""
    frames = series.shape[0]
    times = np.arange(frames) - shift
    low = np.floor(times).astype(int)
    inside = (times >= 0) & (times <= frames - 1)
    low = np.clip(low, 0, frames - 2)
    weight = (times - low)[:, None]
    out = (1.0 - weight) * series[low] + weight * series[low + 1]
    out[~inside] = np.nan
    return out


def _misfit(pred: np.ndarray, gt: np.ndarray, shift: float) -> float:
    """Mean squared distance between pred and gt delayed by ``shift``, after removing the mean offset."""
    residual = pred - _shifted(gt, shift)
    rows = np.isfinite(residual).all(axis=1)
    if rows.sum() < 3:
        return math.nan
    residual = residual[rows] - residual[rows].mean(axis=0)
    return float((residual * residual).sum(axis=1).mean())


def motion_lag(pred: Any, gt: Any, *, max_lag: float = 10.0, step: float = 0.05) -> float:
    """Delay in frames of ``pred`` behind ``gt``, both (T, D) series (NaN rows: no prediction).

    The delay d in ``[-max_lag, max_lag]`` (a grid of ``step`` frames) that minimises the mean squared
    distance between ``pred[t]`` and ``gt`` read at ``t - d`` (linear interpolation between frames), both
    with their mean over the compared frames removed, so a constant bias does not count.  A prediction
    that is the truth k frames late has lag k; the truth has lag 0.  NaN when fewer than three frames
    compare at every shift, or when the truth does not move.
    """
    p = np.asarray(pred, np.float64)
    g = np.asarray(gt, np.float64)
    if p.ndim == 1:
        p, g = p[:, None], g[:, None]
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"pred and gt must both be (T, D) series, got {p.shape} and {g.shape}")
    if not (0 <= max_lag < math.inf and 0 < step <= max(max_lag, step)):
        raise ValueError(f"need max_lag >= 0 and 0 < step, got max_lag={max_lag!r}, step={step!r}")
    if p.shape[0] < 3 or not np.isfinite(g).all() or np.ptp(g, axis=0).max(initial=0.0) == 0:
        return math.nan
    count = int(math.floor(max_lag / step + 1e-9))
    shifts = np.arange(-count, count + 1) * step  # exact multiples of step (0 is exactly 0)
    costs = np.array([_misfit(p, g, float(d)) for d in shifts])
    return float(shifts[int(np.nanargmin(costs))]) if np.isfinite(costs).any() else math.nan


def landmark_series(points: Any, *, bbox: Any) -> np.ndarray:
    """(T, N, 2) points -> (T, 2N) in units of the mean GT head size (``sqrt(w h)`` of (T, 4) boxes)."""
    x = as_array(points, "points", trailing=(None, 2), dtype=np.float64)
    sizes = _sizes(bbox, x.shape[0])
    return x.reshape(x.shape[0], -1) / float(sizes.mean())


def rotation_series(rotations: Any) -> np.ndarray:
    """(T, 3, 3) rotations -> (T, 9) flattened matrices (their distances are Frobenius norms)."""
    r = as_array(rotations, "rotations", trailing=(3, 3), dtype=np.float64)
    return r.reshape(r.shape[0], 9)

"""Causal temporal smoothing of one tracked head: One Euro filters on pose, translation, scale, landmarks.

Each quantity is filtered in units that make one set of parameters fit every image size:

* rotation: the unit quaternion of R, its sign flipped to the hemisphere of the previous output (q and
  -q are one rotation; averaging across the flip would pass through a non-rotation), filtered component
  by component and renormalised, so the output is always a rotation.  Speed: |dq/dt| (about half the
  angular speed in rad/s).
* translation: the image position of the model origin in pixels, ``p = (t_xy + 1) S / 2``; speed in
  head sizes per second (head size = ``sqrt(w h)`` of the head box).
* scale: ``log f`` with ``f = (s + 1) S / 2`` pixels per model unit; speed in relative change per second.
* landmarks: the 68 ``landmarks`` (N, 2) pixels, one speed per point, in head sizes per second.

The smoothed pose re-poses the mesh-derived outputs: ``vertices``, ``landmarks_3d``, ``dense_landmarks``
(through the aligner's dense indices), ``camera`` and ``euler`` follow the filtered R, s, t exactly; the
shape, expression and jaw (``params``) and ``branch_landmarks`` stay as predicted.  Nothing looks ahead: the
output for a frame depends on that frame and earlier ones only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from trans3dhead.errors import InputError
from trans3dhead.geometry import (
    SCALE_FLOOR,
    matrix_to_euler,
    matrix_to_quaternion,
    ortho_camera_matrix,
    quaternion_to_matrix,
)
from trans3dhead.inference.one_euro import OneEuroFilter, OneEuroParams
from trans3dhead.inference.prediction import HeadPrediction

__all__ = [
    "SMOOTHED_QUANTITIES",
    "POSE_FILTER",
    "POSITION_FILTER",
    "SmoothingOptions",
    "HeadSmoother",
    "repose",
]

#: The filtered quantities, in the order of :class:`SmoothingOptions`' parameter fields.
SMOOTHED_QUANTITIES = ("rotation", "translation", "scale", "landmarks")
#: Default filters, chosen on synthetic video set A with the shipped demo model (the sweeps in
#: ``docs/video.md``): rotation and scale (pose jitter about x0.36 for 0.75-0.85 frames of lag) ...
POSE_FILTER = OneEuroParams(min_cutoff=2.0, beta=10.0, d_cutoff=1.0, order=2)
#: ... and the image positions (translation, landmarks), with 0.7 of the low-pass delay compensated
#: along the filtered speed (``lead``): landmark jitter x0.49-0.53 for 0.3-0.4 frames of lag, the NME
#: -0.003 / -0.068 / +0.080 on sets A / B / C (the uncompensated filter before it: +0.14 / +0.12 / +0.29).
POSITION_FILTER = OneEuroParams(min_cutoff=1.0, beta=7.0, d_cutoff=1.0, order=2, lead=0.7)


@dataclass(frozen=True, kw_only=True)
class SmoothingOptions:
    """One Euro parameters per quantity (see the module docstring for the units of the speed).

    enabled: False passes every prediction through unchanged.
    rotation, translation, scale, landmarks: the filter of each quantity.
    """

    enabled: bool = True
    rotation: OneEuroParams = field(default_factory=lambda: POSE_FILTER)
    translation: OneEuroParams = field(default_factory=lambda: POSITION_FILTER)
    scale: OneEuroParams = field(default_factory=lambda: POSE_FILTER)
    landmarks: OneEuroParams = field(default_factory=lambda: POSITION_FILTER)

    def __post_init__(self) -> None:
        for name in SMOOTHED_QUANTITIES:
            if not isinstance(getattr(self, name), OneEuroParams):
                raise InputError(f"{name} must be OneEuroParams, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return {
            "enabled": self.enabled,
            **{name: vars(getattr(self, name)).copy() for name in SMOOTHED_QUANTITIES},
        }


def _pixel_scale(head: HeadPrediction) -> float:
    """f = (s + 1) S / 2: image pixels per model unit."""
    return max(head.scale + 1.0, SCALE_FLOOR) * 0.5 * head.input_size


def repose(
    head: HeadPrediction,
    *,
    rotation: np.ndarray,
    scale: float,
    translation: np.ndarray,
    landmarks: np.ndarray,
    dense: Mapping[str, np.ndarray] | None = None,
) -> HeadPrediction:
    """``head`` with a new pose (R, raw scale s, translation t, in the image frame) and new landmarks.

    The mesh, the 3D landmarks and the dense points move with the pose: with ``f = (s + 1) S / 2`` and
    ``p = (t_xy + 1) S / 2``, an image-frame point x becomes ``(f' / f) R' R^T (x - p) + p'``.  ``dense``
    maps dense subset names to vertex indices (``MeshInfo.dense``) to recompute ``dense_landmarks`` from
    the moved mesh; without it (or without a mesh) they are kept.
    """
    half = 0.5 * head.input_size
    old_p = np.array([*(head.translation[:2] + 1.0) * half, 0.0])
    new_t = np.asarray(translation, np.float64)
    new_p = np.array([*(new_t[:2] + 1.0) * half, 0.0])
    ratio = max(scale + 1.0, SCALE_FLOOR) * half / _pixel_scale(head)
    linear = ratio * (
        np.asarray(rotation, np.float64) @ np.linalg.inv(head.rotation)
    )  # (3, 3), R^-1: R is float32-exact only

    def move(points: np.ndarray) -> np.ndarray:
        return (points - old_p) @ linear.T + new_p

    vertices = None if head.vertices is None else move(head.vertices)
    dense_landmarks = head.dense_landmarks
    if vertices is not None and dense:
        dense_landmarks = {name: vertices[idx, :2] for name, idx in dense.items() if name in dense_landmarks}
    r = torch.from_numpy(np.array(rotation, np.float64))
    s = torch.tensor([scale], dtype=torch.float64)
    camera = ortho_camera_matrix(r, s, torch.from_numpy(new_t), head.input_size)
    return replace(
        head,
        landmarks=np.asarray(landmarks, np.float64),
        landmarks_3d=move(head.landmarks_3d),
        dense_landmarks=dense_landmarks,
        vertices=vertices,
        rotation=r.numpy(),
        euler=matrix_to_euler(r).numpy(),
        scale=float(scale),
        translation=new_t,
        camera=camera.numpy(),
    )


class HeadSmoother:
    """The filters of one track: call it with each new prediction of that head, in time order.

    Args:
        options: the filter parameters.
        dense: dense subset name -> vertex indices, to re-pose ``dense_landmarks`` (see :func:`repose`).
    """

    def __init__(self, *, options: SmoothingOptions, dense: Mapping[str, np.ndarray] | None = None) -> None:
        self.options, self.dense = options, dense
        self.rotation = OneEuroFilter(options.rotation)
        self.translation = OneEuroFilter(options.translation)
        self.scale = OneEuroFilter(options.scale)
        self.landmarks = OneEuroFilter(options.landmarks, vector_axis=-1)

    def reset(self) -> None:
        for f in (self.rotation, self.translation, self.scale, self.landmarks):
            f.reset()

    def _quaternion(self, rotation: np.ndarray) -> np.ndarray:
        """q of R in the hemisphere of the previous output (sign continuity)."""
        q = matrix_to_quaternion(torch.from_numpy(np.asarray(rotation, np.float64))).numpy()
        previous = self.rotation.value
        return -q if previous is not None and float(q @ previous) < 0.0 else q

    def __call__(self, head: HeadPrediction, timestamp: float) -> HeadPrediction:
        """The smoothed version of ``head`` observed at ``timestamp`` seconds."""
        if not self.options.enabled:
            return head
        size = math.sqrt(float(head.box[2] * head.box[3]))
        half = 0.5 * head.input_size
        q = self.rotation(self._quaternion(head.rotation), timestamp)
        position = self.translation((head.translation[:2] + 1.0) * half, timestamp, speed_scale=size)
        log_f = self.scale(np.array([math.log(_pixel_scale(head))]), timestamp)
        landmarks = self.landmarks(head.landmarks, timestamp, speed_scale=size)
        rotation = quaternion_to_matrix(torch.from_numpy(q)).numpy()
        scale = math.exp(float(log_f[0])) / half - 1.0
        translation = np.array([*(position / half - 1.0), head.translation[2]])
        return repose(
            head,
            rotation=rotation,
            scale=scale,
            translation=translation,
            landmarks=landmarks,
            dense=self.dense,
        )

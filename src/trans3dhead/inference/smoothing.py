"""Causal temporal smoothing of one tracked head: a filter on each of pose, translation, scale, landmarks.

Each quantity has its own filter: a One Euro filter (:class:`OneEuroParams`, a low-pass whose cutoff
rises with the speed) or an alpha-beta filter (:class:`AlphaBetaParams`, a constant-velocity tracker that
follows a steady motion without delay); the parameters' type picks the filter.  Each quantity is filtered
in units that make one set of parameters fit every image size:

* rotation: the unit quaternion of R, its sign flipped to the hemisphere of the previous output (q and
  -q are one rotation; averaging across the flip would pass through a non-rotation), filtered component
  by component and renormalised, so the output is always a rotation.  Speed: |dq/dt| (about half the
  angular speed in rad/s).
* translation: the image position of the model origin in pixels, ``p = (t_xy + 1) S / 2``; speed in
  head sizes per second (head size = ``sqrt(w h)`` of the head box).
* scale: ``log f`` with ``f = (s + 1) S / 2`` pixels per model unit; speed in relative change per second.
* landmarks: the 68 ``landmarks`` (N, 2) pixels, one speed per point, in head sizes per second.

(The speeds only matter to the One Euro filter; the alpha-beta filter's gains are per sample.)

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
from trans3dhead.inference.alpha_beta import AlphaBetaFilter, AlphaBetaParams
from trans3dhead.inference.one_euro import OneEuroFilter, OneEuroParams
from trans3dhead.inference.prediction import HeadPrediction

__all__ = [
    "SMOOTHED_QUANTITIES",
    "POSE_FILTER",
    "POSITION_FILTER",
    "FilterParams",
    "SmoothingOptions",
    "HeadSmoother",
    "make_filter",
    "filter_kind",
    "one_euro_base",
    "POSITION_ONE_EURO",
    "POSE_ONE_EURO",
    "repose",
]

#: The filtered quantities, in the order of :class:`SmoothingOptions`' parameter fields.
SMOOTHED_QUANTITIES = ("rotation", "translation", "scale", "landmarks")
#: The parameters of one quantity's filter: their type picks the filter.
FilterParams = OneEuroParams | AlphaBetaParams
#: Default filters, chosen on synthetic videos A, B and C with the shipped demo model by the rule of
#: ``docs/video.md`` (of the filters of a sweep that cut the jitter to x0.45 or less at <= 1 frame of
#: added lag on every set, the one whose worst error change is lowest): alpha-beta filters everywhere.
#: Rotation and scale: pose jitter x0.38-0.39, +0.19-0.23 frames of lag, pose error -0.0034 to -0.0065 ...
POSE_FILTER = AlphaBetaParams(alpha=0.5, beta=0.1)
#: ... translation and landmarks: landmark jitter x0.38-0.40, +0.03-0.05 frames, NME -0.006 to -0.056.
POSITION_FILTER = AlphaBetaParams(alpha=0.5, beta=0.3)
#: The One Euro filters before them (chosen on set A only): the pose's (jitter x0.35-0.37 for +0.74-0.84
#: frames of lag, pose error -0.0047 / -0.0109 / +0.0020 on A / B / C) ...
POSE_ONE_EURO = OneEuroParams(min_cutoff=2.0, beta=10.0, d_cutoff=1.0, order=2)
#: ... and the positions' (landmark jitter x0.49-0.53 for +0.28-0.40 frames, NME -0.003 / -0.068 / +0.080);
#: the bases of the One Euro flags.
POSITION_ONE_EURO = OneEuroParams(min_cutoff=1.0, beta=7.0, d_cutoff=1.0, order=2, lead=0.7)


def make_filter(params: FilterParams, *, vector_axis: int | None = None) -> OneEuroFilter | AlphaBetaFilter:
    """The filter that ``params`` describe (InputError for anything but One Euro or alpha-beta parameters)."""
    if isinstance(params, OneEuroParams):
        return OneEuroFilter(params, vector_axis=vector_axis)
    if isinstance(params, AlphaBetaParams):
        return AlphaBetaFilter(params, vector_axis=vector_axis)
    raise InputError(f"a filter needs OneEuroParams or AlphaBetaParams, got {params!r}")


def one_euro_base(quantity: str, params: FilterParams) -> OneEuroParams:
    """``params`` if it is a One Euro filter, else the default One Euro filter of ``quantity``."""
    if isinstance(params, OneEuroParams):
        return params
    return POSITION_ONE_EURO if quantity in ("translation", "landmarks") else POSE_ONE_EURO


def filter_kind(params: FilterParams) -> str:
    """``"one_euro"`` or ``"alpha_beta"``."""
    return "alpha_beta" if isinstance(params, AlphaBetaParams) else "one_euro"


@dataclass(frozen=True, kw_only=True)
class SmoothingOptions:
    """The filter of each quantity (see the module docstring for the units of the speed).

    enabled: False passes every prediction through unchanged.
    rotation, translation, scale, landmarks: the filter of each quantity, :class:`OneEuroParams` or
        :class:`AlphaBetaParams`.
    """

    enabled: bool = True
    rotation: FilterParams = field(default_factory=lambda: POSE_FILTER)
    translation: FilterParams = field(default_factory=lambda: POSITION_FILTER)
    scale: FilterParams = field(default_factory=lambda: POSE_FILTER)
    landmarks: FilterParams = field(default_factory=lambda: POSITION_FILTER)

    def __post_init__(self) -> None:
        for name in SMOOTHED_QUANTITIES:
            if not isinstance(getattr(self, name), OneEuroParams | AlphaBetaParams):
                raise InputError(
                    f"{name} must be OneEuroParams or AlphaBetaParams, got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict:
        """JSON-ready: per quantity its filter (``"filter": "one_euro" | "alpha_beta"``) and parameters."""
        return {
            "enabled": self.enabled,
            **{
                name: {"filter": filter_kind(getattr(self, name)), **vars(getattr(self, name))}
                for name in SMOOTHED_QUANTITIES
            },
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
        self.rotation = make_filter(options.rotation)
        self.translation = make_filter(options.translation)
        self.scale = make_filter(options.scale)
        self.landmarks = make_filter(options.landmarks, vector_axis=-1)

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

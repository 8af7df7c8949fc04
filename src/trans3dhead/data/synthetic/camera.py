"""The synthetic camera: DAD-3DHeads model-view and projection matrices, and the renderer's screen space.

Conventions (``docs/conventions.md`` section 5):

* ``model_view_matrix`` (MV) is OpenGL style: the camera looks down -z, y up, the head in front at
  negative z.  Its rotation is ``diag(1, -1, -1) @ R_gt`` so that the benchmark's GT rotation
  ``(diag(1, -1, -1, 1) @ MV)[:3, :3]`` is exactly ``R_gt``; a frontal head has an identity MV rotation
  (FLAME faces +z, towards the camera).  The head turns about its centre ``c`` (model coordinates), which
  lands at the camera-frame point ``T``: ``MV @ [v, 1] = A (v - c) + T`` with ``A = diag(1, -1, -1) R_gt``.
* ``projection_matrix`` (P) maps camera coordinates straight to pixels with y up:
  ``(x, y_up) = p[:2] / p[3]`` with ``p = P @ [X, 1]``, then ``y_img = H - y_up``.  A pinhole of focal
  length ``f`` pixels: ``x = f X / (-Z) + c_x``, ``y_up = f Y / (-Z) + c_y``.  The third row is the usual
  OpenGL depth row (unused by the GT projection, kept so P is a complete OpenGL-style matrix).
* Image coordinates treat integers as pixel centres (as the renderer and the crop do).  The principal
  point is the image centre: ``c_x = (W - 1) / 2`` and ``y_img = (H - 1) / 2``, i.e. ``c_y = (H + 1) / 2``.

Letters: V vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trans3dhead.frames import FLIP_YZ

__all__ = ["PinholeCamera", "model_view_matrix", "camera_points", "screen_points", "FLIP_YZ"]

# FLIP_YZ (trans3dhead.frames): the OpenGL camera frame (y up, looking down -z) <-> the image-aligned
# frame (y down, z away); re-exported here.


@dataclass(frozen=True, kw_only=True)
class PinholeCamera:
    """A pinhole camera of an ``height`` x ``width`` image with focal length ``focal`` in pixels."""

    focal: float
    height: int
    width: int
    near: float = 0.01
    far: float = 100.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.focal) and self.focal > 0):
            raise ValueError(f"focal must be a positive number of pixels, got {self.focal!r}")
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"image size must be positive, got height={self.height}, width={self.width}")
        if not 0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far, got near={self.near}, far={self.far}")

    @property
    def principal_point(self) -> tuple[float, float]:
        """(c_x, c_y) in the projection's y-up pixel frame: the image centre."""
        return (self.width - 1) / 2.0, (self.height + 1) / 2.0

    def projection_matrix(self) -> np.ndarray:
        """(4, 4) P mapping camera coordinates straight to y-up pixels (see the module docstring)."""
        cx, cy = self.principal_point
        n, f = self.near, self.far
        return np.array(
            [
                [self.focal, 0.0, -cx, 0.0],
                [0.0, self.focal, -cy, 0.0],
                [0.0, 0.0, -(f + n) / (f - n), -2.0 * f * n / (f - n)],
                [0.0, 0.0, -1.0, 0.0],
            ]
        )

    def unproject(self, x: float, y: float, distance: float) -> np.ndarray:
        """The camera-frame point (3,) at ``distance`` in front of the camera seen at image pixel (x, y)."""
        cx, cy = self.principal_point
        y_up = self.height - y
        return np.array([(x - cx) * distance / self.focal, (y_up - cy) * distance / self.focal, -distance])


def model_view_matrix(*, rotation: np.ndarray, centre: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(4, 4) MV turning the head by the GT rotation about ``centre`` and moving that centre to
    ``translation``.

    Args:
        rotation: (3, 3) R_gt, the benchmark's GT rotation (model frame -> image-aligned frame).
        centre: (3,) head centre in model coordinates.
        translation: (3,) camera-frame (OpenGL) position of the head centre, z < 0.
    """
    rotation, centre = np.asarray(rotation, np.float64), np.asarray(centre, np.float64)
    linear = FLIP_YZ @ rotation
    mv = np.eye(4)
    mv[:3, :3] = linear
    mv[:3, 3] = np.asarray(translation, np.float64) - linear @ centre
    return mv


def camera_points(vertices: np.ndarray, model_view: np.ndarray) -> np.ndarray:
    """(V, 3) model vertices -> (V, 3) OpenGL camera-frame points ``(MV @ [v, 1])[:3]``."""
    return vertices @ model_view[:3, :3].T + model_view[:3, 3]


def screen_points(
    vertices: np.ndarray, model_view: np.ndarray, projection: np.ndarray, height: int
) -> np.ndarray:
    """(V, 3) model vertices -> (V, 3) renderer screen points ``(x, y_img, depth)``.

    ``x, y_img`` is exactly the GT projection of ``docs/conventions.md`` section 5 (so the renderer draws
    every vertex where the benchmark projects it) and ``depth = -Z`` is the distance along the viewing
    axis (> 0 in front).
    """
    cam = camera_points(vertices, model_view)
    clip = np.concatenate([cam, np.ones_like(cam[:, :1])], axis=1) @ projection.T  # (V, 4)
    xy = clip[:, :2] / clip[:, 3:4]
    return np.stack([xy[:, 0], height - xy[:, 1], -cam[:, 2]], axis=1)

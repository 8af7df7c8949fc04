"""Test data for the benchmark metrics: GT entries with a plausible camera, and predictions derived from
them (a test helper, not part of the library: used by the metric tests and benchmarks/score_speed.py).
The GT camera follows ``docs/conventions.md`` section 5: an OpenGL-style model-view matrix (camera
looking down -z, y up) and a pinhole projection straight to pixels.  Predictions live in the
image-aligned camera frame (x right, y down, z away from the camera), as a FLAME-based method's posed
mesh does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from scipy.spatial.transform import Rotation

from trans3dhead.frames import FLIP_YZ
from trans3dhead.metrics.groundtruth import GtItem
from trans3dhead.metrics.pose import gt_pose_rotation
from trans3dhead.metrics.submission import make_prediction
from trans3dhead.metrics.topology import BenchmarkTopology

__all__ = ["IMAGE_FLIP", "image_frame_vertices", "perturbed_prediction", "synthetic_gt_item"]

#: diag(1, -1, -1): the OpenGL camera frame <-> the image-aligned frame (the GT rotation's flip).
IMAGE_FLIP = FLIP_YZ.astype(np.float32)


def _camera(
    rng: np.random.Generator, radius: float, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """A random head pose and distance (model-view) and a pinhole camera to pixels (projection)."""
    yaw, pitch, roll = rng.uniform(-60, 60), rng.uniform(-30, 30), rng.uniform(-20, 20)
    rotation_image = Rotation.from_euler("yxz", [yaw, pitch, roll], degrees=True).as_matrix()
    model_view = np.eye(4)
    model_view[:3, :3] = IMAGE_FLIP @ rotation_image  # R_gt = flip @ MV[:3, :3] = rotation_image
    distance = radius * rng.uniform(8.0, 12.0)
    model_view[:3, 3] = [rng.uniform(-0.5, 0.5) * radius, rng.uniform(-0.5, 0.5) * radius, -distance]
    focal = 0.35 * min(width, height) * distance / radius  # the head spans about a third of the image
    cx, cy = width / 2 + rng.uniform(-0.1, 0.1) * width, height / 2 + rng.uniform(-0.1, 0.1) * height
    projection = np.array([[focal, 0, -cx, 0], [0, focal, -cy, 0], [0, 0, 1, 0], [0, 0, -1, 0]], np.float64)
    return model_view, projection


def synthetic_gt_item(
    vertices: np.ndarray,
    *,
    item_id: str,
    rng: np.random.Generator,
    attributes: Mapping[str, str] | None = None,
    image_size: tuple[int, int] = (640, 480),
) -> GtItem:
    """A GT item for model-space ``vertices`` (V, 3) seen by a random camera.

    The bbox is the box of the projected vertices; ``image_size`` is (width, height).
    """
    vertices = np.asarray(vertices, dtype=np.float32)
    radius = float(np.linalg.norm(vertices - vertices.mean(0), axis=1).max())
    model_view, projection = _camera(rng, radius, *image_size)
    item = GtItem(
        item_id=item_id,
        bbox=np.zeros(4),
        vertices=vertices,
        model_view=model_view.astype(np.float32),
        projection=projection.astype(np.float32),
        image_height=image_size[1],
        attributes=dict(attributes or {}),
    )
    pixels = item.project(vertices)
    low, high = pixels.min(0).astype(np.float64), pixels.max(0).astype(np.float64)
    return dataclasses.replace(item, bbox=np.concatenate([low, high - low]))


def image_frame_vertices(gt: GtItem) -> np.ndarray:
    """GT vertices in the image-aligned camera frame (x right, y down, z away), float32 (V, 3)."""
    return gt.camera_vertices() @ IMAGE_FLIP


def perturbed_prediction(
    gt: GtItem,
    topology: BenchmarkTopology,
    *,
    rng: np.random.Generator | None = None,
    pixel_noise: float = 0.0,
    vertex_noise: float = 0.0,
    rotation_noise_deg: float = 0.0,
) -> dict[str, list]:
    """A submission entry for ``gt``: exact when all noise levels are 0, else perturbed.

    ``pixel_noise`` (pixels) perturbs the 68 landmarks, ``vertex_noise`` (fraction of the head radius)
    the 3D points, ``rotation_noise_deg`` the rotation (a random axis, exactly that angle).
    """
    rng = rng or np.random.default_rng(0)
    landmarks = gt.project(topology.landmarks(gt.vertices))
    points = image_frame_vertices(gt)
    radius = float(np.linalg.norm(points - points.mean(0), axis=1).max())
    points = points + rng.normal(scale=vertex_noise * radius, size=points.shape).astype(np.float32)
    axis = rng.normal(size=3)
    delta = Rotation.from_rotvec(np.deg2rad(rotation_noise_deg) * axis / np.linalg.norm(axis)).as_matrix()
    return make_prediction(
        landmarks_2d=landmarks + rng.normal(scale=pixel_noise, size=landmarks.shape),
        points_3d=points,
        keypoints_3d=topology.keypoints_3d(points),
        rotation=delta @ gt_pose_rotation(gt.model_view),
    )

"""Geometry: rotation representations, cameras (GT perspective, orthographic) and the input crop.

Conventions (frames, parameter layout, Euler angles) are documented in ``docs/conventions.md``.
"""

from trans3dhead.geometry.camera import (
    SCALE_FLOOR,
    gt_camera_vertices,
    gt_depth_problem,
    gt_project,
    ortho_camera_matrix,
    ortho_project,
    ortho_project_3d,
    scale_translation_to_image,
)
from trans3dhead.geometry.crop import CROP_STYLES, FIXED_EVAL_EXTENSION, CropTransform, random_extension
from trans3dhead.geometry.rotation import (
    axis_angle_to_matrix,
    euler_to_matrix,
    gt_rotation,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_angle,
    rotation_distance,
    wrap_angle,
)

__all__ = [
    "SCALE_FLOOR",
    "gt_camera_vertices",
    "gt_depth_problem",
    "gt_project",
    "ortho_camera_matrix",
    "ortho_project",
    "ortho_project_3d",
    "scale_translation_to_image",
    "CROP_STYLES",
    "FIXED_EVAL_EXTENSION",
    "CropTransform",
    "random_extension",
    "axis_angle_to_matrix",
    "euler_to_matrix",
    "gt_rotation",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
    "rotation_angle",
    "rotation_distance",
    "wrap_angle",
]

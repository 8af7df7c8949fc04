"""Cameras: the DAD-3DHeads ground-truth perspective projection and the model's orthographic one.

Letters: V vertices; ``...`` any leading (batch) dimensions, broadcast between arguments.  Pixels use
the image frame of ``docs/conventions.md``: origin top-left, x right, y down, integer coordinates at
pixel centres.  Nothing here writes into its inputs; everything is differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SCALE_FLOOR",
    "gt_camera_vertices",
    "gt_depth_problem",
    "gt_project",
    "axis_alignment",
    "check_focal",
    "line_of_sight_rotation",
    "crop_rotation_to_camera",
    "ortho_project",
    "ortho_project_3d",
    "ortho_camera_matrix",
    "scale_translation_to_image",
]

SCALE_FLOOR = 1e-8  # the orthographic scale factor is clamp(scale + 1, min=SCALE_FLOOR)


def _check_points(x: Tensor, name: str, dim: int = 3) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., V, {dim}), got {tuple(x.shape)}")


def _check_matrix(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or tuple(x.shape[-2:]) != (4, 4):
        raise ValueError(f"{name} must have shape (..., 4, 4), got {tuple(x.shape)}")


def _homogeneous(vertices: Tensor) -> Tensor:
    """(..., V, 3) -> (..., V, 4) with a trailing 1."""
    return torch.cat((vertices, torch.ones_like(vertices[..., :1])), dim=-1)


def gt_camera_vertices(vertices: Tensor, model_view: Tensor) -> Tensor:
    """Vertices in the DAD-3DHeads (OpenGL-style) camera frame: ``(MV @ [v, 1])[:3]``.

    Args:
        vertices: (..., V, 3) FLAME model-space vertices (the annotation's ``vertices``).
        model_view: (..., 4, 4) the annotation's ``model_view_matrix``.

    Returns:
        (..., V, 3) camera-frame vertices (y up, the camera looks down -z).
    """
    _check_points(vertices, "vertices")
    _check_matrix(model_view, "model_view")
    # v @ R^T + t: the transposed-matrix product on (V, 4) hits a slow strided path in torch (30x slower).
    rotation = model_view[..., :3, :3].transpose(-1, -2).contiguous()
    return vertices @ rotation + model_view[..., None, :3, 3]


def gt_project(
    vertices: Tensor, model_view: Tensor, projection: Tensor, image_height: Tensor | float
) -> Tensor:
    """DAD-3DHeads ground-truth projection to original-image pixels.

    ``Xw = MV @ [v, 1]``, ``p = P @ Xw``, ``(x, y) = p[:2] / p[3]``, ``y_img = H - y``.

    Args:
        vertices: (..., V, 3) FLAME model-space vertices.
        model_view: (..., 4, 4) model-view matrix.
        projection: (..., 4, 4) projection matrix (maps straight to pixels, y up).
        image_height: H, a number or a (...) tensor.

    Returns:
        (..., V, 2) pixel coordinates (x right, y down).
    """
    _check_points(vertices, "vertices")
    _check_matrix(model_view, "model_view")
    _check_matrix(projection, "projection")
    full = (projection @ model_view).transpose(-1, -2).contiguous()  # contiguous: see gt_camera_vertices
    clip = vertices @ full[..., :3, :] + full[..., 3:, :]  # (..., V, 4) = [v, 1] @ (P MV)^T
    xy = clip[..., :2] / clip[..., 3:]
    height = torch.as_tensor(image_height, dtype=xy.dtype, device=xy.device)
    return torch.stack((xy[..., 0], height[..., None] - xy[..., 1]), dim=-1)


def gt_depth_problem(depth: np.ndarray) -> str | None:
    """Why a GT camera gives some vertices no image position, or None.

    ``depth`` holds the homogeneous ``w = (P @ MV @ [v, 1])[3]`` of the vertices (V,).  The perspective
    division needs every ``w`` finite and nonzero, and of one sign: a head lies on one side of the
    camera.  (A singular or zeroed matrix gives ``w = 0``, hence infinite or NaN pixels; mixed signs put
    part of the head behind the camera, and the landmarks between its vertices may then divide by zero.)
    """
    depth = np.asarray(depth)
    if depth.size == 0:
        return None
    if not np.isfinite(depth).all():
        return "the projective depths w of the vertices are not finite"
    if np.all(depth > 0) or np.all(depth < 0):
        return None
    low, high = float(depth.min()), float(depth.max())
    return (
        f"the camera (projection_matrix @ model_view_matrix) gives vertices a projective depth w of zero or "
        f"of both signs (w from {low:.3g} to {high:.3g}): they have no image position"
    )


def _scale_factor(scale: Tensor, translation: Tensor) -> Tensor:
    """clamp(scale + 1, SCALE_FLOOR) as a (...) tensor; scale may be (..., 1) or (...)."""
    if not isinstance(scale, Tensor) or not isinstance(translation, Tensor):
        raise TypeError("scale and translation must be torch.Tensors")
    if translation.dim() < 1 or translation.shape[-1] != 3:
        raise ValueError(f"translation must have shape (..., 3), got {tuple(translation.shape)}")
    if scale.dim() == translation.dim() and scale.shape[-1] == 1:
        scale = scale[..., 0]
    elif scale.dim() != translation.dim() - 1:
        raise ValueError(
            f"scale must have shape (..., 1) or (...) with translation (..., 3); got scale "
            f"{tuple(scale.shape)} and translation {tuple(translation.shape)}"
        )
    return (scale + 1.0).clamp_min(SCALE_FLOOR)


def _planar(translation: Tensor) -> Tensor:
    """Translation (..., 3) with t_z replaced by 0, as a new tensor (the input is untouched)."""
    return torch.cat((translation[..., :2], torch.zeros_like(translation[..., 2:])), dim=-1)


def ortho_project_3d(vertices: Tensor, scale: Tensor, translation: Tensor, image_size: int = 256) -> Tensor:
    """Orthographic projection of posed vertices, keeping depth (for rendering and z-buffers).

    ``v' = v * clamp(scale + 1, 1e-8) + (t_x, t_y, 0)``; ``x, y = (v'_xy + 1) / 2 * image_size`` and
    ``z = v'_z * image_size / 2``, so the result is a similarity transform of the posed mesh (same
    units on all three axes).  z points away from the viewer: smaller z is closer to the camera.

    Args:
        vertices: (..., V, 3) vertices already rotated by R (FLAME output ``posed_vertices``).
        scale: (..., 1) or (...) raw scale parameter.
        translation: (..., 3) translation; t_z is ignored.
        image_size: crop side S in pixels.

    Returns:
        (..., V, 3) crop pixels x, y and depth z.
    """
    _check_points(vertices, "vertices")
    factor = _scale_factor(scale, translation)[..., None, None]  # (..., 1, 1)
    posed = vertices * factor + _planar(translation)[..., None, :]  # (..., V, 3)
    half = 0.5 * image_size
    return torch.cat(((posed[..., :2] + 1.0) * half, posed[..., 2:] * half), dim=-1)


def ortho_project(vertices: Tensor, scale: Tensor, translation: Tensor, image_size: int = 256) -> Tensor:
    """Orthographic projection of posed vertices to crop pixels (``docs/conventions.md`` section 4).

    ``pixel = (v * clamp(scale + 1, 1e-8) + t + 1) / 2 * image_size`` on x and y (t_z ignored).
    Shapes as :func:`ortho_project_3d`; returns (..., V, 2).
    """
    return ortho_project_3d(vertices, scale, translation, image_size)[..., :2]


def ortho_camera_matrix(
    rotation: Tensor, scale: Tensor, translation: Tensor, image_size: int = 256
) -> Tensor:
    """Affine camera (..., 3, 4) mapping un-rotated model vertices ``[v, 1]`` to ``ortho_project_3d``.

    ``A = [S/2 * (s + 1) * R | S/2 * (t_x + 1, t_y + 1, 0)]`` so that
    ``[v, 1] @ A^T == ortho_project_3d(v @ R^T, scale, translation, S)``.

    Args:
        rotation: (..., 3, 3) rotation R.
        scale: (..., 1) or (...) raw scale parameter.
        translation: (..., 3) translation; t_z is ignored.
        image_size: S.
    """
    if not isinstance(rotation, Tensor) or tuple(rotation.shape[-2:]) != (3, 3):
        shape = tuple(getattr(rotation, "shape", ()))
        raise ValueError(f"rotation must be a tensor of shape (..., 3, 3), got {shape}")
    half = 0.5 * image_size
    factor = _scale_factor(scale, translation)[..., None, None]  # (..., 1, 1)
    offset = torch.cat((translation[..., :2] + 1.0, torch.zeros_like(translation[..., 2:])), dim=-1)
    linear = half * factor * rotation  # (..., 3, 3)
    shift = (half * offset)[..., :, None].expand(*linear.shape[:-1], 1)  # (..., 3, 1)
    return torch.cat((linear, shift), dim=-1)


def _as_pair(value: Tensor | Sequence[float], like: Tensor, name: str) -> Tensor:
    """A (..., 2) tensor from a pair or a tensor, in ``like``'s dtype and device."""
    pair = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if pair.dim() < 1 or pair.shape[-1] != 2:
        raise ValueError(f"{name} must be a pair (x, y) or a (..., 2) tensor, got shape {tuple(pair.shape)}")
    return pair


def scale_translation_to_image(
    scale: Tensor,
    translation: Tensor,
    *,
    k: Tensor | float,
    pad: Tensor | Sequence[float],
    offset: Tensor | Sequence[float],
    image_size: int = 256,
) -> tuple[Tensor, Tensor]:
    """Map crop-space orthographic parameters to original-image ones.

    A crop pixel ``u`` and an original pixel ``x`` are related by ``x = (u - pad) / k + offset``.  With
    ``u = (v (s + 1) + t + 1) S / 2`` this gives ``s' + 1 = (s + 1) / k`` and
    ``t' = (t + 1 - 2 pad / S) / k - 1 + 2 offset / S`` (pad and offset have z = 0), so that
    ``ortho_project(v, s', t', S)`` lands on original-image pixels.  The DAD-3DNet reference's formula is
    offset = 0.

    Args:
        scale: (..., 1) or (...) raw crop-space scale.
        translation: (..., 3) crop-space translation.
        k: crop scale factor, a number or a (...) tensor.
        pad: (pad_x, pad_y) crop padding in pixels, a pair or a (..., 2) tensor.
        offset: (x0, y0) original-image position of the crop's origin, a pair or a (..., 2) tensor.
        image_size: S, the crop side.

    Returns:
        (scale', translation') with the shapes of the inputs.
    """
    _scale_factor(scale, translation)  # validates the shapes
    k_t = torch.as_tensor(k, dtype=translation.dtype, device=translation.device)
    if not bool(torch.all(k_t > 0)):
        raise ValueError(f"k must be positive, got {k}")
    shift = _as_pair(offset, translation, "offset") - _as_pair(pad, translation, "pad") / k_t[..., None]
    shift3 = torch.cat((shift, torch.zeros_like(shift[..., :1])), dim=-1) * (2.0 / image_size)  # (..., 3)
    new_translation = (translation + 1.0) / k_t[..., None] - 1.0 + shift3
    k_scale = k_t[..., None] if scale.dim() == translation.dim() else k_t
    return (scale + 1.0) / k_scale - 1.0, new_translation


def check_focal(focal: float, name: str = "focal") -> None:
    """A ValueError naming ``name`` unless ``focal`` is a finite positive number (a focal length in image
    sizes, :func:`line_of_sight_rotation`)."""
    if isinstance(focal, bool) or not np.isfinite(focal) or focal <= 0:
        raise ValueError(f"{name} must be a positive number (image sizes), got {focal!r}")


def line_of_sight_rotation(point: Sequence[float], image_hw: Sequence[int], focal: float) -> np.ndarray:
    """The rotation Q (3, 3, float64) that turns the line of sight to an image point onto the optical axis.

    A pinhole camera looks from the image centre ``((W - 1) / 2, (H - 1) / 2)`` with a focal length of
    ``focal`` times the image's longest side; the ray to the pixel ``point = (x, y)`` has the direction
    ``d = (x - (W - 1) / 2, y - (H - 1) / 2, focal * max(H, W))`` in the image-aligned camera frame (x right,
    y down, z away from the camera).  Q rotates ``d`` onto ``(0, 0, 1)`` about their common normal
    (:func:`axis_alignment`); the identity at the image centre.  A head seen along ``d`` with rotation
    R (camera frame) looks, in a crop centred on it, like a head on the optical axis with rotation
    ``Q R``: the crop's view of it.
    """
    height, width = (int(v) for v in image_hw)
    if height <= 0 or width <= 0:
        raise ValueError(f"image_hw must be two positive sizes (height, width), got {tuple(image_hw)}")
    check_focal(focal)
    x, y = (float(v) for v in point)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"point must be a finite pixel (x, y), got {tuple(point)}")
    return axis_alignment((x - (width - 1) / 2.0, y - (height - 1) / 2.0, float(focal) * max(height, width)))


def axis_alignment(direction: Sequence[float]) -> np.ndarray:
    """The rotation (3, 3, float64) turning ``direction`` (3,) (z > 0: in front of the camera) onto the
    optical axis ``(0, 0, 1)`` about their common normal; the identity on the axis."""
    d = np.asarray(direction, np.float64)
    if d.shape != (3,) or not np.all(np.isfinite(d)) or d[2] <= 0:
        raise ValueError(f"direction must be a finite (x, y, z) with z > 0, got {d.tolist()}")
    d = d / np.linalg.norm(d)
    v = np.cross(d, [0.0, 0.0, 1.0])
    skew = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + skew + skew @ skew / (1.0 + d[2])


def crop_rotation_to_camera(
    rotation: np.ndarray, crop_box: Sequence[float], image_hw: Sequence[int], focal: float
) -> np.ndarray:
    """A rotation read from a crop, turned into the camera frame: ``Q^T R``.

    The network sees the head along the line of sight to the crop's centre, so what it can read from
    the pixels is the crop's view ``Q R_camera`` (:func:`line_of_sight_rotation`; ``crop_box`` is
    ``(x0, y0, x1, y1)`` in original-image pixels).  With the camera's focal length (``focal``: image
    sizes) this undoes Q.  ``rotation`` (3, 3); returns (3, 3) float64.
    """
    r = np.asarray(rotation, np.float64)
    if r.shape != (3, 3):
        raise ValueError(f"rotation must be (3, 3), got {r.shape}")
    x0, y0, x1, y1 = (float(v) for v in crop_box)
    q = line_of_sight_rotation(((x0 + x1) / 2.0, (y0 + y1) / 2.0), image_hw, focal)
    return q.T @ r

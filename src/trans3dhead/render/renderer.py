"""One-call mesh rendering (rasterise + shade + visibility) and blending a render over a photo.

Screen-space conventions are those of :mod:`trans3dhead.render.rasterize`; lighting conventions those of
:mod:`trans3dhead.render.shading`.  Letters: V vertices, F faces, H/W image height/width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trans3dhead.render.rasterize import Fragments, rasterize_checked
from trans3dhead.render.shading import Light, shade_checked, vertex_normals
from trans3dhead.render.supersample import supersampled_image
from trans3dhead.render.validation import (
    check_background,
    check_faces,
    check_image_size,
    check_number,
    check_screen_vertices,
    check_vertex_attribute,
)
from trans3dhead.render.visibility import visibility_checked

__all__ = ["RenderResult", "render_mesh", "overlay"]

DEFAULT_TOLERANCE_FRACTION = 0.02
"""Default visibility depth tolerance, as a fraction of the mesh's depth extent."""


@dataclass(frozen=True)
class RenderResult:
    """Output of :func:`render_mesh` for an (H, W) image of a V-vertex mesh.

    Attributes:
        image: (H, W, 3) float32 RGB in [0, 1], composited over the background.
        depth: (H, W) float32 depth of the nearest face at each pixel centre, ``inf`` where empty.
        face_id: (H, W) int32 nearest face index, -1 where empty.
        mask: (H, W) bool, a face covers the pixel centre.
        coverage: (H, W) float32 fraction of the pixel's samples the mesh covers (equals ``mask`` when
            ``supersample == 1``); the anti-aliased alpha.
        visible: (V,) bool vertex visibility (see :mod:`trans3dhead.render.visibility`).
    """

    image: np.ndarray
    depth: np.ndarray
    face_id: np.ndarray
    mask: np.ndarray
    coverage: np.ndarray
    visible: np.ndarray


def _default_tolerance(vertices: np.ndarray) -> float:
    depth = vertices[vertices[:, 2] > 0, 2]
    return DEFAULT_TOLERANCE_FRACTION * float(depth.max() - depth.min()) if depth.size else 0.0


def _check_options(light: Light | None, supersample: int, depth_tolerance: float | None) -> Light:
    if light is not None and not isinstance(light, Light):
        raise ValueError(f"light must be a Light or None, got {type(light).__name__}")
    is_int = isinstance(supersample, (int, np.integer)) and not isinstance(supersample, bool)
    if not (is_int and 1 <= supersample <= 16):
        raise ValueError(f"supersample must be an int in [1, 16], got {supersample!r}")
    if depth_tolerance is not None:
        check_number(depth_tolerance, "depth_tolerance", minimum=0.0)
    return light if light is not None else Light()


def render_mesh(
    screen_vertices: np.ndarray,
    faces: np.ndarray,
    vertex_colors: np.ndarray,
    *,
    height: int,
    width: int,
    normals: np.ndarray | None = None,
    light: Light | None = None,
    background: np.ndarray | tuple | None = None,
    supersample: int = 1,
    cull_backfaces: bool = False,
    depth_tolerance: float | None = None,
) -> RenderResult:
    """Render a mesh with per-vertex albedo.

    Args:
        screen_vertices: (V, 3) ``(x, y, depth)``, x/y in pixels, depth > 0 in front of the camera.
        faces: (F, 3) integer vertex indices.
        vertex_colors: (V, 3) albedo in [0, 1].
        height: H.
        width: W.
        normals: (V, 3) camera-frame normals (x right, y down, z away).  None computes area-weighted
            normals from ``screen_vertices`` themselves, which is right when depth has the same units and
            scale as x/y (orthographic or weak-perspective screens); otherwise pass them.
        light: lighting; None is :class:`Light` () (frontal white light with ambient).
        background: None (black), an RGB colour (3,) or an image (H, W, 3) in [0, 1].
        supersample: samples per pixel along each axis for the image (anti-aliasing, 1 to 16); depth,
            face_id, mask and visibility always come from the pixel centres.
        cull_backfaces: see :func:`~trans3dhead.render.rasterize.rasterize`.
        depth_tolerance: for visibility; None is 2% of the depth extent of the vertices in front.

    Returns:
        :class:`RenderResult`.
    """
    height, width = check_image_size(height, width)
    vertices = check_screen_vertices(screen_vertices)
    faces = check_faces(faces, len(vertices))
    colors = check_vertex_attribute(
        vertex_colors, len(vertices), name="vertex_colors", channels=3, value_range=(0, 1)
    )
    normals = (
        vertex_normals(vertices, faces)
        if normals is None
        else check_vertex_attribute(normals, len(vertices), name="normals", channels=3)
    )
    light = _check_options(light, supersample, depth_tolerance)
    bg = check_background(background, height, width)
    fragments: Fragments = rasterize_checked(vertices, faces, height, width, cull_backfaces=cull_backfaces)
    if supersample == 1:
        image = shade_checked(fragments, colors, normals, light, bg)
        coverage = fragments.mask.astype(np.float32)
    else:
        image, coverage = supersampled_image(
            vertices,
            faces,
            colors,
            normals,
            light,
            bg,
            height=height,
            width=width,
            factor=int(supersample),
            cull_backfaces=cull_backfaces,
        )
    tolerance = _default_tolerance(vertices) if depth_tolerance is None else float(depth_tolerance)
    return RenderResult(
        image=image,
        depth=fragments.depth,
        face_id=fragments.face_id,
        mask=fragments.mask,
        coverage=coverage,
        visible=visibility_checked(vertices, fragments.depth, tolerance),
    )


def _check_color(color: tuple[float, float, float]) -> np.ndarray:
    array = np.asarray(color, dtype=np.float32)
    if array.shape != (3,) or not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError(f"color must be None or 3 numbers in [0, 1], got {color!r}")
    return array


def overlay(
    image: np.ndarray,
    result: RenderResult,
    *,
    alpha: float = 0.5,
    color: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Blend a render over a photo: ``out = (1 - a) * image + a * 255 * render`` with per-pixel weight
    ``a = alpha * result.coverage`` (so only where the mesh is, anti-aliased when supersampled).

    Args:
        image: (H, W, 3) uint8 photo (not modified).
        result: a render of the same (H, W).
        alpha: opacity of the mesh, in [0, 1].
        color: None draws ``result.image``; an RGB triple in [0, 1] draws the mesh in that flat colour.

    Returns:
        (H, W, 3) uint8.
    """
    photo = np.asarray(image)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"image must be an (H, W, 3) uint8 array, got {photo.shape} {photo.dtype}")
    if photo.shape[:2] != result.mask.shape:
        raise ValueError(f"image size {photo.shape[:2]} differs from the render's {result.mask.shape}")
    if check_number(alpha, "alpha", minimum=0.0) > 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    paint = result.image if color is None else _check_color(color)
    weight = (alpha * result.coverage)[..., None]  # (H, W, 1)
    blended = (1.0 - weight) * photo.astype(np.float32) + weight * (255.0 * paint)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)

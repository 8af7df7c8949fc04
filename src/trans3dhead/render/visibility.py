"""Per-vertex visibility from a z-buffer.

A vertex ``(x, y, depth)`` is visible when

1. it lies in front of the camera (``depth > 0``) and inside the image rectangle
   ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``, and
2. ``depth <= max(z-buffer over the 2 x 2 pixel centres around (x, y)) + depth_tolerance``.

Why the maximum over the four surrounding centres rather than the nearest pixel: on an unoccluded planar
patch the vertex depth is a convex combination of the depths at those four centres, so it never exceeds
their maximum and the test passes with zero tolerance, however steep the patch -- whereas the nearest
pixel alone can be half a pixel up a steep slope near a silhouette.  Empty pixels have infinite depth, so
a vertex within about a pixel of the silhouette counts as visible even on the far side of a thin rim;
an occluded vertex has all four neighbours covered by a nearer surface.  ``depth_tolerance`` (in depth
units) absorbs concave creases, where the surface around a vertex is nearer than the vertex itself.
Letters: V vertices, H/W image size.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from trans3dhead.render.rasterize import Fragments
from trans3dhead.render.validation import check_number, check_screen_vertices

__all__ = ["vertex_visibility", "visibility_checked"]


@numba.njit(cache=True, nogil=True)
def _visibility_kernel(vertices, depth, tolerance, out):
    """Fill (V,) bool ``out`` from (V, 3) float64 vertices and the (H, W) float32 z-buffer."""
    height, width = depth.shape
    for v in range(vertices.shape[0]):
        x, y, z = vertices[v, 0], vertices[v, 1], vertices[v, 2]
        if not (z > 0 and -0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5):
            out[v] = False
            continue
        j0, i0 = max(0, int(math.floor(x))), max(0, int(math.floor(y)))
        j1, i1 = min(j0 + 1, width - 1), min(i0 + 1, height - 1)
        farthest = max(depth[i0, j0], depth[i0, j1], depth[i1, j0], depth[i1, j1])
        out[v] = z <= farthest + tolerance


def visibility_checked(screen_vertices: np.ndarray, depth: np.ndarray, depth_tolerance: float) -> np.ndarray:
    """:func:`vertex_visibility` on a validated float64 (V, 3) array and an (H, W) float32 z-buffer."""
    out = np.empty(len(screen_vertices), dtype=bool)
    _visibility_kernel(screen_vertices, depth, float(depth_tolerance), out)
    return out


def vertex_visibility(
    screen_vertices: np.ndarray, fragments: Fragments, *, depth_tolerance: float
) -> np.ndarray:
    """Which vertices the camera sees (rule in the module docstring).

    Args:
        screen_vertices: (V, 3) the ``(x, y, depth)`` the fragments were rasterised from.
        fragments: rasterisation of the mesh (any faces: an occluder may be another object).
        depth_tolerance: slack in depth units, >= 0.

    Returns:
        (V,) bool.
    """
    vertices = check_screen_vertices(screen_vertices)
    tolerance = check_number(depth_tolerance, "depth_tolerance", minimum=0.0)
    if not isinstance(fragments, Fragments):
        raise ValueError(f"fragments must be Fragments, got {type(fragments).__name__}")
    return visibility_checked(vertices, fragments.depth, tolerance)

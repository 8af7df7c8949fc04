"""Z-buffer triangle rasterisation in screen space (numba, CPU).

Conventions (letters: V vertices, F faces, H/W image height/width, C channels):

* ``screen_vertices`` (V, 3): ``x`` in pixels along columns, ``y`` in pixels along rows (image y points
  down) and a depth (larger = farther from the camera; any monotone depth works, e.g. camera distance or
  camera-frame z).  Pixel ``(row i, col j)`` is sampled at its centre ``x = j, y = i`` (OpenCV drawing
  convention), so the image covers ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``.
* Vertices with depth ``<= 0`` are treated as behind the camera: every face that uses one is skipped
  (the caller marks such vertices; nothing is clipped against a near plane).  Faces with a vertex farther
  than :data:`MAX_SCREEN_COORD` pixels from the origin in x or y are skipped too.
* Screen x/y are snapped to a 1/256-pixel grid and the edge functions are evaluated exactly in int64,
  so coverage is watertight: with the top-left rule below, two triangles sharing an edge neither leave
  a gap nor both cover a pixel centre lying on it, and a fan around a shared vertex covers a centre on
  that vertex once.  The rule: a centre exactly on an edge belongs to the triangle whose interior lies
  to the edge's right (+x), or below it (+y) for a horizontal edge -- the triangle that contains the
  centre nudged by an infinitesimal step right and a smaller step down.  Zero-area triangles draw nothing.
* Both windings are drawn.  ``cull_backfaces=True`` drops faces whose normal ``(v1 - v0) x (v2 - v0)``
  in the (x right, y down, z away) frame points away from the camera (positive z), i.e. keeps faces
  that run counter-clockwise as the image is displayed.  A mesh wound counter-clockwise seen from outside
  (OpenGL / FLAME) keeps its camera-facing faces when its vertices are given in such a frame.
* Barycentrics are affine in screen space: perspective correction is not applied because the inputs
  are already projected.  Depth is interpolated with the same barycentrics.
* The z-buffer is float32; faces are drawn serially and a depth tie goes to the lower face index, so
  results are deterministic and do not depend on the order faces are drawn in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np

from trans3dhead.render.validation import (
    check_faces,
    check_image_size,
    check_screen_vertices,
    check_vertex_attribute,
)

__all__ = ["MAX_SCREEN_COORD", "SUBPIXEL_BITS", "Fragments", "rasterize", "interpolate"]

logger = logging.getLogger(__name__)

SUBPIXEL_BITS = 8
"""Screen x/y are snapped to multiples of ``2 ** -SUBPIXEL_BITS`` pixels."""

MAX_SCREEN_COORD = float(1 << 21)
"""Faces with a vertex whose |x| or |y| exceeds this many pixels are skipped (int64 headroom)."""


@dataclass(frozen=True)
class Fragments:
    """Per-pixel output of :func:`rasterize` for an (H, W) image.

    Attributes:
        depth: (H, W) float32 interpolated depth of the nearest face, ``inf`` where empty.
        face_id: (H, W) int32 index of the nearest face, -1 where empty.
        bary: (H, W, 3) float32 screen-space barycentrics w.r.t. ``faces[face_id]``, 0 where empty.
        faces: (F, 3) int64 faces the ids refer to.
        num_vertices: V, the number of vertices the faces index.
    """

    depth: np.ndarray
    face_id: np.ndarray
    bary: np.ndarray
    faces: np.ndarray
    num_vertices: int

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a face covers the pixel centre."""
        return self.face_id >= 0


@numba.njit(cache=True, nogil=True)
def _edge_bias(a: int, b: int) -> int:
    """0 when pixel centres on the edge belong to the triangle (inward normal (a, b) points to +x, or to
    +y for a horizontal edge), else 1: with integer edge values ``w - bias >= 0`` tests ownership."""
    if a > 0 or (a == 0 and b > 0):
        return 0
    return 1


@numba.njit(cache=True, nogil=True, inline="always")
def _draw_face(f, xy, z, faces, cull, zbuf, fid, bary):
    """Scan one triangle's clipped bounding box and update the buffers where it is nearest."""
    height, width = fid.shape
    shift = 8  # SUBPIXEL_BITS (a literal so numba treats it as a compile-time constant)
    v0, v1, v2 = faces[f, 0], faces[f, 1], faces[f, 2]
    x0, y0, x1, y1, x2, y2 = xy[v0, 0], xy[v0, 1], xy[v1, 0], xy[v1, 1], xy[v2, 0], xy[v2, 1]
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)  # = 2x signed area = normal z (scaled)
    if area == 0 or (cull and area > 0):
        return
    jmin = max(0, -((-min(x0, x1, x2)) >> shift))  # ceil to the first pixel centre
    jmax = min(width - 1, max(x0, x1, x2) >> shift)
    imin = max(0, -((-min(y0, y1, y2)) >> shift))
    imax = min(height - 1, max(y0, y1, y2) >> shift)
    if jmin > jmax or imin > imax:
        return
    sign = 1 if area > 0 else -1
    # Edge i is opposite vertex i; w_i(p) = a_i * px + b_i * py + c_i, positive inside after ``sign``.
    a0, b0 = sign * (y1 - y2), sign * (x2 - x1)
    a1, b1 = sign * (y2 - y0), sign * (x0 - x2)
    a2, b2 = sign * (y0 - y1), sign * (x1 - x0)
    e0, e1, e2 = _edge_bias(a0, b0), _edge_bias(a1, b1), _edge_bias(a2, b2)
    px, py = jmin << shift, imin << shift
    row0 = a0 * (px - x1) + b0 * (py - y1) - e0
    row1 = a1 * (px - x2) + b1 * (py - y2) - e1
    row2 = a2 * (px - x0) + b2 * (py - y0) - e2
    inv_area = 1.0 / (sign * area)
    z0, z1, z2 = z[v0], z[v1], z[v2]
    for i in range(imin, imax + 1):
        w0, w1, w2 = row0, row1, row2
        for j in range(jmin, jmax + 1):
            if (w0 | w1 | w2) >= 0:
                l0, l1 = (w0 + e0) * inv_area, (w1 + e1) * inv_area
                l2 = 1.0 - l0 - l1
                d = np.float32(l0 * z0 + l1 * z1 + l2 * z2)
                if d < zbuf[i, j] or (d == zbuf[i, j] and f < fid[i, j]):
                    zbuf[i, j] = d
                    fid[i, j] = f
                    bary[i, j, 0], bary[i, j, 1], bary[i, j, 2] = l0, l1, l2
            w0 += a0 << shift
            w1 += a1 << shift
            w2 += a2 << shift
        row0 += b0 << shift
        row1 += b1 << shift
        row2 += b2 << shift


@numba.njit(cache=True, nogil=True)
def _fixed_point(vertices, max_coord, xy):
    """Snap x/y of (V, 3) float64 ``vertices`` to the subpixel grid into (V, 2) int64 ``xy``; returns the
    (V,) mask of usable vertices (in front of the camera, within ``max_coord`` pixels)."""
    usable = np.empty(vertices.shape[0], dtype=np.bool_)
    scale = float(1 << 8)  # 2 ** SUBPIXEL_BITS
    for v in range(vertices.shape[0]):
        x, y = vertices[v, 0], vertices[v, 1]
        usable[v] = vertices[v, 2] > 0 and abs(x) <= max_coord and abs(y) <= max_coord
        xy[v, 0] = round(min(max(x, -max_coord), max_coord) * scale)
        xy[v, 1] = round(min(max(y, -max_coord), max_coord) * scale)
    return usable


@numba.njit(cache=True, nogil=True)
def _raster_kernel(vertices, faces, max_coord, cull, zbuf, fid, bary):
    """Draw every face whose vertices are all usable into the buffers (serial, so deterministic);
    returns the number of faces skipped as unusable."""
    xy = np.empty((vertices.shape[0], 2), dtype=np.int64)
    usable = _fixed_point(vertices, max_coord, xy)
    z = vertices[:, 2].copy()
    skipped = 0
    for f in range(faces.shape[0]):
        if usable[faces[f, 0]] and usable[faces[f, 1]] and usable[faces[f, 2]]:
            _draw_face(f, xy, z, faces, cull, zbuf, fid, bary)
        else:
            skipped += 1
    return skipped


def rasterize_checked(
    screen_vertices: np.ndarray, faces: np.ndarray, height: int, width: int, *, cull_backfaces: bool
) -> Fragments:
    """:func:`rasterize` on inputs already validated (float64 (V, 3), int64 (F, 3))."""
    zbuf = np.full((height, width), np.inf, dtype=np.float32)
    fid = np.full((height, width), -1, dtype=np.int32)
    bary = np.zeros((height, width, 3), dtype=np.float32)
    skipped = _raster_kernel(screen_vertices, faces, MAX_SCREEN_COORD, bool(cull_backfaces), zbuf, fid, bary)
    if skipped:
        logger.debug("skipped %d faces behind the camera or out of range", skipped)
    return Fragments(depth=zbuf, face_id=fid, bary=bary, faces=faces, num_vertices=len(screen_vertices))


def rasterize(
    screen_vertices: np.ndarray, faces: np.ndarray, height: int, width: int, *, cull_backfaces: bool = False
) -> Fragments:
    """Rasterise triangles with a z-buffer (conventions in the module docstring).

    Args:
        screen_vertices: (V, 3) float32/float64 ``(x, y, depth)``, x/y in pixels.
        faces: (F, 3) integer vertex indices.
        height: H, image rows.
        width: W, image columns.
        cull_backfaces: skip faces whose normal points away from the camera (clockwise on screen).

    Returns:
        :class:`Fragments` with (H, W) depth / face_id and (H, W, 3) barycentrics.
    """
    height, width = check_image_size(height, width)
    vertices = check_screen_vertices(screen_vertices)
    faces = check_faces(faces, len(vertices))
    return rasterize_checked(vertices, faces, height, width, cull_backfaces=cull_backfaces)


def interpolate(fragments: Fragments, attributes: np.ndarray) -> np.ndarray:
    """Interpolate per-vertex attributes (V, C) at covered pixels -> (H, W, C) float32, 0 where empty."""
    values = check_vertex_attribute(attributes, fragments.num_vertices, name="attributes")
    height, width = fragments.face_id.shape
    out = np.zeros((height, width, values.shape[1]), dtype=np.float32)
    mask = fragments.mask
    corners = fragments.faces[fragments.face_id[mask]]  # (M, 3) vertex ids of each covered pixel's face
    weights = fragments.bary[mask].astype(np.float64)  # (M, 3)
    out[mask] = np.einsum("mk,mkc->mc", weights, values[corners])
    return out

"""Anti-aliasing by supersampling: render ``factor`` x ``factor`` samples per pixel and box-filter them.

Sample ``(a, b)`` of pixel ``(i, j)`` sits at ``x = j - 1/2 + (b + 1/2) / factor`` (same for y with
``a``, ``i``): the pixel centres of a ``factor``-times larger image whose coordinates are
``factor * x + (factor - 1) / 2``.  Letters: V vertices, F faces, H/W output image size.
"""

from __future__ import annotations

import numba
import numpy as np

from trans3dhead.render.rasterize import rasterize_checked
from trans3dhead.render.shading import Light, shade_checked

__all__ = ["supersampled_image"]


@numba.njit(cache=True, nogil=True)
def _box_filter(fine, face_id, factor, background, image, coverage):
    """Average ``fine`` (fH, fW, 3) samples per pixel into ``image`` (H, W, 3) over ``background`` ((1, 1, 3)
    or (H, W, 3)) weighted by the covered fraction, which goes to ``coverage`` (H, W)."""
    height, width = coverage.shape
    bg_rows, bg_cols = background.shape[0] - 1, background.shape[1] - 1
    inv_samples = 1.0 / (factor * factor)
    for i in range(height):
        for j in range(width):
            red = green = blue = 0.0
            covered = 0
            for a in range(i * factor, (i + 1) * factor):
                for b in range(j * factor, (j + 1) * factor):
                    if face_id[a, b] >= 0:
                        covered += 1
                        red += fine[a, b, 0]
                        green += fine[a, b, 1]
                        blue += fine[a, b, 2]
            fraction = covered * inv_samples
            coverage[i, j] = fraction
            bg = background[min(i, bg_rows), min(j, bg_cols)]
            image[i, j, 0] = red * inv_samples + (1.0 - fraction) * bg[0]
            image[i, j, 1] = green * inv_samples + (1.0 - fraction) * bg[1]
            image[i, j, 2] = blue * inv_samples + (1.0 - fraction) * bg[2]


def supersampled_image(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray,
    normals: np.ndarray,
    light: Light,
    background: np.ndarray,
    *,
    height: int,
    width: int,
    factor: int,
    cull_backfaces: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased image (H, W, 3) float32 and coverage (H, W) float32 from validated inputs: vertices
    (V, 3) float64, faces (F, 3) int64, colours and normals (V, 3) float64, background (3,) or (H, W, 3)."""
    scaled = vertices.copy()
    scaled[:, :2] = vertices[:, :2] * factor + (factor - 1) / 2.0
    fine = rasterize_checked(scaled, faces, height * factor, width * factor, cull_backfaces=cull_backfaces)
    samples = shade_checked(fine, colors, normals, light, np.zeros(3, dtype=np.float32))
    bg = np.ascontiguousarray(background.reshape(1, 1, 3) if background.ndim == 1 else background, np.float32)
    image = np.empty((height, width, 3), dtype=np.float32)
    coverage = np.empty((height, width), dtype=np.float32)
    _box_filter(samples, fine.face_id, factor, bg, image, coverage)
    return image, coverage

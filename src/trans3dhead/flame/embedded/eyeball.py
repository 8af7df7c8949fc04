"""Eyeball meshes: closed latitude-longitude spheres whose pole looks straight ahead (+z).

Rings are placed at fixed polar angles so the pupil and iris edges are crisp: each edge is a pair of
rings 0.04 rad (0.5 mm) apart, one on each side, so per-vertex colours switch within half a millimetre
while the triangles between the two rings stay well shaped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Eyeball", "build_eyeball", "PUPIL_ANGLE", "IRIS_ANGLE"]

PUPIL_ANGLE = 0.15  # polar angle (rad) of the pupil edge, about 1.9 mm on a 12.5 mm eyeball
IRIS_ANGLE = 0.48  # polar angle of the iris edge, about 5.8 mm
_EDGE = 0.02


@dataclass(frozen=True)
class Eyeball:
    """One eyeball: ``vertices`` (E, 3), ``faces`` (G, 3) local ids, ``polar`` (E,) angle from the
    front pole, ``equator`` ids of the ring at 90 degrees (its mean is the centre)."""

    vertices: np.ndarray
    faces: np.ndarray
    polar: np.ndarray
    equator: np.ndarray


def _ring_angles(detail: int) -> np.ndarray:
    edges = [PUPIL_ANGLE - _EDGE, PUPIL_ANGLE + _EDGE, IRIS_ANGLE - _EDGE, IRIS_ANGLE + _EDGE]
    inner = [0.07, 0.31] if detail > 1 else []
    sclera = np.linspace(IRIS_ANGLE + 0.2, np.pi - 0.3, 3 + 2 * detail)
    angles = np.sort(np.concatenate([edges, inner, sclera, [np.pi / 2]]))
    return np.unique(np.round(angles, 9))


def build_eyeball(*, centre: np.ndarray, radius: float, detail: int) -> Eyeball:
    """A closed eyeball of ``radius`` at ``centre`` (3,); ``detail`` >= 1 sets rings and columns."""
    if detail < 1:
        raise ValueError(f"detail must be >= 1, got {detail}")
    polar_rings = _ring_angles(detail)
    columns = 8 + 4 * detail
    azimuth = np.arange(columns) * 2 * np.pi / columns
    theta = np.repeat(polar_rings, columns)
    phi = np.tile(azimuth, polar_rings.size)
    ring_pts = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)
    unit = np.concatenate([[[0.0, 0.0, 1.0]], ring_pts, [[0.0, 0.0, -1.0]]])
    polar = np.concatenate([[0.0], theta, [np.pi]])
    last = unit.shape[0] - 1
    ids = 1 + np.arange(polar_rings.size * columns).reshape(polar_rings.size, columns)
    # Seen from outside near the front pole, azimuth phi runs counter-clockwise, so (pole, k, k+1) is CCW.
    faces = [np.stack([np.zeros(columns, int), ids[0], np.roll(ids[0], -1)], 1)]
    for r in range(polar_rings.size - 1):
        a, b = ids[r], ids[r + 1]
        faces.append(np.stack([a, b, np.roll(b, -1)], 1))
        faces.append(np.stack([a, np.roll(b, -1), np.roll(a, -1)], 1))
    faces.append(np.stack([ids[-1], np.full(columns, last), np.roll(ids[-1], -1)], 1))
    equator = ids[int(np.argmin(np.abs(polar_rings - np.pi / 2)))]
    return Eyeball(
        vertices=centre + radius * unit,
        faces=np.concatenate(faces).astype(np.int64),
        polar=polar,
        equator=equator.copy(),
    )

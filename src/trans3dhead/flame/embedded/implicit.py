"""Signed-distance-like primitives and smooth Boolean operators for the procedural head.

Points are passed component-major, as an array (3, N) of x, y, z rows (cheaper to evaluate than (N, 3)).
Every function returns values (N,) that are negative inside, positive outside and roughly metric near
the surface (exact for spheres, a first-order approximation for ellipsoids).  The smooth operators are the
usual polynomial blends: ``smooth_union(a, b, k)`` equals ``min(a, b)`` when the two surfaces are farther
apart than ``k`` and rounds the crease between them otherwise.  :func:`local` skips a primitive outside
its bounding box, which is exact as long as the box is padded by more than the blend widths used with it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "ellipsoid",
    "sphere",
    "capsule",
    "elliptic_cylinder",
    "smooth_union",
    "smooth_subtract",
    "local",
    "FAR",
]

FAR = 1.0  # value returned far from a skipped primitive (metres: farther than any blend width)


def sphere(p: np.ndarray, centre, radius: float) -> np.ndarray:
    """Exact signed distance to a sphere: points (3, N) -> (N,)."""
    dx, dy, dz = p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]
    return np.sqrt(dx * dx + dy * dy + dz * dz) - radius


def ellipsoid(p: np.ndarray, centre, radii) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid: points (3, N) -> (N,).

    Uses ``k0 (k0 - 1) / k1`` with ``k0 = |q / r|`` and ``k1 = |q / r^2|`` (q relative to the centre),
    which is zero on the surface with unit gradient there and smooth away from the centre.
    """
    ax, ay, az = (p[0] - centre[0]) / radii[0], (p[1] - centre[1]) / radii[1], (p[2] - centre[2]) / radii[2]
    k0 = np.sqrt(ax * ax + ay * ay + az * az)
    bx, by, bz = ax / radii[0], ay / radii[1], az / radii[2]
    k1 = np.sqrt(bx * bx + by * by + bz * bz)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def capsule(p: np.ndarray, start, end, radius_start: float, radius_end: float) -> np.ndarray:
    """Signed distance (approximate when the radii differ) to a round cone: points (3, N) -> (N,)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    axis = end - start
    rx, ry, rz = p[0] - start[0], p[1] - start[1], p[2] - start[2]
    t = np.clip((rx * axis[0] + ry * axis[1] + rz * axis[2]) / float(axis @ axis), 0.0, 1.0)
    dx, dy, dz = rx - t * axis[0], ry - t * axis[1], rz - t * axis[2]
    return np.sqrt(dx * dx + dy * dy + dz * dz) - (radius_start + t * (radius_end - radius_start))


def elliptic_cylinder(
    p: np.ndarray, centre_xz, radii_xz, y_range: tuple[float, float], rounding: float
) -> np.ndarray:
    """Approximate signed distance to a vertical elliptic cylinder capped at ``y_range`` with rounded rims.

    points (3, N) -> (N,); ``centre_xz`` / ``radii_xz`` (2,) give the cross-section, ``rounding`` the rim
    radius (metres).
    """
    ax, az = (p[0] - centre_xz[0]) / radii_xz[0], (p[2] - centre_xz[1]) / radii_xz[1]
    k0 = np.sqrt(ax * ax + az * az)
    bx, bz = ax / radii_xz[0], az / radii_xz[1]
    radial = k0 * (k0 - 1.0) / np.maximum(np.sqrt(bx * bx + bz * bz), 1e-12) + rounding
    vertical = np.maximum(y_range[0] - p[1], p[1] - y_range[1]) + rounding
    outside = np.hypot(np.maximum(radial, 0.0), np.maximum(vertical, 0.0))
    return outside + np.minimum(np.maximum(radial, vertical), 0.0) - rounding


def smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum of two fields (N,) with blend width ``k`` (metres)."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def smooth_subtract(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Remove the inside of ``b`` from ``a`` with a rounded crease of width ``k``: (N,) -> (N,)."""
    return -smooth_union(-a, b, k)


def local(p: np.ndarray, low, high, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` (points (3, M) -> (M,)) evaluated inside the box [low, high], :data:`FAR` outside: (N,)."""
    inside = (
        (p[0] >= low[0])
        & (p[0] <= high[0])
        & (p[1] >= low[1])
        & (p[1] <= high[1])
        & (p[2] >= low[2])
        & (p[2] <= high[2])
    )
    out = np.full(p.shape[1], FAR)
    if inside.any():
        out[inside] = fn(p[:, inside])
    return out

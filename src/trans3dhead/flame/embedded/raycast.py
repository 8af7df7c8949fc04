"""Radial parameterisation of the head surface and a vectorised ray caster.

A surface point is addressed by an azimuth ``alpha`` (radians, 0 = straight ahead (+z), positive towards
+x, the subject's left) and a row parameter ``beta`` in [-pi/2, pi/2].  Above ``SLIDE_START`` the ray
starts at the anatomy's ray centre with elevation ``beta``; below it the origin slides down the neck axis
while the elevation keeps falling, so the neck is hit at a useful angle instead of grazing.  Both the
origin height and the elevation decrease monotonically with ``beta``, so two rays of one azimuth never
cross: any surface that each ray meets once (the outermost crossing is taken) is meshed without folds.

:class:`SurfaceProfile` tabulates the surface distance on a coarse (alpha, beta) grid, from which the
layout measures arc lengths along meridians and rings without casting more rays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["SLIDE_START", "RayFrame", "SurfaceProfile", "cast_outermost", "smoothstep"]

SLIDE_START = -1.13  # row parameter (rad) below which the ray origin slides down the neck axis
_ORIGIN_SPAN = 0.6  # fraction of the sliding range over which the origin descends
_ELEVATION_START = 0.45  # fraction of the sliding range after which the elevation turns downwards


def smoothstep(t: np.ndarray) -> np.ndarray:
    """Cubic Hermite step, 0 below 0 and 1 above 1: (...) -> (...)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class RayFrame:
    """Maps (alpha, beta) to ray origins and unit directions.

    Args:
        centre: (3,) origin of the rays above ``SLIDE_START``.
        low_origin_y: height of the lowest origin on the vertical axis through ``centre``.
    """

    def __init__(self, *, centre: np.ndarray, low_origin_y: float) -> None:
        self.centre = np.asarray(centre, dtype=np.float64)
        self.low_origin_y = float(low_origin_y)

    def origin_and_elevation(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Origin height (N,) and elevation (N,) of the rays with row parameter beta (N,)."""
        beta = np.asarray(beta, dtype=np.float64)
        u = np.clip((SLIDE_START - beta) / (SLIDE_START + np.pi / 2), 0.0, 1.0)
        origin_y = self.centre[1] + (self.low_origin_y - self.centre[1]) * smoothstep(u / _ORIGIN_SPAN)
        drop = smoothstep((u - _ELEVATION_START) / (1.0 - _ELEVATION_START))
        elevation = np.where(beta >= SLIDE_START, beta, SLIDE_START - (SLIDE_START + np.pi / 2) * drop)
        return origin_y, elevation

    def rays(self, alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Origins (N, 3) and unit directions (N, 3) for parameters alpha, beta (N,)."""
        alpha = np.asarray(alpha, dtype=np.float64)
        origin_y, elevation = self.origin_and_elevation(beta)
        cos_e = np.cos(elevation)
        directions = np.stack([cos_e * np.sin(alpha), np.sin(elevation), cos_e * np.cos(alpha)], axis=-1)
        origins = np.repeat(self.centre[None], alpha.shape[0], axis=0)
        origins[:, 1] = origin_y
        return origins, directions

    def points(self, alpha: np.ndarray, beta: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Points (N, 3) at ``distance`` (N,) along the rays (alpha, beta)."""
        origins, directions = self.rays(alpha, beta)
        return origins + distance[:, None] * directions

    def parameters(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`rays` for points reached by rays from the centre: (N, 3) -> alpha, beta (N,)."""
        rel = np.asarray(points, dtype=np.float64) - self.centre
        alpha = np.arctan2(rel[:, 0], rel[:, 2])
        beta = np.arctan2(rel[:, 1], np.hypot(rel[:, 0], rel[:, 2]))
        return alpha, beta


def cast_outermost(
    field: Callable[[np.ndarray], np.ndarray],
    origins: np.ndarray,
    directions: np.ndarray,
    *,
    max_distance: float = 0.26,
    tolerance: float = 2e-5,
    max_steps: int = 48,
) -> np.ndarray:
    """Distance (N,) along each ray to the outermost zero crossing of ``field``.

    The field must be distance-like (a signed distance or a smooth blend of them).  Each ray is traced
    inwards from ``max_distance`` by conservative sphere-tracing steps; a step that lands inside is undone
    by bisection, and rays that graze the surface for ``max_steps`` fall back to small fixed steps.
    Raises ``ValueError`` if a ray never enters the surface (its origin must be inside).
    """
    outer = np.full(origins.shape[0], max_distance)  # known outside
    inner = np.full(origins.shape[0], np.nan)  # known inside, once found
    t = outer.copy()
    active = np.arange(origins.shape[0])
    for step in range(max_steps + 400):
        if not active.size:
            break
        values = field(origins[active] + t[active, None] * directions[active])
        inside = values < 0.0
        inner[active[inside]] = t[active[inside]]
        close = ~inside & (values < tolerance)
        inner[active[close]] = np.maximum(t[active[close]] - 2.0 * tolerance, 0.0)
        outer[active[close]] = t[active[close]] + tolerance
        active, values = active[~inside & ~close], values[~inside & ~close]
        outer[active] = t[active]
        move = 0.8 * values if step < max_steps else np.minimum(0.8 * values, 0.0015)
        t[active] = np.maximum(t[active] - np.maximum(move, tolerance), 0.0)
    missing = np.isnan(inner)
    if missing.any():
        first = directions[np.flatnonzero(missing)[0]]
        raise ValueError(f"{missing.sum()} rays never enter the surface; first direction {first}")
    return _bisect(field, origins, directions, inner, outer, 4.0 * tolerance)


def _bisect(field, origins, directions, inner, outer, width: float) -> np.ndarray:
    """Refine brackets (inner inside, outer outside) wider than ``width``: (N,) each -> distance (N,)."""
    inner, outer = inner.copy(), outer.copy()
    wide = np.flatnonzero(outer - inner > width)
    while wide.size:
        mid = 0.5 * (inner[wide] + outer[wide])
        inside = field(origins[wide] + mid[:, None] * directions[wide]) < 0.0
        inner[wide[inside]] = mid[inside]
        outer[wide[~inside]] = mid[~inside]
        wide = wide[outer[wide] - inner[wide] > width]
    return 0.5 * (inner + outer)


class SurfaceProfile:
    """Surface distances on an (A, B) grid of azimuths in [0, pi] and row parameters in [-pi/2, pi/2].

    Args:
        frame: the ray parameterisation.
        field: implicit surface, points (N, 3) -> values (N,).
        num_alpha: A, azimuth samples.
        num_beta: B, row-parameter samples.
    """

    def __init__(
        self,
        *,
        frame: RayFrame,
        field: Callable[[np.ndarray], np.ndarray],
        num_alpha: int = 25,
        num_beta: int = 320,
    ) -> None:
        self.frame = frame
        self.alphas = np.linspace(0.0, np.pi, num_alpha)
        self.betas = np.linspace(-np.pi / 2, np.pi / 2, num_beta)
        grid_a, grid_b = np.meshgrid(self.alphas, self.betas, indexing="ij")
        origins, directions = frame.rays(grid_a.ravel(), grid_b.ravel())
        self.distance = cast_outermost(field, origins, directions).reshape(num_alpha, num_beta)

    def distance_at(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Bilinearly interpolated surface distance at (alpha, beta) (N,) each -> (N,); symmetric in alpha."""
        a = np.abs(np.asarray(alpha, dtype=np.float64))
        a = np.where(a > np.pi, 2 * np.pi - a, a)
        fa = np.clip(a / (self.alphas[1] - self.alphas[0]), 0, self.alphas.size - 1 - 1e-9)
        fb = np.clip((beta - self.betas[0]) / (self.betas[1] - self.betas[0]), 0, self.betas.size - 1 - 1e-9)
        ia, ib = fa.astype(int), fb.astype(int)
        wa, wb = fa - ia, fb - ib
        d = self.distance
        top = d[ia, ib] * (1 - wb) + d[ia, ib + 1] * wb
        bottom = d[ia + 1, ib] * (1 - wb) + d[ia + 1, ib + 1] * wb
        return top * (1 - wa) + bottom * wa

    def points(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """Approximate surface points (N, 3) at (alpha, beta) (N,)."""
        alpha = np.asarray(alpha, dtype=np.float64)
        beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), alpha.shape)
        return self.frame.points(alpha, beta, self.distance_at(alpha, beta))

    def meridian_arclength(self, weights: np.ndarray) -> np.ndarray:
        """Arc length (B,) from the bottom pole along the meridians, averaged with azimuth weights (A,)."""
        grid_a, grid_b = np.meshgrid(self.alphas, self.betas, indexing="ij")
        pts = self.frame.points(grid_a.ravel(), grid_b.ravel(), self.distance.ravel())
        pts = pts.reshape(self.alphas.size, self.betas.size, 3)
        seg = np.linalg.norm(np.diff(pts, axis=1), axis=-1)  # (A, B-1)
        mean_seg = (weights[:, None] * seg).sum(0) / weights.sum()
        return np.concatenate([[0.0], np.cumsum(mean_seg)])

    def ring_speed(self, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """|d point / d alpha| (N,) on the rings through (alpha, beta) (N,), by central differences."""
        step = 1e-3
        ahead = self.points(alpha + step, beta)
        behind = self.points(alpha - step, beta)
        return np.linalg.norm(ahead - behind, axis=-1) / (2 * step)

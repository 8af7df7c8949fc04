"""Grid layout of the head surface: rows, columns, feature-aligned row warping and triangulation.

The surface is meshed as R rings ("rows") between two pole vertices.  Every row uses a subset of one
master set of C column azimuths: rows across the face use them all (so eyelid and lip rows line up
column by column), rows near the poles keep fewer.  Neighbouring rows are stitched by a zipper that
walks both rings by azimuth; where both advance together it splits the quad mirror-symmetrically.

Faces are wound counter-clockwise seen from outside: azimuth grows towards +x and rows grow upwards,
so (lower-left, lower-right, upper-left) is counter-clockwise for a viewer in front of the surface.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trans3dhead.flame.embedded.raycast import SurfaceProfile, smoothstep

__all__ = ["AnchorGroup", "GridLayout", "build_layout", "warp_rows", "stitch_rings", "grid_faces"]

FACE_BAND = (-0.95, 1.02)  # row parameters (rad) between which rows keep every column
_TIE = 1e-9


def _ramp(x: np.ndarray, start: float, end: float) -> np.ndarray:
    return smoothstep((x - start) / (end - start))


def row_spacing_factor(beta: np.ndarray) -> np.ndarray:
    """Row spacing relative to the face spacing (B,) -> (B,): coarser on the crown and the neck."""
    crown = 1.0 * _ramp(beta, FACE_BAND[1] - 0.1, np.pi / 2)
    neck = 0.6 * _ramp(-beta, -FACE_BAND[0], 1.25) + 0.6 * _ramp(-beta, 1.25, 1.5)
    centre = 0.15 * (1.0 - _ramp(np.abs(beta), 0.6, 0.9))
    return 1.0 + crown + neck - centre


def column_spacing_factor(alpha: np.ndarray) -> np.ndarray:
    """Column spacing relative to the face spacing (A,) -> (A,): coarser behind the ears."""
    a = np.abs(alpha)
    return 1.0 + 1.5 * _ramp(a, 1.85, 2.6) - 0.15 * (1.0 - _ramp(a, 0.6, 1.2))


@dataclass(frozen=True)
class GridLayout:
    """Rows and columns of the surface grid.

    ``row_beta`` (R,) default row parameters, bottom to top; ``columns`` (C,) master azimuths in
    (-pi, pi], ascending, ending with pi; ``row_columns[i]`` the ascending master-column indices used by
    row i; ``full_rows`` (R,) bool, rows that use every column.
    """

    row_beta: np.ndarray
    columns: np.ndarray
    row_columns: tuple[np.ndarray, ...]
    full_rows: np.ndarray

    @property
    def num_grid_vertices(self) -> int:
        """Vertices of the grid including the two poles."""
        return sum(c.size for c in self.row_columns) + 2


@dataclass(frozen=True)
class AnchorGroup:
    """Feature rows pinned to per-column targets; rows within ``reach`` of them follow smoothly.

    ``rows`` (K,) ascending row indices, ``betas`` (K, C) targets per master column, ``weight`` (C,) how
    much each column follows the targets (0 keeps the default rows).
    """

    rows: np.ndarray
    betas: np.ndarray
    weight: np.ndarray
    reach: int = 4


def _rows(profile: SurfaceProfile, spacing: float) -> np.ndarray:
    weights = 1.0 + 2.0 * (profile.alphas < 1.2)  # the face counts more than the back
    arclength = profile.meridian_arclength(weights)
    density = 1.0 / (spacing * row_spacing_factor(profile.betas))
    measure = np.concatenate([[0.0], np.cumsum(np.diff(arclength) * 0.5 * (density[1:] + density[:-1]))])
    count = max(int(round(measure[-1])), 4)
    targets = np.arange(1, count) * measure[-1] / count
    return np.interp(targets, measure, profile.betas)


def _columns(profile: SurfaceProfile, spacing: float, breakpoints: np.ndarray) -> np.ndarray:
    alphas = np.linspace(0.0, np.pi, 721)
    band = np.linspace(FACE_BAND[0] + 0.15, FACE_BAND[1] - 0.15, 24)
    grid_a, grid_b = np.meshgrid(alphas, band, indexing="ij")
    speed = profile.ring_speed(grid_a.ravel(), grid_b.ravel()).reshape(alphas.size, band.size).mean(1)
    density = speed / (spacing * column_spacing_factor(alphas))
    measure = np.concatenate([[0.0], np.cumsum(np.diff(alphas) * 0.5 * (density[1:] + density[:-1]))])
    cuts = np.interp(np.concatenate([[0.0], np.sort(breakpoints), [np.pi]]), alphas, measure)
    half = [0.0]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        count = max(int(round(hi - lo)), 1)
        half.extend(np.interp(lo + (hi - lo) * np.arange(1, count + 1) / count, measure, alphas))
    half_arr = np.array(half)
    return np.concatenate([-half_arr[1:-1][::-1], half_arr])


def _row_subset(profile: SurfaceProfile, columns: np.ndarray, beta: float, spacing: float) -> np.ndarray:
    """Greedy subset of the columns whose neighbours are at least 3/4 of the local spacing apart (the
    larger of the row and column spacing, so triangles near the poles are about as wide as tall)."""
    start = int(np.flatnonzero(columns == 0.0)[0])
    half = columns[start:]
    pts = profile.points(half, np.full(half.size, beta))
    step = np.linalg.norm(np.diff(pts, axis=0), axis=-1)
    target = 0.75 * spacing * np.maximum(row_spacing_factor(np.array([beta]))[0], column_spacing_factor(half))
    keep, run = [0], 0.0
    for k in range(1, half.size):
        run += step[k - 1]
        if run >= target[k]:
            keep.append(k)
            run = 0.0
    if keep[-1] != half.size - 1:
        if run < 0.5 * target[-1] and len(keep) > 2:
            keep.pop()
        keep.append(half.size - 1)
    keep_arr = np.array(keep) + start
    mirror = 2 * start - keep_arr[1:-1][::-1]
    return np.concatenate([mirror, keep_arr])


def build_layout(profile: SurfaceProfile, *, spacing: float, breakpoints: np.ndarray) -> GridLayout:
    """Rows and columns for a face spacing (metres); ``breakpoints`` (K,) azimuths in (0, pi) that
    must be columns (feature corners)."""
    row_beta = _rows(profile, spacing)
    columns = _columns(profile, spacing, breakpoints)
    full = (row_beta >= FACE_BAND[0]) & (row_beta <= FACE_BAND[1])
    every = np.arange(columns.size)
    subsets = tuple(
        every if f else _row_subset(profile, columns, b, spacing) for b, f in zip(row_beta, full, strict=True)
    )
    return GridLayout(row_beta=row_beta, columns=columns, row_columns=subsets, full_rows=full)


def warp_rows(layout: GridLayout, groups: list[AnchorGroup]) -> np.ndarray:
    """Row parameters per row and master column (R, C) after pulling feature rows onto their targets."""
    beta0 = layout.row_beta
    out = np.repeat(beta0[:, None], layout.columns.size, axis=1)
    for group in groups:
        lo, hi = int(group.rows[0]) - group.reach, int(group.rows[-1]) + group.reach
        rows = np.concatenate([[lo], group.rows, [hi]])
        w = group.weight[None]
        feature = (1 - w) * beta0[group.rows][:, None] + w * group.betas
        values = np.concatenate([beta0[[lo]][:, None] + 0 * w, feature, beta0[[hi]][:, None] + 0 * w])
        for k in range(rows.size - 1):
            a, b = rows[k], rows[k + 1]
            frac = (beta0[a : b + 1] - beta0[a]) / (beta0[b] - beta0[a])
            out[a : b + 1] = values[k][None] + frac[:, None] * (values[k + 1] - values[k])[None]
    return out


def stitch_rings(
    lower: np.ndarray, upper: np.ndarray, lower_angle: np.ndarray, upper_angle: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Triangles (T, 3) joining two closed rings of vertex ids ordered by ascending azimuth.

    Both rings must contain azimuth pi as their last entry (the seam where the walk starts and ends).
    Where the rings share a column the quad is split mirror-symmetrically; elsewhere the walk takes the
    shorter of the two possible diagonals (``points`` (V, 3) are the vertex positions).
    """
    ids_a = np.concatenate([lower[-1:], lower])
    ids_b = np.concatenate([upper[-1:], upper])
    ang_a = np.concatenate([[-np.pi], lower_angle[:-1], [np.pi]])
    ang_b = np.concatenate([[-np.pi], upper_angle[:-1], [np.pi]])
    tris, i, j = [], 0, 0
    while i < ids_a.size - 1 or j < ids_b.size - 1:
        if i == ids_a.size - 1:
            advance_a = False
        elif j == ids_b.size - 1:
            advance_a = True
        elif abs(ang_a[i + 1] - ang_b[j + 1]) <= _TIE:
            advance_a = ang_a[i] + ang_a[i + 1] > 0.0  # mirror-symmetric diagonals
        else:
            via_a = np.linalg.norm(points[ids_a[i + 1]] - points[ids_b[j]])
            via_b = np.linalg.norm(points[ids_a[i]] - points[ids_b[j + 1]])
            advance_a = via_a < via_b
        if advance_a:
            tris.append((ids_a[i], ids_a[i + 1], ids_b[j]))
            i += 1
        else:
            tris.append((ids_a[i], ids_b[j + 1], ids_b[j]))
            j += 1
    return np.array(tris, dtype=np.int64)


def grid_faces(
    layout: GridLayout, row_ids: list[np.ndarray], bottom: int, top: int, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """All grid triangles (F, 3) and the strip (F,) each lies in (the lower row's index, -1 for the bottom
    pole fan); ``row_ids[i]`` are the vertex ids of row i in the order of ``layout.row_columns[i]`` and
    ``points`` (V, 3) the vertex positions."""
    angles = [layout.columns[c] for c in layout.row_columns]
    first = row_ids[0]
    parts = [np.stack([np.full(first.size, bottom), np.roll(first, -1), first], 1)]
    for i in range(len(row_ids) - 1):
        parts.append(stitch_rings(row_ids[i], row_ids[i + 1], angles[i], angles[i + 1], points))
    last = row_ids[-1]
    parts.append(np.stack([last, np.roll(last, -1), np.full(last.size, top)], 1))
    strips = np.concatenate([np.full(len(part), k - 1) for k, part in enumerate(parts)])
    return np.concatenate(parts), strips

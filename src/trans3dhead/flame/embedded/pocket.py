"""The mouth: the lip-contact row, the cut along it and the closed mouth pocket behind it.

One grid row follows the line where the lips meet, from one mouth corner column to the other.  The mesh
is cut along that row: its inner vertices are duplicated, the original copies stay with the upper lip and
the new copies go to the lower lip, and the slit is closed from behind by a pocket (the oral cavity):
``K`` rings that go back and open up into a flattened sack, closed at the back by a strip joining its
upper and lower halves.  The surface stays closed; opening the jaw rotates the lower lip and the lower
half of the pocket, which stretches the pocket instead of tearing the mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trans3dhead.flame.embedded.layout import AnchorGroup
from trans3dhead.flame.embedded.raycast import RayFrame, cast_outermost, smoothstep

__all__ = ["MouthPocket", "mouth_line_betas", "mouth_anchor_group", "build_pocket", "pocket_rings"]

LIP_GAP = 0.00025  # metres each lip copy moves away from the contact line
POCKET_DEPTH = 0.024
POCKET_HEIGHT = 0.007
_BLEND = 0.12  # rad over which the mouth row relaxes to its default outside the corners


def pocket_rings(spacing: float) -> int:
    """Number of pocket rings for a face spacing (metres)."""
    return 3 if spacing > 0.0045 else 4


def mouth_line_betas(
    *,
    frame: RayFrame,
    field: Callable[[np.ndarray], np.ndarray],
    columns: np.ndarray,
    guess: float,
    mouth_y: float,
) -> np.ndarray:
    """Row parameter (M,) where each azimuth (M,) meets the surface at height ``mouth_y``."""
    offsets = np.linspace(-0.07, 0.07, 29)
    alpha = np.repeat(columns, offsets.size)
    beta = np.tile(guess + offsets, columns.size)
    origins, directions = frame.rays(alpha, beta)
    height = (origins + cast_outermost(field, origins, directions)[:, None] * directions)[:, 1]
    height = height.reshape(columns.size, offsets.size) - mouth_y
    out = np.empty(columns.size)
    for k, h in enumerate(height):
        crossing = np.flatnonzero((h[:-1] <= 0.0) & (h[1:] > 0.0))
        if not crossing.size:
            raise ValueError(f"no lip-contact crossing found at azimuth {columns[k]:.3f}")
        i = crossing[np.argmin(np.abs(crossing - offsets.size // 2))]
        out[k] = guess + offsets[i] + (offsets[i + 1] - offsets[i]) * (-h[i]) / (h[i + 1] - h[i])
    return out


def mouth_anchor_group(columns: np.ndarray, row: int, line: np.ndarray, corner: float) -> AnchorGroup:
    """Anchor the mouth row to the lip line ``line`` (C,) between azimuths -corner and corner."""
    outside = (np.abs(columns) - corner).clip(min=0.0)
    weight = 1.0 - smoothstep(outside / _BLEND)
    return AnchorGroup(rows=np.array([row]), betas=line[None], weight=weight, reach=3)


@dataclass(frozen=True)
class MouthPocket:
    """Vertices and faces added by the mouth cut.

    ``positions`` (P, 3) new vertices (ids ``first_id`` onwards): the lower-lip copies, then the rings.
    ``faces`` (Q, 3) pocket faces.  ``upper`` / ``lower`` (n,) ids of the upper / lower lip copies,
    ``corners`` (2,) the corner ids (right at -x, left at +x).  ``ring`` (P,) ring index of each new
    vertex (0 for the lower copies) and ``side`` (P,) +1 upper half, -1 lower half, 0 pocket corner.
    """

    positions: np.ndarray
    faces: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    corners: np.ndarray
    ring: np.ndarray
    side: np.ndarray


def _ring_offsets(num_rings: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.arange(1, num_rings + 1) / num_rings
    return POCKET_DEPTH * f, POCKET_HEIGHT * np.sin(0.5 * np.pi * f) ** 0.7


def build_pocket(
    *, positions: np.ndarray, row_ids: np.ndarray, corners: np.ndarray, first_id: int, num_rings: int
) -> MouthPocket:
    """Cut the mouth row and build the pocket.

    Args:
        positions: (V, 3) current vertex positions (the upper copies are moved up by ``LIP_GAP``).
        row_ids: (n,) ids of the mouth-row vertices strictly between the corners, ascending azimuth.
        corners: (2,) ids of the corner vertices (-x first).
        first_id: id given to the first new vertex.
        num_rings: K >= 1 pocket rings.
    """
    n = row_ids.size
    lip = positions[row_ids]
    ends = positions[corners]
    lateral = np.clip(2 * (lip[:, 0] - ends[0, 0]) / (ends[1, 0] - ends[0, 0]) - 1, -1, 1)
    profile = np.sqrt(np.clip(1 - lateral**2, 0.0, 1.0))
    positions[row_ids, 1] += LIP_GAP
    depth, height = _ring_offsets(num_rings)
    new = [lip - [0.0, LIP_GAP, 0.0]]
    ring, side = [np.zeros(n, int)], [-np.ones(n, int)]
    for k in range(num_rings):
        back = np.array([0.0, 0.0, -depth[k]])
        up = np.zeros((n, 3))
        up[:, 1] = height[k] * profile
        new.extend([ends + back, lip + back + up, lip + back - up])
        ring.append(np.full(2 * n + 2, k + 1))
        side.append(np.concatenate([[0, 0], np.ones(n, int), -np.ones(n, int)]))
    lower = first_id + np.arange(n)
    loops = [np.concatenate([corners[:1], lower, corners[1:], row_ids[::-1]])]
    for k in range(num_rings):
        base = first_id + n + k * (2 * n + 2)
        up_ids, low_ids = base + 2 + np.arange(n), base + 2 + n + np.arange(n)
        loops.append(np.concatenate([[base], low_ids, [base + 1], up_ids[::-1]]))
    faces = [_stitch_loops(a, b) for a, b in zip(loops[:-1], loops[1:], strict=True)]
    faces.append(_close_back(loops[-1], n))
    return MouthPocket(
        positions=np.concatenate(new),
        faces=np.concatenate(faces),
        upper=row_ids.copy(),
        lower=lower,
        corners=np.asarray(corners),
        ring=np.concatenate(ring),
        side=np.concatenate(side),
    )


def _stitch_loops(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Quads between two equal loops, each split into two triangles that keep the winding: (2L, 3)."""
    p, q = outer, np.roll(outer, -1)
    p2, q2 = inner, np.roll(inner, -1)
    return np.concatenate([np.stack([p, q, q2], 1), np.stack([p, q2, p2], 1)])


def _close_back(loop: np.ndarray, n: int) -> np.ndarray:
    """Close the innermost loop [c0, lower..., c1, upper reversed...] by zipping its halves."""
    c0, lower, c1, upper = loop[0], loop[1 : n + 1], loop[n + 1], loop[n + 2 :][::-1]
    tris = [(c0, lower[0], upper[0])]
    for j in range(n - 1):
        tris.append((lower[j], lower[j + 1], upper[j + 1]))
        tris.append((lower[j], upper[j + 1], upper[j]))
    tris.append((lower[-1], c1, upper[-1]))
    return np.array(tris, dtype=np.int64)

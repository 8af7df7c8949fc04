"""Assemble the template mesh: head-and-neck surface, mouth pocket and two eyeballs.

Vertex order: the grid (bottom pole, rows bottom to top, top pole), then the lower-lip copies and the
mouth pocket rings, then the left eyeball (x > 0) and the right eyeball.  Every piece is closed and wound
counter-clockwise seen from outside, so the whole mesh has three closed components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trans3dhead.flame.embedded.context import (
    OPEN_EYES,
    TOLERANCE,
    HeadContext,
    SurfaceGrid,
    build_surface_grid,
)
from trans3dhead.flame.embedded.eyeball import Eyeball, build_eyeball
from trans3dhead.flame.embedded.layout import grid_faces
from trans3dhead.flame.embedded.pocket import MouthPocket, build_pocket, pocket_rings

__all__ = ["HeadMesh", "PART_NAMES", "build_head_mesh", "eye_state_vertices", "eyeball_detail"]

#: Part codes of :attr:`HeadMesh.part`.
PART_NAMES = ("surface", "pocket", "left_eyeball", "right_eyeball")


def eyeball_detail(spacing: float) -> int:
    """Eyeball mesh detail level for a face spacing (metres): finer eyes for finer heads."""
    return 1 if spacing > 0.0065 else (2 if spacing > 0.004 else 3)


@dataclass(frozen=True)
class HeadMesh:
    """The template mesh and the bookkeeping later stages need.

    ``vertices`` (V, 3), ``faces`` (F, 3).  Per vertex (V,): ``part`` (index into :data:`PART_NAMES`),
    ``grid_row`` / ``grid_col`` (grid row and master column, -1 elsewhere), ``pocket_ring`` /
    ``pocket_side`` (see :class:`~.pocket.MouthPocket`; -1 / 0 outside the pocket) and ``polar``
    (eyeballs: angle from the gaze axis, NaN elsewhere).  ``eye_equators`` (2, E) ids of each eyeball's
    equator ring (left eye first).
    """

    grid: SurfaceGrid
    vertices: np.ndarray
    faces: np.ndarray
    part: np.ndarray
    grid_row: np.ndarray
    grid_col: np.ndarray
    pocket: MouthPocket
    pocket_ring: np.ndarray
    pocket_side: np.ndarray
    polar: np.ndarray
    eye_equators: np.ndarray

    @property
    def context(self) -> HeadContext:
        return self.grid.context

    @property
    def eye_rows(self) -> np.ndarray:
        """(4,) grid rows through the eyes: lower margin, lower pit, upper pit, upper margin."""
        return self.grid.eye_rows

    @property
    def mouth_row(self) -> int:
        """Grid row of the lip contact line."""
        return self.grid.mouth_row

    def face_spacing(self) -> float:
        """Median edge length (metres) of the surface grid, a measure of the resolution."""
        faces = self.faces[(self.part[self.faces] == 0).all(1)]
        edges = self.vertices[faces] - self.vertices[np.roll(faces, 1, axis=1)]
        return float(np.median(np.linalg.norm(edges, axis=-1)))

    def skin_faces(self) -> np.ndarray:
        """Faces (F,) bool of the outer skin: the grid, including the lower-lip strip, without the
        mouth pocket and the eyeballs."""
        lower_copy = (self.part == 1) & (self.pocket_ring == 0)
        return ((self.part == 0) | lower_copy)[self.faces].all(1)


def _cut_mouth(
    grid: SurfaceGrid,
    vertices: np.ndarray,
    faces: np.ndarray,
    strips: np.ndarray,
    row_ids: list,
    spacing: float,
) -> MouthPocket:
    """Cut the mouth row (in place on ``vertices`` and ``faces``) and build the pocket behind it."""
    alphas = grid.layout.columns[grid.layout.row_columns[grid.mouth_row]]
    ids = row_ids[grid.mouth_row]
    corner = grid.context.mouth_corner
    inner = ids[np.abs(alphas) < corner - TOLERANCE]
    corners = ids[np.abs(np.abs(alphas) - corner) <= TOLERANCE]
    if corners.size != 2 or inner.size < 2:
        raise ValueError(f"mouth row has {corners.size} corner columns and {inner.size} inner columns")
    pocket = build_pocket(
        positions=vertices,
        row_ids=inner,
        corners=corners,
        first_id=vertices.shape[0],
        num_rings=pocket_rings(spacing),
    )
    below = strips == grid.mouth_row - 1  # the lower lip's faces now use the lower copies
    remap = np.arange(vertices.shape[0])
    remap[inner] = pocket.lower
    faces[below] = remap[faces[below]]
    return pocket


def _padded(values: np.ndarray, fill: float, start: int, total: int) -> np.ndarray:
    out = np.full(total, fill, dtype=np.asarray(values).dtype)
    out[start : start + len(values)] = values
    return out


def build_head_mesh(context: HeadContext, *, spacing: float) -> HeadMesh:
    """Mesh the template at a face spacing (metres)."""
    grid = build_surface_grid(context, spacing=spacing)
    vertices = grid.positions(OPEN_EYES)
    starts = np.cumsum([1] + [c.size for c in grid.layout.row_columns])
    row_ids = [starts[i] + np.arange(c.size) for i, c in enumerate(grid.layout.row_columns)]
    faces, strips = grid_faces(grid.layout, row_ids, 0, int(starts[-1]), vertices)
    pocket = _cut_mouth(grid, vertices, faces, strips, row_ids, spacing)
    anatomy = context.anatomy
    detail = eyeball_detail(spacing)
    balls: list[Eyeball] = [
        build_eyeball(centre=c, radius=anatomy.eyeball_radius, detail=detail) for c in anatomy.eye_centres
    ]
    num_grid, num_pocket = vertices.shape[0], pocket.positions.shape[0]
    offsets = [num_grid + num_pocket, num_grid + num_pocket + balls[0].vertices.shape[0]]
    total = offsets[1] + balls[1].vertices.shape[0]
    part = np.zeros(total, np.int64)
    part[num_grid : offsets[0]], part[offsets[0] : offsets[1]], part[offsets[1] :] = 1, 2, 3
    return HeadMesh(
        grid=grid,
        vertices=np.concatenate([vertices, pocket.positions, balls[0].vertices, balls[1].vertices]),
        faces=np.concatenate([faces, pocket.faces, balls[0].faces + offsets[0], balls[1].faces + offsets[1]]),
        part=part,
        grid_row=_padded(grid.row, -1, 0, total),
        grid_col=_padded(grid.col, -1, 0, total),
        pocket=pocket,
        pocket_ring=_padded(pocket.ring, -1, num_grid, total),
        pocket_side=_padded(pocket.side, 0, num_grid, total),
        polar=np.concatenate([np.full(offsets[0], np.nan), balls[0].polar, balls[1].polar]),
        eye_equators=np.stack([balls[0].equator + offsets[0], balls[1].equator + offsets[1]]),
    )


def eye_state_vertices(mesh: HeadMesh, states: tuple[str, str]) -> np.ndarray:
    """All vertices (V, 3) with the eyelids of the (left, right) eyes in ``states``; only the grid
    vertices whose placement changes are recomputed."""
    grid = mesh.grid
    changed = (np.abs(grid.betas(states) - grid.betas(OPEN_EYES)) > TOLERANCE) | (
        grid.pit_mask(states) != grid.pit_mask(OPEN_EYES)
    )
    ids = np.flatnonzero(changed)
    out = mesh.vertices.copy()
    if ids.size:
        out[ids] = grid.positions(states, ids)
    return out

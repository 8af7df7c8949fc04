"""Resolution-independent template data and the grid parameterisation of the head surface.

:class:`HeadContext` holds what does not depend on the mesh resolution (the anatomy, the ray frame, the
eyelid design and a coarse profile of the surface).  :class:`SurfaceGrid` is the surface grid at one
resolution: which row and column every grid vertex sits on, and how to place the vertices for a given
state of the eyelids (open, closed, wide), which the blink expressions reuse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trans3dhead.flame.embedded.anatomy import HeadAnatomy, head_field
from trans3dhead.flame.embedded.eyelids import EyeDesign, corner_azimuths, eye_anchor_group, pit_distance
from trans3dhead.flame.embedded.layout import GridLayout, build_layout, warp_rows
from trans3dhead.flame.embedded.pocket import mouth_anchor_group, mouth_line_betas
from trans3dhead.flame.embedded.raycast import RayFrame, SurfaceProfile, cast_outermost

__all__ = ["HeadContext", "SurfaceGrid", "build_surface_grid", "OPEN_EYES"]

OPEN_EYES = ("open", "open")
TOLERANCE = 1e-9  # azimuth tolerance (rad) when matching feature corners to columns


class HeadContext:
    """Everything about the template that does not depend on the mesh resolution (built once).

    Args:
        anatomy: the head's dimensions; default :class:`~.anatomy.HeadAnatomy` ().
    """

    def __init__(self, *, anatomy: HeadAnatomy | None = None) -> None:
        self.anatomy = anatomy or HeadAnatomy()
        self.frame = RayFrame(centre=self.anatomy.ray_centre, low_origin_y=self.anatomy.neck_ray_origin_y)
        self.design = EyeDesign()
        self.profile = SurfaceProfile(frame=self.frame, field=self.field, num_alpha=13, num_beta=200)
        self.eye_corners = corner_azimuths(self.anatomy, self.frame, self.design)  # (2,) inner, outer
        self.mouth_corner = float(self.eye_corners[0])  # the mouth corners share the inner canthus columns

    def field(self, points: np.ndarray) -> np.ndarray:
        """The implicit head surface: points (N, 3) -> values (N,)."""
        return head_field(points, self.anatomy)

    def layout(self, spacing: float) -> GridLayout:
        """Grid rows and columns for a face spacing in metres."""
        return build_layout(self.profile, spacing=spacing, breakpoints=self.eye_corners)


@dataclass(frozen=True)
class SurfaceGrid:
    """The surface grid at one resolution; G grid vertices (both poles included, bottom pole first).

    ``eye_rows`` (4,) the rows through the eyes, ``mouth_row`` the lip-contact row, ``mouth_line`` (C,)
    its target row parameter per column, ``row`` / ``col`` / ``alpha`` (G,) the row (-1 at the poles),
    master column and azimuth of every grid vertex.
    """

    context: HeadContext
    layout: GridLayout
    eye_rows: np.ndarray
    mouth_row: int
    mouth_line: np.ndarray
    row: np.ndarray
    col: np.ndarray
    alpha: np.ndarray

    def betas(self, states: tuple[str, str] = OPEN_EYES) -> np.ndarray:
        """Row parameter (G,) of every grid vertex with the (left, right) eyelids in ``states``."""
        c = self.context
        groups = [
            eye_anchor_group(
                layout=self.layout,
                frame=c.frame,
                anatomy=c.anatomy,
                design=c.design,
                rows=self.eye_rows,
                states=states,
            ),
            mouth_anchor_group(self.layout.columns, self.mouth_row, self.mouth_line, c.mouth_corner),
        ]
        warped = warp_rows(self.layout, groups)  # (R, C)
        rows = (warped[i, cols] for i, cols in enumerate(self.layout.row_columns))
        return np.concatenate([[-np.pi / 2], *rows, [np.pi / 2]])

    def pit_mask(self, states: tuple[str, str] = OPEN_EYES) -> np.ndarray:
        """(G,) bool: vertices that sink into an open eyeball (pit rows strictly between the canthi)."""
        inner, outer = self.context.eye_corners
        a = np.abs(self.alpha)
        between = (a > inner + TOLERANCE) & (a < outer - TOLERANCE)
        open_side = np.where(self.alpha > 0, states[0] != "closed", states[1] != "closed")
        return between & open_side & np.isin(self.row, self.eye_rows[1:3])

    def positions(self, states: tuple[str, str] = OPEN_EYES, ids: np.ndarray | None = None) -> np.ndarray:
        """Positions (N, 3) of the grid vertices ``ids`` (default all) for the eyelid ``states``."""
        ids = np.arange(self.row.size) if ids is None else ids
        alpha, beta, pit = self.alpha[ids], self.betas(states)[ids], self.pit_mask(states)[ids]
        c = self.context
        origins, directions = c.frame.rays(alpha, beta)
        distance = np.empty(alpha.size)
        if pit.any():
            pit_ids = np.flatnonzero(pit)
            distance[pit_ids], hit = pit_distance(c.frame, c.anatomy, alpha[pit_ids], beta[pit_ids])
            pit[pit_ids[~hit]] = False  # a ray that grazes past the eyeball stays on the lid
        distance[~pit] = cast_outermost(c.field, origins[~pit], directions[~pit])
        return origins + distance[:, None] * directions


def _feature_rows(context: HeadContext, layout: GridLayout) -> tuple[np.ndarray, int, float]:
    """The four eye rows, the mouth row and the row parameter of the mouth centre."""
    frame, anatomy = context.frame, context.anatomy
    front = anatomy.eye_centre + np.array([0.0, 0.0, anatomy.eyeball_radius])
    _, eye_beta = frame.parameters(front[None])
    mid = 0.5 * (layout.row_beta[:-3] + layout.row_beta[3:])  # centre of each run of four rows
    first = int(np.argmin(np.abs(mid - eye_beta[0])))
    _, mouth_beta = frame.parameters(np.array([[0.0, anatomy.mouth_y, 0.066]]))
    mouth_row = int(np.argmin(np.abs(layout.row_beta - mouth_beta[0])))
    return np.arange(first, first + 4), mouth_row, float(mouth_beta[0])


def build_surface_grid(context: HeadContext, *, spacing: float) -> SurfaceGrid:
    """Lay out the surface grid for a face spacing (metres) and find its feature rows."""
    layout = context.layout(spacing)
    eye_rows, mouth_row, mouth_beta = _feature_rows(context, layout)
    in_mouth = np.abs(layout.columns) <= context.mouth_corner + TOLERANCE
    measured = mouth_line_betas(
        frame=context.frame,
        field=context.field,
        columns=layout.columns[in_mouth],
        guess=mouth_beta,
        mouth_y=context.anatomy.mouth_y,
    )
    # Beyond the corners the line keeps the corner's value; the anchor weight then fades it out.
    line = np.interp(layout.columns, layout.columns[in_mouth], measured)
    row = np.concatenate([[-1], *(np.full(c.size, i) for i, c in enumerate(layout.row_columns)), [-1]])
    col = np.concatenate([[0], *layout.row_columns, [0]])
    alpha = np.where(row >= 0, layout.columns[col], 0.0)
    return SurfaceGrid(
        context=context,
        layout=layout,
        eye_rows=eye_rows,
        mouth_row=mouth_row,
        mouth_line=line,
        row=row,
        col=np.where(row >= 0, col, -1),
        alpha=alpha,
    )

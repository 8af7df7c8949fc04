"""Eyelid margins, the eye openings and their closed / widened states.

Four consecutive grid rows run through each eye: the lower lid margin, a lower "pit" row, an upper pit
row and the upper lid margin.  Between the two canthi (corner columns) the margin rows follow almond-shaped
curves drawn on the lid shell (a sphere ``lid_thickness`` larger than the eyeball); the pit rows run
inside the opening (30 % of its height in from each margin) but sink a few millimetres *into* the eyeball,
so the rendered eyeball shows through the opening and the visible lid edge stays close to the margin rows.
At the corner columns all four rows come within a gap of about 4 mm (more on coarse grids, to keep the
triangles well shaped) and, away from the eye, they relax back to the default rows.

A blink is the same construction with the upper margin brought down to just above the lower one and every
row on the lid shell; "wide" lifts the upper margin.  The expression basis takes the position differences.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from trans3dhead.flame.embedded.anatomy import HeadAnatomy
from trans3dhead.flame.embedded.layout import AnchorGroup, GridLayout
from trans3dhead.flame.embedded.raycast import RayFrame, smoothstep

__all__ = ["EyeDesign", "EYE_STATES", "eye_anchor_group", "pit_distance", "corner_azimuths", "shell_points"]

EYE_STATES = ("open", "closed", "wide")
_PIT_FRACTION = 0.3  # pit rows sit this fraction of the opening height inside the margins
_PIT_DEPTH = 0.003  # metres below the eyeball surface (less where the ray only grazes the eyeball)
_CLOSED_GAP = 0.016  # rad left between the lid margins of a closed eye
_BLEND = 0.15  # rad over which the rows relax to the defaults outside the canthi


@dataclass(frozen=True)
class EyeDesign:
    """Shape of the left palpebral fissure, in eye-local offsets (metres).

    ``half_width`` lateral half-length; ``upper`` / ``lower`` margin heights above / below the canthal
    line at the middle; ``inner_gap`` / ``outer_gap`` the vertical gap left at the canthi; the canthal
    line rises from ``inner_height`` to ``outer_height`` (relative to the eye centre).
    """

    half_width: float = 0.0128
    upper: float = 0.0045
    lower: float = 0.0046
    inner_gap: float = 0.0040
    outer_gap: float = 0.0034
    inner_height: float = -0.0010
    outer_height: float = 0.0008
    wide_lift: float = 0.0028
    wide_drop: float = 0.0008

    def margin(self, s: np.ndarray, which: str, state: str = "open") -> np.ndarray:
        """Eye-local (lateral, vertical) offsets (N, 2) of a margin at s in [-1 (inner), 1 (outer)]."""
        line = self.inner_height + (self.outer_height - self.inner_height) * (s + 1) / 2
        gap = self.inner_gap + (self.outer_gap - self.inner_gap) * (s + 1) / 2
        bump = np.clip(1 - s * s, 0.0, None) ** 0.7
        if which == "upper":
            height = line + gap / 2 + self.upper * bump * (1 - 0.2 * s)
            if state == "wide":
                height = height + self.wide_lift * bump
        else:
            height = line - gap / 2 - self.lower * bump * (1 + 0.15 * s)
            if state == "wide":
                height = height - self.wide_drop * bump
        return np.stack([s * self.half_width, height], axis=-1)


def shell_points(anatomy: HeadAnatomy, offsets: np.ndarray, side: int) -> np.ndarray:
    """Points (N, 3) on the left (side=+1) or right (-1) lid shell at eye-local offsets (N, 2)."""
    radius = anatomy.eyeball_radius + anatomy.lid_thickness
    depth = np.sqrt(np.maximum(radius**2 - (offsets**2).sum(-1), 0.0))
    local = np.stack([offsets[:, 0], offsets[:, 1], depth], axis=-1)
    centre = anatomy.eye_centre * np.array([side, 1.0, 1.0])
    return centre + local * np.array([side, 1.0, 1.0])


def corner_azimuths(anatomy: HeadAnatomy, frame: RayFrame, design: EyeDesign) -> np.ndarray:
    """Azimuths (2,) of the left eye's inner and outer canthus (mid-gap points)."""
    s = np.array([-1.0, 1.0])
    mid = 0.5 * (design.margin(s, "upper") + design.margin(s, "lower"))
    alpha, _ = frame.parameters(shell_points(anatomy, mid, 1))
    return alpha


def _margin_betas(anatomy, frame, design, columns, side, which, state) -> np.ndarray:
    """Row parameter (C,) of a margin curve at each master column azimuth (clamped beyond the canthi)."""
    s = np.linspace(-1.0, 1.0, 161)
    alpha, beta = frame.parameters(shell_points(anatomy, design.margin(s, which, state), side))
    order = np.argsort(alpha)
    return np.interp(columns, alpha[order], beta[order])


def _coarse_design(design: EyeDesign, anatomy: HeadAnatomy, frame: RayFrame, layout: GridLayout) -> EyeDesign:
    """Widen the canthal gaps on coarse grids so the rows pinched there keep well-shaped triangles.

    The four eye rows meet a corner column within the gap; the triangles towards the neighbouring
    columns and rows are only well shaped if the gap is comparable to the grid spacing there.
    """
    columns = layout.columns
    corners = corner_azimuths(anatomy, frame, design)
    front = anatomy.eye_centre + np.array([0.0, 0.0, anatomy.eyeball_radius])
    _, eye_beta = frame.parameters(front[None])
    distance = float(np.linalg.norm(front - frame.centre))
    k = int(np.argmin(np.abs(layout.row_beta - eye_beta[0])))
    row_step = float(np.diff(layout.row_beta[max(k - 3, 0) : k + 4]).mean())
    gaps = []
    for corner in corners:
        j = int(np.argmin(np.abs(columns - corner)))
        col_step = max(columns[j] - columns[j - 1], columns[(j + 1) % columns.size] - columns[j])
        gaps.append(max(0.65 * col_step, 0.9 * row_step) * distance)
    return replace(design, inner_gap=max(design.inner_gap, gaps[0]), outer_gap=max(design.outer_gap, gaps[1]))


def _column_weight(columns: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """1 between the canthi of either eye, easing to 0 within ``_BLEND`` outside them: (C,) -> (C,)."""
    lo, hi = np.sort(corners)
    a = np.abs(columns)
    outside = np.maximum(lo - a, a - hi).clip(min=0.0)
    return 1.0 - smoothstep(outside / _BLEND)


def eye_anchor_group(
    *,
    layout: GridLayout,
    frame: RayFrame,
    anatomy: HeadAnatomy,
    design: EyeDesign,
    rows: np.ndarray,
    states: tuple[str, str],
) -> AnchorGroup:
    """Anchor targets for the four eye rows (lower margin, lower pit, upper pit, upper margin).

    ``states`` gives the (left, right) eye state, each one of :data:`EYE_STATES`.
    """
    for state in states:
        if state not in EYE_STATES:
            raise ValueError(f"eye state must be one of {EYE_STATES}, got {state!r}")
    columns = layout.columns
    design = _coarse_design(design, anatomy, frame, layout)
    targets = np.zeros((4, columns.size))
    for side, state in zip((1, -1), states, strict=True):
        mask = np.sign(columns) == side
        shape = "wide" if state == "wide" else "open"
        upper = _margin_betas(anatomy, frame, design, columns, side, "upper", shape)
        lower = _margin_betas(anatomy, frame, design, columns, side, "lower", shape)
        if state == "closed":
            gap = np.minimum(upper - lower, _CLOSED_GAP)
            rows_beta = [lower, lower + gap / 3, lower + 2 * gap / 3, lower + gap]
        else:
            inset = _PIT_FRACTION * (upper - lower)
            rows_beta = [lower, lower + inset, upper - inset, upper]
        targets[:, mask] = np.stack(rows_beta)[:, mask]
    corners = corner_azimuths(anatomy, frame, design)
    return AnchorGroup(rows=np.asarray(rows), betas=targets, weight=_column_weight(columns, corners))


def pit_distance(
    frame: RayFrame, anatomy: HeadAnatomy, alpha: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) along rays (alpha, beta) to a point just inside the front of the nearer eyeball, and
    whether each ray meets that eyeball at all (N,) bool (the distance is NaN where it does not)."""
    origins, directions = frame.rays(alpha, beta)
    centre = anatomy.eye_centre * np.stack([np.sign(alpha), np.ones_like(alpha), np.ones_like(alpha)], -1)
    to_centre = centre - origins
    b = (to_centre * directions).sum(-1)
    disc = b * b - ((to_centre**2).sum(-1) - anatomy.eyeball_radius**2)
    hit = disc > 1e-10
    half_chord = np.sqrt(np.where(hit, disc, np.nan))
    return b + half_chord - np.minimum(_PIT_DEPTH, 0.6 * half_chord), hit

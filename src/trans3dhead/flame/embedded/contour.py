"""The 17 jaw-contour landmarks and FLAME's yaw-dependent ("dynamic") contour table.

Each contour landmark lives on a planar curve of the surface: the plane contains the viewing axis (z) and
an image-plane direction fanning out from a point behind the mouth (down for the chin, sideways for the
cheeks, so the cheek curves are nearly horizontal).  For a camera yaw the landmark is where that curve
meets the outline of the face in the image: the curve point that projects farthest out along the fan
direction, i.e. where the surface turns away from the camera (its normal is perpendicular to the viewing
direction there), searched in front of the ears, above the neck and outside the nose, lips and chin
front.  The 17 fan directions are chosen so the frontal (yaw 0) points are evenly spaced along the image
outline, from near the right ear (0) through the chin (8) to near the left ear (16).

Table rows follow FLAME / smplx: with ``a`` the head's rotation angle about +y in degrees, rounded,
row ``-a`` for a <= 0 (rows 0..39) and row ``39 + a`` for a > 0 (rows 40..78); beyond 39 degrees the last
row of each half is used.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.raycast import cast_outermost
from trans3dhead.flame.embedded.regions import is_neck
from trans3dhead.flame.embedded.surface_query import closest_points

__all__ = ["NUM_YAW_ROWS", "row_yaw_degrees", "dynamic_contour"]

NUM_YAW_ROWS = 79
_FAN_ORIGIN = np.array([0.0, -0.05, 0.0])
_PHI = np.linspace(0.0, np.radians(150.0), 101)
_EAR_FRONT_Z = -0.022  # contour points stay in front of the ears
_TOP_Y = 0.004  # height of landmarks 0 and 16
_CENTRAL_X = 0.028  # the nose, lips and chin front (|x| below this, above _CENTRAL_Y) never bound the contour
_CENTRAL_Y = -0.085


def row_yaw_degrees() -> np.ndarray:
    """Head rotation about +y (degrees) represented by each table row: (79,)."""
    k = np.arange(NUM_YAW_ROWS)
    return np.where(k <= 39, -k, k - 39).astype(np.float64)


def _curves(field, thetas: np.ndarray) -> np.ndarray:
    """Surface points (T, P, 3) along the fan planes at angles thetas (T,)."""
    z = np.array([0.0, 0.0, 1.0])
    dirs = np.cos(_PHI)[None, :, None] * z + np.sin(_PHI)[None, :, None] * _fan_directions(thetas)[:, None, :]
    flat = dirs.reshape(-1, 3)
    origins = np.broadcast_to(_FAN_ORIGIN, flat.shape)
    return (origins + cast_outermost(field, origins, flat)[:, None] * flat).reshape(dirs.shape)


def _fan_directions(thetas: np.ndarray) -> np.ndarray:
    """Image-plane directions (T, 3) of the fan: theta 0 points down (chin), positive towards +x."""
    return np.stack([np.sin(thetas), -np.cos(thetas), np.zeros_like(thetas)], -1)


def _silhouette(points: np.ndarray, thetas: np.ndarray, view: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Outline point (T, 3) of each curve (T, P, 3) seen along ``view`` (3,): the valid curve point that
    projects farthest out along the fan direction in that view's image plane (``centre`` (3,) is the ray
    centre, the axis of the azimuths that locate the neck)."""
    fan = _fan_directions(thetas)
    outward = fan - (fan @ view)[:, None] * view[None]
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    score = np.einsum("tpd,td->tp", points, outward)
    central = (np.abs(points[..., 0]) < _CENTRAL_X) & (points[..., 1] > _CENTRAL_Y)
    flat = points.reshape(-1, 3)
    neck = is_neck(flat, np.arctan2(flat[:, 0], flat[:, 2] - centre[2])).reshape(points.shape[:2])
    valid = (points[..., 2] > _EAR_FRONT_Z) & ~neck & ~central
    score = np.where(valid, score, -np.inf)
    best = np.clip(np.argmax(score, axis=1), 1, points.shape[1] - 2)
    rows = np.arange(points.shape[0])
    left, mid, right = score[rows, best - 1], score[rows, best], score[rows, best + 1]
    curvature = left - 2 * mid + right
    ok = np.isfinite(left) & np.isfinite(right) & (curvature < 0)
    shift = np.where(ok, 0.5 * (left - right) / np.where(ok, curvature, -1.0), 0.0)  # parabola vertex
    shift = np.clip(shift, -0.5, 0.5)
    lo = np.where(shift < 0, best - 1, best)
    frac = np.where(shift < 0, 1 + shift, shift)[:, None]
    return points[rows, lo] * (1 - frac) + points[rows, lo + 1] * frac


def _fan_angles(field, centre: np.ndarray) -> np.ndarray:
    """17 fan angles whose frontal silhouette points are evenly spaced along the image outline."""
    dense = np.radians(np.linspace(-150.0, 150.0, 61))
    outline = _silhouette(_curves(field, dense), dense, np.array([0.0, 0.0, 1.0]), centre)
    half = np.flatnonzero(dense >= 0)
    above = half[np.argmax(outline[half, 1] >= _TOP_Y)]  # first angle whose outline point is high enough
    lo, hi = outline[above - 1, 1], outline[above, 1]
    top = dense[above - 1] + (dense[above] - dense[above - 1]) * (_TOP_Y - lo) / (hi - lo)
    keep = np.abs(dense) <= top
    thetas, xy = dense[keep], outline[keep, :2]
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(xy, axis=0), axis=1))])
    targets = np.linspace(0.0, arc[-1], 17)
    ends = np.array([-top, top])
    inner = np.interp(targets[1:-1], arc, thetas)
    return np.concatenate([ends[:1], inner, ends[1:]])


def dynamic_contour(mesh: HeadMesh) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic contour table: face ids (79, 17) and barycentrics (79, 17, 3); row 0 is the frontal one."""
    field = mesh.context.field
    centre = mesh.context.anatomy.ray_centre
    thetas = _fan_angles(field, centre)
    pts = _curves(field, thetas)
    yaws = np.radians(row_yaw_degrees())
    views = np.stack([-np.sin(yaws), np.zeros_like(yaws), np.cos(yaws)], -1)  # camera axis in head frame
    targets = np.stack([_silhouette(pts, thetas, view, centre) for view in views])  # (79, 17, 3)
    allowed = mesh.skin_faces()
    f, b = closest_points(targets.reshape(-1, 3), mesh.vertices, mesh.faces, allowed)
    return f.reshape(NUM_YAW_ROWS, 17), b.reshape(NUM_YAW_ROWS, 17, 3)

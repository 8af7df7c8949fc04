"""Skeleton of the template: joint regressor, skinning weights, kinematic tree and pose correctives.

Joints follow FLAME: 0 root (base of the neck), 1 neck (skull base), 2 jaw (hinge in front of the ears),
3 left eye, 4 right eye (left = the subject's left = +x).  The regressor averages vertex patches whose
mean is the joint (both sides of the head for the neck and jaw, the eyeball equators for the eyes), so
the joints follow the shape blendshapes.  Skinning weights are smooth fields except at the lips, where the
upper lip stays on the neck joint and the lower lip goes with the jaw; inside the mouth pocket the jaw
weight fades to 1/2 at the back, so opening the jaw stretches the pocket.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.raycast import smoothstep
from trans3dhead.flame.embedded.regions import Regions

__all__ = ["KINTREE_TABLE", "joint_regressor", "skinning_weights", "pose_correctives"]

#: FLAME's kinematic tree: parents (root's parent is uint32 max) over joint ids.
KINTREE_TABLE = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)

_NECK_PATCH = np.array([0.062, -0.045, -0.045])  # left-side centre; mirrored for the right
_JAW_PATCH = np.array([0.066, -0.010, -0.014])


def _patch_weights(vertices: np.ndarray, allowed: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian weights (V,) around ``centre`` and its mirror image, restricted to ``allowed`` (V,)."""
    out = np.zeros(vertices.shape[0])
    for side in (1.0, -1.0):
        c = centre * np.array([side, 1.0, 1.0])
        d2 = ((vertices - c) ** 2).sum(-1)
        w = np.where(allowed & (d2 < (3 * sigma) ** 2), np.exp(-0.5 * d2 / sigma**2), 0.0)
        out += w / w.sum()
    return out / out.sum()


def joint_regressor(mesh: HeadMesh, regions: Regions) -> np.ndarray:
    """Dense joint regressor (5, V), rows non-negative and summing to 1."""
    v = mesh.vertices
    num = v.shape[0]
    out = np.zeros((5, num))
    surface = regions.surface
    bottom = surface & (v[:, 1] < mesh.context.anatomy.neck_bottom_y + 0.002)
    out[0, bottom] = 1.0 / bottom.sum()
    out[1] = _patch_weights(v, surface, _NECK_PATCH, 0.010)
    out[2] = _patch_weights(v, surface & ~regions.ears, _JAW_PATCH, 0.008)
    for row, ids in zip((3, 4), mesh.eye_equators, strict=True):
        out[row, ids] = 1.0 / ids.size
    return out


def _jaw_field(mesh: HeadMesh) -> np.ndarray:
    """Smooth jaw weight (V,) of the surface, before the lip and pocket overrides."""
    anatomy = mesh.context.anatomy
    p = mesh.vertices
    corners = p[mesh.pocket.corners]
    corner_x, corner_z = float(np.abs(corners[:, 0]).mean()), float(corners[:, 2].mean())
    tmj = anatomy.tmj
    rise = (tmj[1] - anatomy.mouth_y) / (corner_z - tmj[2])
    cut = anatomy.mouth_y + rise * np.clip(corner_z - p[:, 2], 0.0, None)
    lateral = smoothstep((np.abs(p[:, 0]) - 0.6 * corner_x) / (0.4 * corner_x))
    to_corner = np.min(np.linalg.norm(p[:, None] - corners[None], axis=-1), axis=1)
    sigma = 0.0004 + 0.45 * lateral * np.minimum(to_corner, 0.015)  # soft beside the corners, capped
    below_cut = 1.0 - smoothstep(0.5 + (p[:, 1] - cut) / (4.0 * sigma))  # exact 0 / 1 beyond +-2 sigma
    border = -0.105 + (-0.088 + 0.105) * np.clip((0.045 - p[:, 2]) / 0.08, 0.0, 1.0)
    above_border = smoothstep((p[:, 1] - border + 0.024) / 0.026)
    in_front = smoothstep((p[:, 2] + 0.027) / 0.012)
    return below_cut * above_border * in_front


def skinning_weights(mesh: HeadMesh, regions: Regions) -> np.ndarray:
    """LBS weights (V, 5), rows summing to 1."""
    p = mesh.vertices
    root = 1.0 - smoothstep((p[:, 1] + 0.158) / 0.045)
    jaw = _jaw_field(mesh) * (1.0 - root)
    jaw[~regions.surface] = 0.0
    jaw[regions.ears] = 0.0
    pocket = mesh.pocket
    jaw[pocket.upper], jaw[pocket.lower], jaw[pocket.corners] = 0.0, 1.0, 0.5
    ring = mesh.pocket_ring
    depth = np.clip(ring / max(ring.max(), 1), 0.0, 1.0) ** 1.5
    inside = regions.pocket & (ring > 0)
    side = mesh.pocket_side
    half = 0.5 * depth[inside]
    jaw[inside] = np.where(side[inside] > 0, half, np.where(side[inside] < 0, 1.0 - half, 0.5))
    weights = np.zeros((p.shape[0], 5))
    weights[:, 0] = np.where(regions.surface, root, 0.0)
    weights[:, 2] = jaw
    weights[:, 1] = 1.0 - weights[:, 0] - weights[:, 2]
    weights[mesh.part == 2] = [0, 0, 0, 1, 0]
    weights[mesh.part == 3] = [0, 0, 0, 0, 1]
    return weights


def _bump(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian bump (N,) cut to exactly zero beyond three radii (a smooth cosine taper from two)."""
    d = np.sqrt(((points - centre) ** 2).sum(-1)) / radius
    taper = 0.5 * (1.0 + np.cos(np.pi * np.clip(d - 2.0, 0.0, 1.0)))
    return np.exp(-0.5 * d * d) * taper


def pose_correctives(mesh: HeadMesh, regions: Regions, weights: np.ndarray) -> np.ndarray:
    """Pose corrective basis (V, 3, 36): offsets per unit of the features flatten(R_j - I), j = 1..4.

    ``weights`` (V, 5) are the skinning weights: the jaw corrective is scaled by the jaw weight, so a jaw
    rotation moves only jaw-weighted vertices.

    Each corrective is a small smooth bump driven by sin(angle) through the antisymmetric pair of
    rotation-matrix entries: the jaw opening (x axis) bulges the soft tissue under the chin, the neck
    bending forward bulges the front of the neck, tilting sideways creases that side and turning
    raises the opposite sternocleidomastoid.
    """
    p = mesh.vertices
    out = np.zeros((p.shape[0], 3, 36))

    def put(joint: int, row: int, col: int, field: np.ndarray) -> None:
        base = (joint - 1) * 9
        out[:, :, base + 3 * row + col] += 0.5 * field  # R[row, col] = +sin(angle)
        out[:, :, base + 3 * col + row] -= 0.5 * field  # R[col, row] = -sin(angle)

    def bump(centre, radius, direction) -> np.ndarray:
        return _bump(p, np.asarray(centre), radius)[:, None] * np.asarray(direction)[None]

    jaw = bump([0.0, -0.108, 0.032], 0.014, [0.0, -0.006, 0.008]) * weights[:, 2:3]  # jaw vertices only
    put(2, 2, 1, jaw)  # jaw opening about x
    put(1, 2, 1, bump([0.0, -0.130, 0.022], 0.020, [0.0, 0.0, 0.010]))  # neck flexion about x
    side = bump([-0.056, -0.125, -0.030], 0.020, [-0.008, 0.0, 0.0])
    other = bump([0.056, -0.125, -0.030], 0.020, [-0.004, 0.0, 0.0])
    put(1, 1, 0, side + other)  # head tilt about z
    put(1, 0, 2, bump([-0.035, -0.130, 0.005], 0.018, [-0.003, 0.0, 0.004]))  # head turn about y
    out[~regions.surface] = 0.0
    return out

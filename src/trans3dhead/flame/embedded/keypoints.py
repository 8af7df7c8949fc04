"""Dense face keypoints (DAD-3DHeads' 191- and 445-point sets) and the FLAME vertex subsets.

Every candidate vertex of the face area is given to exactly one named part (eyes, lips, brows, nose, jaw
contour, forehead, temples, cheeks, in that priority), so the parts never overlap and the size of a set
is the sum of its parts.  Inside a part the vertices are picked by farthest-point sampling, which spreads
them evenly.  Group sizes follow fixed quotas; a part with too few vertices at a coarse resolution hands
its shortfall to the other counted groups, so the totals are exact (191, and 445 without ``cheeks``).
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.regions import Regions, brow_centre, hairline

__all__ = ["KEYPOINT_QUOTAS", "dense_keypoints", "vertex_subsets"]

#: Group -> number of vertices, per keypoint set.  The 445 set's ``cheeks`` are not counted (the
#: reference drops them), the others add up to the set's size.
KEYPOINT_QUOTAS: dict[int, dict[str, int]] = {
    191: {"brows": 20, "contour": 31, "eyes": 32, "forehead": 32, "lips": 36, "nose": 40},
    445: {
        "brows": 40,
        "cheeks": 80,
        "contour": 51,
        "eyes": 56,
        "forehead": 90,
        "lips": 60,
        "nose": 68,
        "temples": 80,
    },
}
_FILL_ORDER = ("forehead", "temples", "contour", "nose", "lips", "eyes", "brows")


def vertex_subsets(regions: Regions) -> dict[str, np.ndarray]:
    """FLAME / DAD-3DHeads subsets (file stems): face, face_w_ears (head without neck and eyeballs),
    head (face_w_ears without the back of the skull) and eyeballs, each sorted int64 indices."""
    face_w_ears = regions.head & ~regions.neck
    return {
        "face": np.flatnonzero(regions.face),
        "face_w_ears": np.flatnonzero(face_w_ears),
        "head": np.flatnonzero(face_w_ears & ~regions.back),
        "eyeballs": np.flatnonzero(regions.eyeball),
    }


_GROUP_ORDER = ("eyes", "lips", "brows", "nose", "contour", "forehead", "temples", "cheeks")


def _candidates(mesh: HeadMesh, regions: Regions) -> np.ndarray:
    """(V,) bool: the surface in front of the ears, above the neck, up to a little above the hairline."""
    p, alpha = mesh.vertices, regions.alpha
    free = regions.surface & ~regions.ears & ~regions.neck & (np.abs(alpha) < 1.38)
    free &= p[:, 1] < hairline(alpha) + 0.04
    free[mesh.pocket.lower] = True  # the lower-lip copies are lip vertices too
    return free


def _areas(mesh: HeadMesh, regions: Regions, contour_points: np.ndarray) -> dict[str, np.ndarray]:
    """Overlapping raw masks (V,) of every group; bands widen with the mesh spacing."""
    p, alpha, spacing = mesh.vertices, regions.alpha, mesh.face_spacing()
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    inner, outer = mesh.context.eye_corners
    rows, (e_low, _, _, e_up) = mesh.grid_row, mesh.eye_rows
    eyes = (rows >= e_low - 2) & (rows <= e_up + 2) & (np.abs(alpha) > inner - 0.08)
    mouth_y = mesh.context.anatomy.mouth_y
    around_mouth = (np.abs(x) < 0.03) & (np.abs(y - mouth_y) < 0.012 + 0.5 * spacing) & (z > 0.035)
    brow_y, brow_half = brow_centre(x)
    in_brow = (np.abs(y - brow_y) < brow_half + 0.5 * spacing) & (np.abs(x) > 0.011) & (np.abs(x) < 0.056)
    to_contour = np.min(np.linalg.norm(p[:, None] - contour_points[None], axis=-1), axis=1)
    near = to_contour < max(0.007, 1.3 * spacing)
    return {
        "eyes": eyes & (np.abs(alpha) < outer + 0.08),
        "lips": regions.lips | around_mouth,
        "brows": regions.brows | (in_brow & (z > 0.02)),
        "nose": (np.abs(x) < 0.025) & (y > -0.042) & (y < 0.03) & (z > 0.045),
        "contour": near | (y < mouth_y - 0.02),
        "forehead": (y > brow_y + brow_half) & (np.abs(alpha) < 0.75),
        "temples": (np.abs(alpha) >= 0.75) & (y > 0.0),
        "cheeks": np.ones_like(near),
    }


def _named(group: str, mask: np.ndarray, mesh: HeadMesh) -> dict[str, np.ndarray]:
    """Split a group's mask (V,) into its named parts."""
    p = mesh.vertices
    left = p[:, 0] > 0
    if group == "eyes":
        upper = mesh.grid_row >= mesh.eye_rows[2]
        return {
            "left_upper_lid": mask & left & upper,
            "left_lower_lid": mask & left & ~upper,
            "right_upper_lid": mask & ~left & upper,
            "right_lower_lid": mask & ~left & ~upper,
        }
    if group == "lips":
        above = p[:, 1] >= mesh.context.anatomy.mouth_y
        inner = np.zeros_like(mask)
        inner[np.concatenate([mesh.pocket.upper, mesh.pocket.lower, mesh.pocket.corners])] = True
        return {
            "upper_outer": mask & above & ~inner,
            "upper_inner": mask & above & inner,
            "lower_outer": mask & ~above & ~inner,
            "lower_inner": mask & ~above & inner,
        }
    if group == "nose":
        tip = (np.abs(p[:, 0]) < 0.012) & (p[:, 1] < 0.0) & (p[:, 1] > -0.029)
        return {"bridge": mask & (p[:, 1] >= 0.0), "tip": mask & tip, "wings": mask & (p[:, 1] < 0.0) & ~tip}
    if group == "contour":
        chin = np.abs(p[:, 0]) < 0.02
        return {"right": mask & ~left & ~chin, "chin": mask & chin, "left": mask & left & ~chin}
    if group == "forehead":
        return {"forehead": mask}
    return {"left": mask & left, "right": mask & ~left}


def _parts(mesh: HeadMesh, regions: Regions, contour_points: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Disjoint candidate masks: group -> part name -> (V,) bool, groups taking vertices in priority order."""
    free = _candidates(mesh, regions)
    areas = _areas(mesh, regions, contour_points)
    parts = {}
    for group in _GROUP_ORDER:
        mask = areas[group] & free
        free &= ~mask
        parts[group] = _named(group, mask, mesh)
    return parts


def _farthest_points(points: np.ndarray, count: int) -> np.ndarray:
    """Indices (count,) of an even spread of points (N, 3), starting nearest the centroid."""
    chosen = [int(np.argmin(((points - points.mean(0)) ** 2).sum(-1)))]
    dist = ((points - points[chosen[0]]) ** 2).sum(-1)
    for _ in range(count - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((points - points[nxt]) ** 2).sum(-1))
    return np.array(chosen, dtype=np.int64)


def _group_sizes(quotas: dict[str, int], available: dict[str, int], counted: list[str]) -> dict[str, int]:
    sizes = {g: min(q, available[g]) for g, q in quotas.items()}
    missing = sum(quotas[g] for g in counted) - sum(sizes[g] for g in counted)
    for group in [g for g in _FILL_ORDER if g in counted]:
        extra = min(missing, available[group] - sizes[group])
        sizes[group] += extra
        missing -= extra
    if missing:
        raise ValueError(f"the mesh is too coarse for the dense keypoints: {missing} vertices short")
    return sizes


def _split(total: int, counts: list[int]) -> list[int]:
    """Share ``total`` among parts proportionally to their candidate counts, never above them."""
    shares = np.array(counts, dtype=np.float64) / max(sum(counts), 1) * total
    out = np.minimum(np.floor(shares).astype(int), counts)
    order = np.argsort(-(shares - np.floor(shares)), kind="stable")
    k = 0
    while out.sum() < total:
        i = order[k % len(order)]
        if out[i] < counts[i]:
            out[i] += 1
        k += 1
    return out.tolist()


def dense_keypoints(
    mesh: HeadMesh, regions: Regions, contour_points: np.ndarray, size: int
) -> dict[str, dict[str, np.ndarray]]:
    """Named dense keypoint lists (group -> part -> sorted vertex ids) of the 191 or 445 set."""
    if size not in KEYPOINT_QUOTAS:
        raise ValueError(f"size must be one of {sorted(KEYPOINT_QUOTAS)}, got {size}")
    quotas = KEYPOINT_QUOTAS[size]
    parts = {g: v for g, v in _parts(mesh, regions, contour_points).items() if g in quotas}
    available = {g: int(sum(m.sum() for m in v.values())) for g, v in parts.items()}
    counted = [g for g in quotas if not (size == 445 and g == "cheeks")]
    sizes = _group_sizes(quotas, available, counted)
    out: dict[str, dict[str, np.ndarray]] = {}
    for group in sorted(quotas):
        names = list(parts[group])
        counts = [int(parts[group][n].sum()) for n in names]
        out[group] = {}
        for name, share in zip(names, _split(sizes[group], counts), strict=True):
            ids = np.flatnonzero(parts[group][name])
            pick = ids[_farthest_points(mesh.vertices[ids], share)] if share else ids[:0]
            out[group][name] = np.sort(pick).astype(np.int64)
    return out

"""Point queries on a triangle mesh: closest point and frontal (along -z) hits, as face + barycentrics.

Barycentric coordinates ``(u, v, w)`` weight the face's vertices in order, are non-negative and sum to 1.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["closest_points", "frontal_hits", "barycentric_points"]


def barycentric_points(vertices: np.ndarray, faces: np.ndarray, face_idx: np.ndarray, bary: np.ndarray):
    """Points (N, 3) given by faces (N,) and barycentrics (N, 3) on a mesh (vertices (V, 3), faces (F, 3))."""
    return np.einsum("nkd,nk->nd", vertices[faces[face_idx]], bary)


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentrics (M, 3) of the closest point of each triangle (a, b, c) (M, 3) to p (M, 3).

    Minimises over the triangle by clamping: the unconstrained plane projection when it is inside, else
    the best of the three edge projections (which covers the vertex regions too).
    """
    ab, ac, ap = b - a, c - a, p - a
    d00, d01, d11 = (ab * ab).sum(-1), (ab * ac).sum(-1), (ac * ac).sum(-1)
    d20, d21 = (ap * ab).sum(-1), (ap * ac).sum(-1)
    denom = np.maximum(d00 * d11 - d01 * d01, 1e-30)
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    bary = np.stack([1 - v - w, v, w], -1)
    inside = (bary >= 0).all(-1)
    best = np.where(inside, 0.0, np.inf)
    corners = (a, b, c)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        seg = corners[j] - corners[i]
        t = np.clip(((p - corners[i]) * seg).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-30), 0.0, 1.0)
        dist = ((corners[i] + t[:, None] * seg - p) ** 2).sum(-1)
        better = ~inside & (dist < best)
        edge = np.zeros_like(bary)
        edge[:, i], edge[:, j] = 1.0 - t, t
        bary = np.where(better[:, None], edge, bary)
        best = np.where(better, dist, best)
    return bary


def closest_points(
    points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, allowed: np.ndarray, candidates: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """Closest point on the allowed faces to each query: points (N, 3) -> face ids (N,), barycentrics (N, 3).

    ``allowed`` (F,) bool selects the faces; the search looks at the ``candidates`` faces whose
    centroids are nearest, which is exact for the reasonably even meshes this project builds.
    """
    ids = np.flatnonzero(allowed)
    if ids.size == 0:
        raise ValueError("no faces allowed for the closest-point query")
    tri = vertices[faces[ids]]  # (A, 3, 3)
    k = min(candidates, ids.size)
    _, near = cKDTree(tri.mean(1)).query(points, k=k)
    near = near.reshape(points.shape[0], k)
    flat = near.reshape(-1)
    query = np.repeat(points, k, axis=0)
    bary = _closest_on_triangles(query, tri[flat, 0], tri[flat, 1], tri[flat, 2])
    found = np.einsum("mkd,mk->md", tri[flat], bary)
    dist = ((found - query) ** 2).sum(-1).reshape(points.shape[0], k)
    pick = np.argmin(dist, axis=1)
    rows = np.arange(points.shape[0]) * k + pick
    return ids[flat[rows]], _clean(bary[rows])


def frontal_hits(
    xy: np.ndarray, vertices: np.ndarray, faces: np.ndarray, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Front-most surface point above each image point: xy (N, 2) -> face ids (N,), barycentrics (N, 3).

    Looks along -z (from in front of the face) and keeps the hit with the largest z.  Raises if a point
    misses every allowed face.
    """
    ids = np.flatnonzero(allowed)
    tri = vertices[faces[ids]]
    a, b, c = tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2]
    out_f, out_b = np.empty(xy.shape[0], np.int64), np.empty((xy.shape[0], 3))
    for n, q in enumerate(xy):
        v0, v1, v2 = b - a, c - a, q - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        ok = np.abs(den) > 1e-14
        den = np.where(ok, den, 1.0)
        v = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        w = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        hit = ok & (v >= -1e-9) & (w >= -1e-9) & (v + w <= 1 + 1e-9)
        if not hit.any():
            raise ValueError(f"image point {q} misses the surface")
        z = tri[:, 0, 2] * (1 - v - w) + tri[:, 1, 2] * v + tri[:, 2, 2] * w
        best = np.flatnonzero(hit)[np.argmax(z[hit])]
        out_f[n] = ids[best]
        out_b[n] = [1 - v[best] - w[best], v[best], w[best]]
    return out_f, _clean(out_b)


def _clean(bary: np.ndarray) -> np.ndarray:
    bary = np.clip(bary, 0.0, None)
    return bary / bary.sum(-1, keepdims=True)

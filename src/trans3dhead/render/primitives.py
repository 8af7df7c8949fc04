"""Test and benchmark meshes: a geodesic icosphere.

Letters: V vertices, F faces.
"""

from __future__ import annotations

import numpy as np

__all__ = ["icosphere"]

_GOLDEN = (1.0 + 5.0**0.5) / 2.0


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    """Unit icosahedron (12, 3) and its faces (20, 3), wound counter-clockwise seen from outside."""
    g = _GOLDEN
    vertices = np.array(
        [
            [-1, g, 0],
            [1, g, 0],
            [-1, -g, 0],
            [1, -g, 0],
            [0, -1, g],
            [0, 1, g],
            [0, -1, -g],
            [0, 1, -g],
            [g, 0, -1],
            [g, 0, 1],
            [-g, 0, -1],
            [-g, 0, 1],
        ],
        dtype=np.float64,
    )
    vertices /= np.linalg.norm(vertices, axis=1, keepdims=True)
    # The 20 faces are the vertex triples that are pairwise at the edge length (the minimum distance).
    dist = np.linalg.norm(vertices[:, None] - vertices[None], axis=-1)  # (12, 12)
    adjacent = np.isclose(dist, dist[dist > 0].min())
    faces = np.array(
        [
            (a, b, c)
            for a in range(12)
            for b in range(a + 1, 12)
            for c in range(b + 1, 12)
            if adjacent[a, b] and adjacent[b, c] and adjacent[a, c]
        ],
        dtype=np.int64,
    )
    return vertices, _orient_outward(vertices, faces)


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Swap two corners of every face whose normal points towards the origin."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    inward = np.einsum("fk,fk->f", np.cross(b - a, c - a), a + b + c) < 0
    faces = faces.copy()
    faces[inward] = faces[inward][:, [0, 2, 1]]
    return faces


def _subdivide_face(corners: np.ndarray, frequency: int) -> tuple[np.ndarray, np.ndarray]:
    """Split one triangle (3, 3) into frequency**2 triangles on a barycentric grid, same winding."""
    n = frequency
    grid = [(i, j) for i in range(n + 1) for j in range(n + 1 - i)]
    index = {ij: k for k, ij in enumerate(grid)}
    a, b, c = corners
    points = np.array([a + (b - a) * i / n + (c - a) * j / n for i, j in grid])
    faces = []
    for i, j in grid:
        if i + j < n:
            faces.append((index[i, j], index[i + 1, j], index[i, j + 1]))
        if i + j < n - 1:
            faces.append((index[i + 1, j], index[i + 1, j + 1], index[i, j + 1]))
    return points, np.array(faces, dtype=np.int64)


def icosphere(*, frequency: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit geodesic sphere: every icosahedron edge split into ``frequency`` segments.

    Returns:
        vertices (V, 3) float64 with ``V = 10 * frequency**2 + 2`` and faces (F, 3) int64 with
        ``F = 20 * frequency**2``, wound counter-clockwise seen from outside (outward normals).
    """
    if isinstance(frequency, bool) or not isinstance(frequency, (int, np.integer)) or frequency < 1:
        raise ValueError(f"frequency must be an int >= 1, got {frequency!r}")
    base_vertices, base_faces = _icosahedron()
    points, faces = [], []
    for corners in base_vertices[base_faces]:
        face_points, face_faces = _subdivide_face(corners, int(frequency))
        faces.append(face_faces + sum(len(p) for p in points))
        points.append(face_points)
    all_points = np.concatenate(points)
    all_points /= np.linalg.norm(all_points, axis=1, keepdims=True)
    # Points on shared icosahedron edges appear once per face: merge them.
    _, first, inverse = np.unique(np.round(all_points, 9), axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep vertices in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    vertices = all_points[first[order]]
    return vertices, rank[inverse.reshape(-1)][np.concatenate(faces)]

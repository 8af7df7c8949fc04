"""The parts of a FLAME-format model that the benchmark metrics need, as plain numpy arrays.

Letters: V vertices of the model, N landmarks (68), K Chamfer keypoints (7), ``...`` leading dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trans3dhead.errors import InputError
from trans3dhead.flame.assets import CHAMFER_KEYPOINTS, FlameAssets

__all__ = ["BenchmarkTopology"]


def _indices(values: np.ndarray, upper: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise InputError(f"{name} must be a 1-D integer array, got dtype {values.dtype} shape {values.shape}")
    if values.size and (values.min() < 0 or values.max() >= upper):
        raise InputError(f"{name} has vertex indices outside [0, {upper})")
    return values.astype(np.int64)


@dataclass(frozen=True, eq=False)
class BenchmarkTopology:
    """Landmark embedding and vertex subsets used by the DAD-3DHeads metrics.

    Attributes:
        num_vertices: V, vertices of the model (predictions for Z5 must have exactly V points).
        landmark_corners: (N, 3) vertex indices of the face that holds each landmark.
        landmark_bary: (N, 3) barycentric coordinates of each landmark in its face.
        head: Z5 subset (the 3669-vertex "face with ears" subset for FLAME).  Its order matters for the
            reference Z5, which ranks distances from the subset's vertices 1..5: the benchmark takes
            ``head_indices.npy`` in file order, :func:`from_assets` the loader's (sorted) order.
        face: Chamfer subset (2094 vertices for FLAME).
        dense: optional dense landmark subsets, e.g. ``{"191": ..., "445": ...}``.
        keypoints: indices into the N landmarks of the K Chamfer keypoints.
    """

    num_vertices: int
    landmark_corners: np.ndarray
    landmark_bary: np.ndarray
    head: np.ndarray
    face: np.ndarray
    dense: dict[str, np.ndarray] = field(default_factory=dict)
    keypoints: tuple[int, ...] = CHAMFER_KEYPOINTS

    def __post_init__(self) -> None:
        v = int(self.num_vertices)
        corners = _indices(np.asarray(self.landmark_corners).reshape(-1), v, "landmark_corners")
        bary = np.asarray(self.landmark_bary, dtype=np.float32)
        if corners.size != bary.size or bary.ndim != 2 or bary.shape[1] != 3:
            raise InputError(
                f"landmark_corners and landmark_bary must both be (N, 3), got "
                f"{np.shape(self.landmark_corners)} and {np.shape(self.landmark_bary)}"
            )
        if max(self.keypoints) >= bary.shape[0]:
            raise InputError(f"keypoints {self.keypoints} need more than the {bary.shape[0]} landmarks given")
        head = _indices(self.head, v, "head")
        if head.size < 6:
            raise InputError(f"head subset must hold at least 6 vertices for Z5, got {head.size}")
        face = _indices(self.face, v, "face")
        if face.size == 0:
            raise InputError("face subset is empty")
        dense = {name: _indices(idx, v, f"dense['{name}']") for name, idx in self.dense.items()}
        object.__setattr__(self, "landmark_corners", corners.reshape(-1, 3))
        object.__setattr__(self, "landmark_bary", bary)
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "face", face)
        object.__setattr__(self, "dense", dense)

    @classmethod
    def from_assets(cls, assets: FlameAssets) -> BenchmarkTopology:
        """Build from a loaded model: the 68-point embedding, ``head`` / ``face`` and dense subsets."""
        aux = assets.aux
        return cls(
            num_vertices=assets.model.num_vertices,
            landmark_corners=assets.model.faces[aux.landmark_faces],
            landmark_bary=aux.landmark_bary,
            head=aux.subsets["head"],
            face=aux.subsets["face"],
            dense={name: idx for name, idx in aux.dense.items() if idx.size},
        )

    @property
    def num_landmarks(self) -> int:
        return int(self.landmark_bary.shape[0])

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """Barycentric landmark embedding in float32: vertices (..., V, 3) -> (..., N, 3).

        Summed corner by corner, left to right, as the reference benchmark does.
        """
        vertices = np.asarray(vertices, dtype=np.float32)
        if vertices.ndim < 2 or vertices.shape[-2:] != (self.num_vertices, 3):
            raise InputError(f"vertices must have shape (..., {self.num_vertices}, 3), got {vertices.shape}")
        corners = vertices[..., self.landmark_corners, :]  # (..., N, 3 corners, 3 coords)
        bary = self.landmark_bary[:, :, None]  # (N, 3 corners, 1)
        return (
            corners[..., 0, :] * bary[:, 0]
            + corners[..., 1, :] * bary[:, 1]
            + corners[..., 2, :] * bary[:, 2]
        )

    def keypoints_3d(self, vertices: np.ndarray) -> np.ndarray:
        """The K Chamfer keypoints of a FLAME-topology mesh: (..., V, 3) -> (..., K, 3), float32.

        This is what a FLAME-based method submits as ``7_landmarks_3d`` (same frame as the mesh).
        """
        return self.landmarks(vertices)[..., list(self.keypoints), :]

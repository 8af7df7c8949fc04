"""The FLAME layer: parameter vector -> meshes, landmarks and projections.

See ``docs/conventions.md`` sections 2 (the parameter vector) and 4 (the projection).

Letters: B batch, V vertices, N landmarks, K parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from trans3dhead.flame.assets import CHAMFER_KEYPOINTS, FlameAssets
from trans3dhead.flame.lbs import lbs, leaf_joint_lbs
from trans3dhead.flame.params import ParamLayout
from trans3dhead.frames import MESH_OFFSET_Z
from trans3dhead.geometry.camera import ortho_project
from trans3dhead.geometry.rotation import axis_angle_to_matrix, rotation_6d_to_matrix

__all__ = ["FlameOutput", "FlameLayer", "MESH_OFFSET_Z", "JAW_JOINT"]

#: FLAME's joints: root, neck, jaw, left eye, right eye.  The layer poses the jaw only.
JAW_JOINT = 2



@dataclass(frozen=True)
class FlameOutput:
    """Everything the FLAME layer computes for a batch.

    vertices: (B, V, 3) mesh with zero global rotation (after the z offset), for the 3D shape loss.
    posed_vertices: (B, V, 3) ``R @ vertices``: the prediction's camera-aligned frame (image y down).
    rotation: (B, 3, 3) global rotation from the 6D parameters.
    projected: (B, V, 2) orthographic projection in crop pixels.
    landmarks_3d: (B, N, 3) posed 68 landmarks; landmarks_2d: (B, N, 2) their projection.
    """

    vertices: Tensor
    posed_vertices: Tensor
    rotation: Tensor
    projected: Tensor
    landmarks_3d: Tensor
    landmarks_2d: Tensor


def _buffer(array: np.ndarray, dtype: torch.dtype) -> Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype)


class FlameLayer(nn.Module):
    """A stateless FLAME layer: buffers from validated assets, no trainable parameters.

    Args:
        assets: the model and its auxiliary data.
        layout: parameter layout; by default all of the model's shape and expression components with jaw.
        image_size: side of the square crop the orthographic projection maps to.
    """

    def __init__(
        self, *, assets: FlameAssets, layout: ParamLayout | None = None, image_size: int = 256
    ) -> None:
        super().__init__()
        model, aux = assets.model, assets.aux
        self.layout = layout or ParamLayout(model.num_shape, model.num_expression)
        if self.layout.num_shape > model.num_shape or self.layout.num_expression > model.num_expression:
            raise ValueError(
                f"layout {self.layout} asks for more components than the model has "
                f"({model.num_shape} shape, {model.num_expression} expression)"
            )
        self.image_size = image_size
        self.num_joints = model.num_joints
        s, e = self.layout.num_shape, self.layout.num_expression
        used = np.concatenate(
            [model.shapedirs[:, :, :s], model.shapedirs[:, :, model.num_shape : model.num_shape + e]], 2
        )
        f32, i64 = torch.float32, torch.int64
        self.register_buffer("v_template", _buffer(model.v_template, f32), persistent=False)
        # (V, 3, K) -> (K, V * 3), as posedirs: see lbs.blend_shapes for why.
        self.register_buffer("shapedirs", _buffer(used.reshape(-1, used.shape[2]).T, f32), persistent=False)
        # (V, 3, P) -> (P, V * 3) so pose features (B, P) multiply it directly.
        posedirs = model.posedirs.reshape(-1, model.posedirs.shape[2]).T
        self.register_buffer("posedirs", _buffer(posedirs, f32), persistent=False)
        self.register_buffer("j_regressor", _buffer(model.j_regressor, f32), persistent=False)
        self.register_buffer("lbs_weights", _buffer(model.weights, f32), persistent=False)
        self.register_buffer("parents", _buffer(model.parents, i64), persistent=False)
        self.parent_indices = tuple(
            int(p) for p in model.parents
        )  # the kinematic walk reads ints, not tensors
        self.register_buffer("mesh_offset", torch.tensor([0.0, 0.0, MESH_OFFSET_Z]), persistent=False)
        self.register_buffer("faces", _buffer(model.faces, i64), persistent=False)
        self._leaf_jaw = self._register_jaw(model)
        # Landmark embedding: vertex indices of each landmark's face (N, 3) and barycentrics (N, 3).
        self.register_buffer(
            "landmark_vertices", _buffer(model.faces[aux.landmark_faces], i64), persistent=False
        )
        self.register_buffer("landmark_bary", _buffer(aux.landmark_bary, f32), persistent=False)
        subsets = {**aux.subsets, **{f"dense_{k}": v for k, v in aux.dense.items()}}
        self.subset_names = tuple(subsets)
        for name, indices in subsets.items():
            self.register_buffer(f"subset_{name}", _buffer(indices, i64), persistent=False)
        self.chamfer_keypoints = CHAMFER_KEYPOINTS

    def _register_jaw(self, model) -> bool:
        """The jaw's rows of the pose basis, regressor and weights when the jaw is a leaf of the
        kinematic tree (FLAME's is): :func:`leaf_joint_lbs` then gives :func:`lbs`'s vertices for the
        jaw-only poses this layer makes, with a quarter of the pose basis and no blended 3 x 3 per vertex."""
        if self.num_joints <= JAW_JOINT or JAW_JOINT in self.parent_indices:
            return False
        rows = slice((JAW_JOINT - 1) * 9, JAW_JOINT * 9)  # the jaw's pose features flatten(R_jaw - I)
        self.register_buffer("jaw_posedirs", self.posedirs[rows].clone(), persistent=False)  # (9, V * 3)
        self.register_buffer("jaw_regressor", self.j_regressor[JAW_JOINT].clone(), persistent=False)  # (V,)
        self.register_buffer("jaw_weights", self.lbs_weights[:, JAW_JOINT, None].clone(), persistent=False)
        return True

    @property
    def num_params(self) -> int:
        return self.layout.total

    def subset(self, name: str) -> Tensor:
        """Vertex indices of a named subset: face, head, head_without_back, eyeballs, dense_191, dense_445."""
        if name not in self.subset_names:
            raise KeyError(f"unknown vertex subset '{name}'; available: {sorted(self.subset_names)}")
        return getattr(self, f"subset_{name}")

    def shaped_vertices(self, *, shape: Tensor, expression: Tensor, jaw: Tensor | None = None) -> Tensor:
        """Raw FLAME vertices (B, V, 3) in the model frame: no global rotation, no z offset.

        ``shape`` (B, S<=layout), ``expression`` (B, E<=layout), ``jaw`` (B, 3) axis-angle or None.
        Missing trailing components are zero.  This is what DAD-3DHeads stores as GT ``vertices``.
        """
        batch = shape.shape[0]
        s, e = self.layout.num_shape, self.layout.num_expression
        betas = torch.cat([_pad(shape, s), _pad(expression, e)], dim=1)  # (B, S + E)
        if self._leaf_jaw:
            return leaf_joint_lbs(
                betas=betas,
                rotation=None if jaw is None else axis_angle_to_matrix(jaw),
                v_template=self.v_template,
                shapedirs=self.shapedirs,
                joint_posedirs=self.jaw_posedirs,
                joint_regressor=self.jaw_regressor,
                joint_weights=self.jaw_weights,
            )
        pose = shape.new_zeros(batch, self.num_joints * 3)
        if jaw is not None:
            pose = torch.cat([pose[:, :6], jaw, pose[:, 9:]], dim=1)  # joints: root, neck, jaw, eyes
        return lbs(
            betas=betas,
            pose=pose,
            v_template=self.v_template,
            shapedirs=self.shapedirs,
            posedirs=self.posedirs,
            j_regressor=self.j_regressor,
            parents=self.parent_indices,
            weights=self.lbs_weights,
        ).vertices

    def landmarks(self, vertices: Tensor) -> Tensor:
        """Barycentric 68-point embedding: vertices (B, V, 3) -> (B, N, 3)."""
        corners = vertices[:, self.landmark_vertices]  # (B, N, 3 corners, 3)
        return torch.einsum("bnkd,nk->bnd", corners, self.landmark_bary)

    def forward(self, params: Tensor) -> FlameOutput:
        """params (B, K) in :attr:`layout` -> :class:`FlameOutput`.  Never writes into ``params``.

        Always computed in float32, also inside an autocast region (bf16 / fp16 training): skinning,
        rotations and projections need the precision, and they are a small part of the cost.
        """
        with torch.autocast(device_type=params.device.type, enabled=False):
            return self._forward(params.float())

    def _forward(self, params: Tensor) -> FlameOutput:
        p = self.layout.split(params)
        jaw = p.jaw if self.layout.jaw else None
        vertices = self.shaped_vertices(shape=p.shape, expression=p.expression, jaw=jaw)
        vertices = vertices + self.mesh_offset
        rotation = rotation_6d_to_matrix(p.rotation)  # (B, 3, 3)
        posed = vertices @ rotation.transpose(1, 2)  # row-vector form of R @ v
        projected = ortho_project(posed, p.scale, p.translation, image_size=self.image_size)
        lmk3d = self.landmarks(posed)
        lmk2d = ortho_project(lmk3d, p.scale, p.translation, image_size=self.image_size)
        return FlameOutput(
            vertices=vertices,
            posed_vertices=posed,
            rotation=rotation,
            projected=projected,
            landmarks_3d=lmk3d,
            landmarks_2d=lmk2d,
        )


def _pad(values: Tensor, size: int) -> Tensor:
    """Zero-pad (B, k) to (B, size)."""
    if values.shape[1] > size:
        raise ValueError(f"got {values.shape[1]} components, the layout has {size}")
    return torch.nn.functional.pad(values, (0, size - values.shape[1]))

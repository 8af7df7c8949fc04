"""Linear blend skinning for FLAME-format models, as pure functions.

Letters in shape comments: B batch, V vertices, J joints, K blendshape coefficients, P pose-corrective
features ((J - 1) * 9).  Nothing here modifies its inputs; every function is differentiable.

The kernel follows the standard SMPL/FLAME formulation (Loper et al. 2015, Li et al. 2017):
``T(beta, theta) = T_template + B_S(beta) + B_P(theta)``, joints regressed from the shaped (not posed)
mesh, a kinematic chain of rigid transforms, then skinning with per-vertex weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from trans3dhead.geometry.rotation import axis_angle_to_matrix

__all__ = [
    "LbsOutput",
    "blend_shapes",
    "vertices_to_joints",
    "pose_features",
    "rigid_transforms",
    "skin",
    "lbs",
    "leaf_joint_lbs",
]


@dataclass(frozen=True)
class LbsOutput:
    """Result of :func:`lbs`: posed vertices (B, V, 3) and posed joint locations (B, J, 3)."""

    vertices: Tensor
    joints: Tensor


def blend_shapes(coefficients: Tensor, directions: Tensor) -> Tensor:
    """Linear blendshape offsets: coefficients (B, K), directions (K, V * 3) -> offsets (B, V, 3).

    The basis is stored K-major (as the pose correctives are) so that the product is one matrix product
    over a contiguous basis: with FLAME's (V, 3, K) layout ONNX Runtime's Einsum transposed the 24 MB
    basis on every call (12 ms of a 13 ms FLAME pass on one core), and eager PyTorch ran 3x slower.
    """
    return (coefficients @ directions).reshape(coefficients.shape[0], -1, 3)  # (B, V * 3) -> (B, V, 3)


def vertices_to_joints(regressor: Tensor, vertices: Tensor) -> Tensor:
    """Joint locations from a regressor (J, V) applied to vertices (B, V, 3) -> (B, J, 3)."""
    return regressor @ vertices  # (J, V) @ (B, V, 3) -> (B, J, 3)


def pose_features(rotations: Tensor) -> Tensor:
    """Pose-corrective features ``flatten(R_j - I)`` of the non-root joints: (B, J, 3, 3) -> (B, (J-1)*9)."""
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    return (rotations[:, 1:] - eye).flatten(start_dim=1)


def _parent_list(parents: Sequence[int] | Tensor) -> tuple[int, ...]:
    if isinstance(parents, Tensor):  # deliberate host sync: pass Python ints in the hot path
        return tuple(int(p) for p in parents.tolist())
    return tuple(int(p) for p in parents)


def rigid_transforms(
    rotations: Tensor, joints: Tensor, parents: Sequence[int] | Tensor
) -> tuple[Tensor, Tensor]:
    """Walk the kinematic chain.

    Args:
        rotations: (B, J, 3, 3) local joint rotations.
        joints: (B, J, 3) rest-pose joint locations.
        parents: (J,) parent index of each joint, -1 for the root; parents precede children.  Plain
            Python ints (the tree is fixed): the walk then never reads a device tensor on the host.

    Returns:
        posed_joints (B, J, 3) and the skinning transforms (B, J, 4, 4) that map rest-pose points to posed
        points (the world transform of each joint with its rest location removed).
    """
    parents = _parent_list(parents)
    batch, num_joints = joints.shape[:2]
    parent_joints = torch.stack([joints[:, p] for p in parents[1:]], dim=1)  # (B, J - 1, 3)
    rel_joints = torch.cat([joints[:, :1], joints[:, 1:] - parent_joints], dim=1)  # offsets from the parent
    # Local 4x4 transforms [R | t] with t the offset from the parent.
    local = torch.zeros(batch, num_joints, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rotations
    local[..., :3, 3] = rel_joints
    local[..., 3, 3] = 1.0
    world = [local[:, 0]]
    for j in range(1, num_joints):
        world.append(world[parents[j]] @ local[:, j])
    world_t = torch.stack(world, dim=1)  # (B, J, 4, 4)
    posed_joints = world_t[..., :3, 3]
    # Remove the rest-pose joint location so the transform acts on rest-pose vertices.
    rest_offset = torch.einsum("bjik,bjk->bji", world_t[..., :3, :3], joints)
    skinning = world_t.clone()
    skinning[..., :3, 3] = world_t[..., :3, 3] - rest_offset
    return posed_joints, skinning


def skin(vertices: Tensor, transforms: Tensor, weights: Tensor) -> Tensor:
    """Blend per-joint transforms (B, J, 4, 4) with weights (V, J) and apply them to vertices (B, V, 3)."""
    batch, joints = transforms.shape[:2]
    # Matrix products and a broadcast on contiguous (B, V, .) blocks rather than einsums: ONNX Runtime's
    # Einsum reorders the (B, V, 4, 4) operands on every call, and strided slices of a blended (B, V, 4, 4)
    # are slow there too; blending the rotations and translations apart avoids both.
    rotations = transforms[:, :, :3, :3].reshape(batch, joints, 9)  # (B, J, 9)
    blended = (weights @ rotations).reshape(batch, -1, 3, 3)  # (V, J) @ (B, J, 9) -> (B, V, 3, 3)
    rotated = (blended * vertices[:, :, None, :]).sum(dim=-1)  # per-vertex R @ v: (B, V, 3)
    return rotated + weights @ transforms[:, :, :3, 3]  # + blended translations (B, V, 3)


def lbs(
    *,
    betas: Tensor,
    pose: Tensor,
    v_template: Tensor,
    shapedirs: Tensor,
    posedirs: Tensor,
    j_regressor: Tensor,
    parents: Sequence[int] | Tensor,
    weights: Tensor,
) -> LbsOutput:
    """Full FLAME linear blend skinning.

    Args:
        betas: (B, K) shape and expression coefficients, in the column order of ``shapedirs``.
        pose: (B, J * 3) axis-angle rotation of every joint, root first.
        v_template: (V, 3) template vertices.
        shapedirs: (K, V * 3) blendshape basis (FLAME's (V, 3, K) array, reshaped and transposed).
        posedirs: (P, V * 3) pose-corrective basis, P = (J - 1) * 9.
        j_regressor: (J, V) joint regressor.
        parents: (J,) kinematic tree, -1 for the root (Python ints: see :func:`rigid_transforms`).
        weights: (V, J) skinning weights.
    """
    batch = betas.shape[0]
    num_joints = j_regressor.shape[0]
    shaped = v_template.unsqueeze(0) + blend_shapes(betas, shapedirs)  # (B, V, 3)
    joints = vertices_to_joints(j_regressor, shaped)  # (B, J, 3)
    rotations = axis_angle_to_matrix(pose.reshape(batch, num_joints, 3))  # (B, J, 3, 3)
    correctives = (pose_features(rotations) @ posedirs).reshape(batch, -1, 3)  # (B, V, 3)
    posed_joints, transforms = rigid_transforms(rotations, joints, parents)
    vertices = skin(shaped + correctives, transforms, weights)
    return LbsOutput(vertices=vertices, joints=posed_joints)


def leaf_joint_lbs(
    *,
    betas: Tensor,
    rotation: Tensor | None,
    v_template: Tensor,
    shapedirs: Tensor,
    joint_posedirs: Tensor,
    joint_regressor: Tensor,
    joint_weights: Tensor,
) -> Tensor:
    """:func:`lbs` when one joint rotates and every other joint keeps zero rotation, the joint having no
    children (FLAME's jaw when only the jaw is posed): the same vertices (B, V, 3) with less work.

    Every other joint's skinning transform is then the identity, so with ``v`` the shaped vertices plus
    the joint's pose correctives, ``R`` its rotation, ``c`` its rest location and ``w`` its weights::

        skinned = (1 - w) v + w (R (v - c) + c) = v + w (R - I) (v - c)

    The pose correctives reduce to the joint's 9 features ``flatten(R - I)`` (the other joints' are zero).

    Args:
        betas: (B, K) shape and expression coefficients, in the column order of ``shapedirs``.
        rotation: (B, 3, 3) the joint's rotation, or None for none (the shaped vertices are returned).
        v_template: (V, 3); shapedirs: (K, V * 3).
        joint_posedirs: (9, V * 3) the joint's rows of the pose-corrective basis.
        joint_regressor: (V,) the joint's row of the joint regressor.
        joint_weights: (V, 1) the joint's column of the skinning weights.
    """
    shaped = v_template.unsqueeze(0) + blend_shapes(betas, shapedirs)  # (B, V, 3)
    if rotation is None:
        return shaped
    batch = betas.shape[0]
    delta = rotation - torch.eye(3, dtype=rotation.dtype, device=rotation.device)  # R - I (B, 3, 3)
    correctives = (delta.reshape(batch, 9) @ joint_posedirs).reshape(batch, -1, 3)  # (B, V, 3)
    centre = (joint_regressor @ shaped)[:, None, :]  # (V,) @ (B, V, 3) -> (B, 3) -> (B, 1, 3)
    vertices = shaped + correctives
    # (R - I)(v - c) in row-vector form: one (3, 3) product and two elementwise passes over the vertices
    offset = (vertices - centre) @ delta.transpose(1, 2)  # (B, V, 3)
    return vertices + joint_weights * offset

"""The training criterion: named, unweighted losses, their weights, and the weighted total.

Letters: L decoder layers, B batch, N landmarks, V vertices.

Losses (``docs/conventions.md`` section 9; see each module for the exact definition):

* ``landmarks``: SmoothL1 of normalised landmarks masked by GT presence; the final prediction, or the
  mean over all decoder layers with ``deep_supervision`` (:mod:`.landmarks`).
* ``shape3d``: MSE of unit-cube-normalised zero-rotation vertices, subsets head_without_back 0.5,
  head 0.75, face 1.0 (:mod:`.shape3d`).
* ``reprojection``: SmoothL1 of projected vertices in crop pixels, face 0.5 and head 0.5
  (:mod:`.reprojection`).
* ``euler``: SmoothL1 of (roll, pitch, yaw) in degrees (:mod:`.euler`).
* ``geodesic``: SmoothL1 of the angle between the predicted and GT rotations, in degrees
  (:mod:`.geodesic`; in neither paper, no default weight: an option against the Euler loss's
  ill-conditioning near profile views).
* ``heatmap``: soft IoU of sigmoid heatmaps against Gaussian targets (:mod:`.heatmap`), for models that
  output heatmaps (DAD-3DNet).

Weights live in one place, the ``weights`` mapping: a loss with weight 0 (or left out) is not computed.
:data:`TRANS3DHEAD_WEIGHTS` is the paper's Eq. 8; :data:`DAD3DNET_WEIGHTS` the reference code's.  The
Table 3 rows without the Euler loss use ``{**TRANS3DHEAD_WEIGHTS, "euler": 0}``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from trans3dhead.flame.layer import FlameLayer
from trans3dhead.loss_weights import (
    DAD3DNET_WEIGHTS,
    LOSS_NAMES,
    REPROJECTION_SUBSETS,
    SHAPE3D_SUBSETS,
    TRANS3DHEAD_WEIGHTS,
)
from trans3dhead.losses.euler import euler_loss
from trans3dhead.losses.geodesic import geodesic_loss
from trans3dhead.losses.heatmap import gaussian_heatmaps, soft_iou_loss
from trans3dhead.losses.landmarks import landmark_loss
from trans3dhead.losses.reprojection import reprojection_loss
from trans3dhead.losses.shape3d import shape3d_loss
from trans3dhead.types import HeadOutput, HeadTargets, LossOutput

__all__ = [
    "LOSS_NAMES",
    "TRANS3DHEAD_WEIGHTS",
    "DAD3DNET_WEIGHTS",
    "SHAPE3D_SUBSETS",
    "REPROJECTION_SUBSETS",
    "HeadCriterion",
]



def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(LOSS_NAMES))
    if unknown:
        raise ValueError(f"unknown loss names in weights: {unknown}; known: {list(LOSS_NAMES)}")
    for name, value in weights.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(f"weights[{name!r}] must be a finite number >= 0, got {value!r}")
    active = {name: float(value) for name, value in weights.items() if value > 0}
    if not active:
        raise ValueError(f"at least one weight must be > 0, got weights={dict(weights)}")
    return active


class HeadCriterion(nn.Module):
    """Computes the active losses of a :class:`HeadOutput` against :class:`HeadTargets`.

    Args:
        flame: the FLAME layer (for the vertex subsets and the crop size).
        weights: loss name -> weight; names from :data:`LOSS_NAMES`; zero or absent = not computed.
        deep_supervision: average the landmark loss over all decoder layers instead of the final output.
        image_size: crop size in pixels (default and only allowed value: ``flame.image_size``).
        shape3d_subsets, reprojection_subsets: subset name -> weight.
        landmark_beta, reprojection_beta, euler_beta: SmoothL1 switch points (1.0: normalised units,
            pixels, degrees); the geodesic loss uses ``euler_beta`` (degrees too).
        heatmap_stride, heatmap_radius: geometry of the Gaussian heatmap targets (4, 5).
    """

    def __init__(
        self,
        *,
        flame: FlameLayer,
        weights: Mapping[str, float],
        deep_supervision: bool = False,
        image_size: int | None = None,
        shape3d_subsets: Mapping[str, float] = SHAPE3D_SUBSETS,
        reprojection_subsets: Mapping[str, float] = REPROJECTION_SUBSETS,
        landmark_beta: float = 1.0,
        reprojection_beta: float = 1.0,
        euler_beta: float = 1.0,
        heatmap_stride: int = 4,
        heatmap_radius: int = 5,
    ) -> None:
        super().__init__()
        self.weights = _check_weights(weights)
        if image_size is not None and image_size != flame.image_size:
            raise ValueError(f"image_size={image_size} differs from the FLAME layer's {flame.image_size}")
        for name, beta in (("landmark_beta", landmark_beta), ("reprojection_beta", reprojection_beta)):
            if beta <= 0:
                raise ValueError(f"{name} must be > 0, got {name}={beta}")
        if euler_beta <= 0 or heatmap_stride < 1 or heatmap_radius < 0:
            raise ValueError(
                f"need euler_beta > 0, heatmap_stride >= 1, heatmap_radius >= 0, got {euler_beta}, "
                f"{heatmap_stride}, {heatmap_radius}"
            )
        self.deep_supervision = deep_supervision
        self.image_size = flame.image_size
        self.betas = {
            "landmarks": landmark_beta,
            "reprojection": reprojection_beta,
            "euler": euler_beta,
            "geodesic": euler_beta,
        }
        self.heatmap_stride, self.heatmap_radius = heatmap_stride, heatmap_radius
        self.shape3d_subsets = self._register_subsets("shape3d", flame, shape3d_subsets)
        self.reprojection_subsets = self._register_subsets("reprojection", flame, reprojection_subsets)

    def _register_subsets(
        self, prefix: str, flame: FlameLayer, subsets: Mapping[str, float]
    ) -> dict[str, float]:
        if not subsets or any(not (math.isfinite(w) and w >= 0) for w in subsets.values()):
            raise ValueError(
                f"{prefix}_subsets must be a non-empty name -> weight >= 0 mapping, got {dict(subsets)}"
            )
        for name in subsets:
            self.register_buffer(f"_{prefix}_{name}", flame.subset(name).clone(), persistent=False)
        return dict(subsets)

    def _subsets(self, prefix: str, subsets: Mapping[str, float]) -> list[tuple[Tensor, float]]:
        return [(getattr(self, f"_{prefix}_{name}"), weight) for name, weight in subsets.items()]

    def forward(self, output: HeadOutput, targets: HeadTargets) -> LossOutput:
        """Named unweighted losses (scalars), the weights used, and ``total = sum w * loss``.

        Computed in float32 also inside an autocast region (the network's bf16 / fp16 outputs are cast).
        """
        with torch.autocast(device_type=output.params.device.type, enabled=False):
            return self._forward(_float32(output), targets)

    def _forward(self, output: HeadOutput, targets: HeadTargets) -> LossOutput:
        losses = {name: self._loss(name, output, targets) for name in self.weights}
        total = torch.stack([self.weights[name] * value for name, value in losses.items()]).sum()
        return LossOutput(losses=losses, weights=dict(self.weights), total=total)

    def _loss(self, name: str, output: HeadOutput, targets: HeadTargets) -> Tensor:
        if name == "landmarks":
            predicted = output.landmark_layers if self.deep_supervision else output.landmarks
            return landmark_loss(predicted, targets.landmarks, targets.presence, beta=self.betas[name])
        if name == "shape3d":
            subsets = self._subsets("shape3d", self.shape3d_subsets)
            return shape3d_loss(output.flame.vertices, targets.vertices, subsets)
        if name == "reprojection":
            subsets = self._subsets("reprojection", self.reprojection_subsets)
            return reprojection_loss(
                output.flame.projected, targets.projected, subsets, beta=self.betas[name]
            )
        if name == "euler":
            return euler_loss(output.flame.rotation, targets.euler, beta=self.betas[name])
        if name == "geodesic":
            return geodesic_loss(output.flame.rotation, targets.rotation, beta=self.betas[name])
        return self._heatmap_loss(output, targets)

    def _heatmap_loss(self, output: HeadOutput, targets: HeadTargets) -> Tensor:
        if output.heatmaps is None:
            raise ValueError(
                f"weights['heatmap'] = {self.weights['heatmap']} but the model output has no heatmaps "
                "(set the heatmap weight to 0 for models without a heatmap head)"
            )
        height, width = output.heatmaps.shape[-2:]
        if height * self.heatmap_stride != self.image_size or width * self.heatmap_stride != self.image_size:
            raise ValueError(
                f"heatmaps of {height}x{width} with heatmap_stride={self.heatmap_stride} do not cover the "
                f"{self.image_size}-px crop"
            )
        target = gaussian_heatmaps(
            targets.landmarks * self.image_size,  # normalised -> crop pixels
            targets.presence,
            height=height,
            width=width,
            stride=self.heatmap_stride,
            radius=self.heatmap_radius,
        )
        return soft_iou_loss(output.heatmaps, target)


def _float32(output: HeadOutput) -> HeadOutput:
    """The network outputs the losses read, in float32 (FLAME's output is float32 already)."""
    heatmaps = output.heatmaps.float() if output.heatmaps is not None else None
    return dataclasses.replace(
        output,
        landmarks=output.landmarks.float(),
        landmark_layers=output.landmark_layers.float(),
        heatmaps=heatmaps,
    )

"""Typed containers passed between the data pipeline, the models, the losses and the engine.

Letters: B batch, N landmarks (68), V vertices, L decoder layers, K parameters, H/W image size.
Coordinates called "crop" are pixels of the square network input (``input_size``, 256 by default);
"normalised" landmarks are crop pixels divided by ``input_size`` (so [0, 1] inside the crop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:  # a type only: types stays below flame
    from trans3dhead.flame.layer import FlameOutput

__all__ = ["HeadTargets", "DeviceAugment", "Batch", "HeadOutput", "LossOutput"]


@dataclass
class HeadTargets:
    """Ground truth for a batch, all in the crop frame of the network input.

    landmarks: (B, N, 2) normalised GT 68 landmarks (crop pixels / input_size).
    presence: (B, N) bool, True where the landmark lies inside the crop.
    vertices: (B, V, 3) GT FLAME vertices in model space, no global pose (the dataset's ``vertices``).
    projected: (B, V, 2) every GT vertex projected with the GT camera, in crop pixels.
    rotation: (B, 3, 3) GT head rotation ``(diag(1, -1, -1, 1) @ MV)[:3, :3]``.
    euler: (B, 3) GT (roll, pitch, yaw) in degrees, reference convention.
    """

    landmarks: Tensor
    presence: Tensor
    vertices: Tensor
    projected: Tensor
    rotation: Tensor
    euler: Tensor

    def to(self, device, non_blocking: bool = False) -> HeadTargets:
        return HeadTargets(
            **{k: getattr(self, k).to(device, non_blocking=non_blocking) for k in self.__dataclass_fields__}
        )


@dataclass
class DeviceAugment:
    """Per-item parameters of the training augmentation that runs on the device (cached data, see
    :mod:`trans3dhead.data.device_augment`), drawn by the loader.

    matrix: (B, 2, 3) affine in crop pixels from the cached crop to the training crop (the random box
        extension, then the random similarity).
    box: (B, 4) the training crop's box (x0, y0, x1, y1) in cached-crop pixels (landmark presence).
    photometric: (B, 5) brightness, contrast and saturation factors, blur sigma (0: no blur), noise std
        (0: no noise); None without photometric augmentation.
    """

    matrix: Tensor
    box: Tensor
    photometric: Tensor | None = None

    def to(self, device, non_blocking: bool = False) -> DeviceAugment:
        moved = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return DeviceAugment(
            **{k: v if v is None else v.to(device, non_blocking=non_blocking) for k, v in moved.items()}
        )


@dataclass
class Batch:
    """A collated batch.

    images: (B, 3, H, W) float in [0, 1] (models normalise internally with their own buffers), or uint8
        in [0, 255] for training batches of the cache (with ``augment``).
    targets: ground truth, or None for items without annotations (e.g. the test split).
    item_ids: the items' ids; crops: each item's :class:`~trans3dhead.geometry.crop.CropTransform`;
    attributes: each item's attribute dict (empty where the split has none);
    num_skipped: items of this batch dropped as bad (only with ``skip_bad``).
    augment: the augmentation still to apply on the device (cached training batches), else None; the
        targets are then those of the cached crop.
    """

    images: Tensor
    targets: HeadTargets | None
    item_ids: list[str] = field(default_factory=list)
    crops: list[Any] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)
    num_skipped: int = 0
    augment: DeviceAugment | None = None


@dataclass
class HeadOutput:
    """What every head-alignment model returns.

    params: (B, K) regressed FLAME parameters (:class:`trans3dhead.flame.ParamLayout`).
    flame: the FLAME layer's output for ``params``.
    landmarks: (B, N, 2) final normalised 2D landmarks of the landmark branch / head.
    landmark_layers: (L, B, N, 2) per-decoder-layer landmarks for deep supervision (L = 1 when the model
        has a single landmark output; ``landmark_layers[-1]`` equals ``landmarks``).
    heatmaps: (B, N, h, w) heatmap logits (DAD-3DNet), or None for models without a heatmap head.
    """

    params: Tensor
    flame: FlameOutput
    landmarks: Tensor
    landmark_layers: Tensor
    heatmaps: Tensor | None = None


@dataclass
class LossOutput:
    """Named, unweighted losses, the weights used, and the weighted total (a scalar tensor)."""

    losses: dict[str, Tensor]
    weights: dict[str, float]
    total: Tensor

"""Inference backends: something that maps crops (B, 3, S, S) to a :class:`~trans3dhead.types.HeadOutput`.

:class:`TorchBackend` runs the PyTorch model; :class:`~trans3dhead.inference.onnx_runtime.OnnxBackend`
runs an exported ONNX file with ONNX Runtime and returns the same fields.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from trans3dhead.types import HeadOutput

__all__ = ["InferenceBackend", "TorchBackend", "check_crops"]


def check_crops(crops: object, size: int) -> Tensor:
    """Crops must be a float tensor (B, 3, S, S) with B >= 1; a clear ValueError otherwise."""
    if not isinstance(crops, Tensor):
        raise ValueError(f"crops must be a torch tensor (B, 3, {size}, {size}), got {type(crops).__name__}")
    if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, size, size) or crops.shape[0] < 1:
        raise ValueError(
            f"crops must have shape (B, 3, {size}, {size}) with B >= 1, got {tuple(crops.shape)}"
        )
    if not crops.is_floating_point():
        raise ValueError(f"crops must be float RGB in [0, 1], got dtype {crops.dtype}")
    return crops


@runtime_checkable
class InferenceBackend(Protocol):
    """Maps RGB crops in [0, 1] to the network's output."""

    #: S, the crop side the network takes.
    input_size: int

    def __call__(self, crops: Tensor) -> HeadOutput:
        """crops (B, 3, S, S) float in [0, 1] -> HeadOutput with tensors on the CPU or the model's device."""
        ...


class TorchBackend:
    """Eager PyTorch on ``device`` (the model is moved there and put in eval mode).

    Args:
        model: a head-alignment model (Trans3DHead / DAD-3DNet) with a ``flame`` layer.
        device: where to run; crops are moved there.
    """

    name = "torch"

    def __init__(self, *, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.input_size = int(model.flame.image_size)

    @torch.inference_mode()
    def __call__(self, crops: Tensor) -> HeadOutput:
        crops = check_crops(crops, self.input_size)
        return self.model(crops.to(self.device, torch.float32))

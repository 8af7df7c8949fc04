"""Training augmentation as batched tensor ops, run where the model runs (the GPU in a GPU run).

The cache (:mod:`trans3dhead.data.cache`) stores each item's evaluation crop once, as uint8.  Its training
loader only draws each item's random numbers, from the same per-item stream and in the same order as
:class:`~trans3dhead.data.dad3dheads.DAD3DHeadsDataset` (box extension, similarity, photometric factors),
and hands them over as a :class:`~trans3dhead.types.DeviceAugment`.  Here, on the device and for the whole
batch at once:

- the image is warped from the cached crop to the training crop (random box extension composed with the
  random similarity: one bilinear ``grid_sample``, zeros outside);
- the 2D targets are mapped with the same matrix, the rotation is pre-multiplied by its in-plane rotation
  and the Euler angles recomputed, the presence mask is recomputed against the training box and crop
  (the same rules as :func:`~trans3dhead.data.dad3dheads.gt_targets`);
- brightness, contrast, saturation, Gaussian blur and noise are applied as in
  :func:`~trans3dhead.data.transforms.photometric`.

The targets come out as the file loader's for the same item, epoch and seed (to float32 rounding).  The
image differs slightly: it is resampled twice (crop, then warp) instead of once, a box extended beyond
the evaluation crop's shows zeros where the file loader shows image, and the noise field comes from the
device's generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from trans3dhead.geometry.rotation import matrix_to_euler
from trans3dhead.types import Batch, DeviceAugment, HeadTargets

__all__ = ["augment_on_device", "batch_to_device", "blur_batch", "photometric_batch", "warp_batch"]

BLUR_RADIUS = 6  # taps on each side: 4 sigma of the largest blur (1.5 px), as OpenCV's kernel for it


def batch_to_device(
    batch: Batch, device: torch.device, *, channels_last: bool = False
) -> tuple[Tensor, HeadTargets | None]:
    """The model's input (B, 3, S, S) float in [0, 1] and targets on ``device``; a cached training batch
    is augmented there.  Copies are asynchronous (pinned batches) and nothing is read back."""
    images = batch.images.to(device, non_blocking=True)
    targets = None if batch.targets is None else batch.targets.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        images = images.float().div_(255.0)
    if batch.augment is not None:
        if targets is None:
            raise ValueError("a batch to augment on the device needs its targets")
        images, targets = augment_on_device(images, targets, batch.augment.to(device, non_blocking=True))
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets


def augment_on_device(
    images: Tensor, targets: HeadTargets, params: DeviceAugment
) -> tuple[Tensor, HeadTargets]:
    """Augment cached crops (B, 3, S, S) float in [0, 1] and their targets (see the module docstring)."""
    matrix = params.matrix.to(torch.float32)
    images = warp_batch(images, matrix)
    if params.photometric is not None:
        images = photometric_batch(images, params.photometric.to(torch.float32))
    return images, _map_targets(targets, matrix, params.box.to(torch.float32), images.shape[-1])


def warp_batch(images: Tensor, matrix: Tensor) -> Tensor:
    """Warp (B, C, S, S) images with (B, 2, 3) destination-from-source affines in pixels (integer
    coordinates are pixel centres, as OpenCV's); bilinear, zeros outside."""
    b, _, height, width = images.shape
    dst_from_src = _homogeneous(matrix.to(images.dtype))
    # pixel x -> grid_sample's normalised coordinate (align_corners=False): n = (2 x + 1) / side - 1
    norm = images.new_zeros(3, 3)
    norm[0, 0], norm[1, 1], norm[2, 2] = 2.0 / width, 2.0 / height, 1.0
    norm[0, 2], norm[1, 2] = 1.0 / width - 1.0, 1.0 / height - 1.0
    theta = norm @ torch.linalg.inv(dst_from_src) @ torch.linalg.inv(norm)  # (B, 3, 3) output -> input
    grid = F.affine_grid(theta[:, :2], [b, images.shape[1], height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def photometric_batch(images: Tensor, params: Tensor) -> Tensor:
    """Per-image saturation, contrast, brightness, blur and noise on (B, 3, H, W) [0, 1] images;
    ``params`` (B, 5): brightness, contrast, saturation, blur sigma (0: none), noise std (0: none)."""
    brightness, contrast, saturation, sigma, noise = (params[:, i, None, None, None] for i in range(5))
    grey = images.mean(dim=1, keepdim=True)
    out = grey + saturation * (images - grey)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean) * brightness
    out = blur_batch(out, params[:, 3])
    out = out + torch.randn_like(out) * noise
    return out.clamp(0.0, 1.0)


def blur_batch(images: Tensor, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) with a per-image ``sigma`` (B,) in pixels (0: unchanged);
    edges reflected without repeating the border pixel, as OpenCV's default."""
    b, c, height, width = images.shape
    taps = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, device=images.device, dtype=images.dtype)
    safe = sigma.clamp_min(1e-3)[:, None]
    kernel = torch.exp(-0.5 * (taps[None] / safe) ** 2)
    kernel = torch.where(sigma[:, None] > 0, kernel, (taps[None] == 0).to(images.dtype))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (B * C, K)
    flat = images.reshape(1, b * c, height, width)  # one group per image channel
    flat = F.pad(flat, (BLUR_RADIUS, BLUR_RADIUS, BLUR_RADIUS, BLUR_RADIUS), mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=b * c)  # vertical
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=b * c)  # horizontal
    return flat.reshape(b, c, height, width)


def _homogeneous(matrix: Tensor) -> Tensor:
    """(B, 2, 3) affines -> (B, 3, 3)."""
    last = torch.zeros_like(matrix[:, :1])
    last[:, :, 2] = 1.0
    return torch.cat([matrix, last], dim=1)


def _map_targets(targets: HeadTargets, matrix: Tensor, box: Tensor, size: int) -> HeadTargets:
    """The cached crop's targets in the training crop: points mapped, rotation turned, presence redone."""
    linear, shift = matrix[:, :, :2], matrix[:, None, :, 2]
    cached = targets.landmarks * size  # (B, N, 2) cached-crop pixels
    moved = cached @ linear.transpose(1, 2) + shift
    x0, y0, x1, y1 = (box[:, None, i] for i in range(4))
    in_box = (cached[..., 0] > x0) & (cached[..., 0] < x1) & (cached[..., 1] > y0) & (cached[..., 1] < y1)
    in_crop = ((moved > 0) & (moved < size)).all(dim=-1)
    # in-plane part of a similarity: its linear part over its scale (sqrt |det|)
    scale = torch.sqrt(torch.linalg.det(linear).abs())[:, None, None]
    turn = torch.eye(3, device=matrix.device, dtype=matrix.dtype).repeat(matrix.shape[0], 1, 1)
    turn[:, :2, :2] = linear / scale
    rotation = turn @ targets.rotation.to(matrix.dtype)
    return HeadTargets(
        landmarks=moved / size,
        presence=in_box & in_crop,
        vertices=targets.vertices,
        projected=targets.projected @ linear.transpose(1, 2) + shift,
        rotation=rotation,
        euler=matrix_to_euler(rotation),
    )

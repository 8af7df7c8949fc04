"""2D sine positional encoding of a feature map (DETR style, normalised coordinates).

Letters: H/W feature-map height and width, S = H * W memory tokens, C channels (= d_model).

Each grid cell (row i, column j) gets the 1-based coordinates ``y = (i + 1) / (H + eps) * scale`` and
``x = (j + 1) / (W + eps) * scale`` (``scale = 2 pi``), so the encoding does not depend on the input
resolution.  Half of the channels encode y and half x; within each half, channel pair ``(2k, 2k + 1)``
holds ``(sin(c / T^(2k / F)), cos(c / T^(2k / F)))`` with ``F = C / 2`` and temperature ``T``.  The y
half comes first, as in DETR.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["SinePositionEncoding", "sine_position_encoding"]

_EPS = 1e-6


def _axis_encoding(length: int, num_feats: int, temperature: float, scale: float, like: Tensor) -> Tensor:
    """(length, num_feats): interleaved sin/cos of the normalised 1-based coordinate along one axis."""
    coord = torch.arange(1, length + 1, dtype=like.dtype, device=like.device) / (length + _EPS) * scale
    k = torch.arange(num_feats, dtype=like.dtype, device=like.device)
    dim_t = temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / num_feats)  # (F,)
    angles = coord[:, None] / dim_t  # (length, F)
    # even channels sin, odd channels cos, interleaved (pairs share a frequency)
    return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=-1).flatten(1)


def sine_position_encoding(
    height: int,
    width: int,
    channels: int,
    *,
    temperature: float = 10000.0,
    scale: float = 2 * math.pi,
    like: Tensor | None = None,
) -> Tensor:
    """The encoding of an ``height x width`` grid as (S, C) tokens in row-major order (S = H * W).

    ``like`` gives dtype and device (float32 on the CPU by default).  ``channels`` must be divisible by 4
    (two axes, sin/cos pairs).
    """
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got height={height}, width={width}")
    if channels < 4 or channels % 4:
        raise ValueError(f"channels must be a positive multiple of 4, got channels={channels}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got temperature={temperature}")
    like = torch.empty(0) if like is None else like
    feats = channels // 2
    pos_y = _axis_encoding(height, feats, temperature, scale, like)  # (H, F)
    pos_x = _axis_encoding(width, feats, temperature, scale, like)  # (W, F)
    grid_y = pos_y[:, None, :].expand(height, width, feats)  # (H, W, F)
    grid_x = pos_x[None, :, :].expand(height, width, feats)  # (H, W, F)
    return torch.cat((grid_y, grid_x), dim=-1).reshape(height * width, channels)  # (S, C)


class SinePositionEncoding(nn.Module):
    """Module wrapper: feature map (B, C, H, W) -> its positional encoding (S, C), shared by the batch.

    Args:
        channels: C, the model width; a multiple of 4.
        temperature: frequency base T.
        scale: range of the normalised coordinates (2 pi).
    """

    def __init__(self, *, channels: int, temperature: float = 10000.0, scale: float = 2 * math.pi) -> None:
        super().__init__()
        sine_position_encoding(1, 1, channels, temperature=temperature, scale=scale)  # validates
        self.channels = channels
        self.temperature = temperature
        self.scale = scale

    def forward(self, features: Tensor) -> Tensor:
        """features (B, C, H, W) -> (S, C) with S = H * W."""
        if features.ndim != 4 or features.shape[1] != self.channels:
            raise ValueError(
                f"features must have shape (B, {self.channels}, H, W), got {tuple(features.shape)}"
            )
        h, w = features.shape[-2:]
        return sine_position_encoding(
            h, w, self.channels, temperature=self.temperature, scale=self.scale, like=features
        )

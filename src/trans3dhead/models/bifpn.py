"""BiFPN (Tan et al. 2020, EfficientDet) as configured in DAD-3DNet's reference code.

See ``docs/conventions.md`` section 10.

Letters: B batch, C channels (``channels``, 256 in DAD-3DNet), H/W feature-map size.

Five levels P3..P7: P3/P4/P5 are 1x1 projections of the backbone's stride-4/8/16 features (at a 256 px
input: 64, 32, 16 px), P6 a stride-2 3x3 convolution of the stride-16 features, P7 a stride-2 3x3
conv + BN + ReLU of P6.  Each block fuses top-down then bottom-up with learned, normalised non-negative
weights; every fused node is a depthwise-separable 1x1 conv + BN + ReLU, and resizing is nearest
neighbour in both directions.

Reference details kept: the depthwise kernel is 1x1, BatchNorm uses ``momentum=0.9997, eps=4e-5``
(in PyTorch's convention that momentum is the weight of the *new* batch, so the running statistics
follow the last batch closely), and the top level P7 is fused with its input twice (as input and as
top-down node).  The fusion weights: by default (``fusion="stable"``) ``w / (sum(w) + eps)`` instead of
the reference's ``w / sum(w) + eps``, which divides by zero once all weights of a node reach zero; the two
differ by at most ``eps`` per weight (1e-4).  ``fusion="reference"`` computes the reference's formula, so
that the released DAD-3DNet weights give the reference's outputs exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trans3dhead.frames import FUSION_MODES

__all__ = ["BiFPN", "BiFPNBlock", "SeparableConvBlock", "BN_MOMENTUM", "BN_EPS", "FUSION_MODES"]

#: BatchNorm settings of the reference BiFPN.
BN_MOMENTUM = 0.9997
BN_EPS = 4e-5
# How a node normalises its fusion weights w (after ReLU), one of FUSION_MODES (trans3dhead.frames):
# "stable" ``w / (sum(w) + eps)``, "reference" ``w / sum(w) + eps`` (the DAD-3DNet reference code).
_NUM_LEVELS = 5


def _check_fusion(fusion: str) -> str:
    if fusion not in FUSION_MODES:
        raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
    return fusion


class SeparableConvBlock(nn.Module):
    """Depthwise 1x1 (a per-channel scale) -> pointwise 1x1 -> BN -> ReLU: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, *, channels: int, bn_momentum: float = BN_MOMENTUM, bn_eps: float = BN_EPS) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, kernel_size=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(channels, momentum=bn_momentum, eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.pointwise(self.depthwise(x))))


def _resize(x: Tensor, like: Tensor) -> Tensor:
    """Nearest-neighbour resize of x (B, C, h, w) to like's (H, W)."""
    return F.interpolate(x, size=like.shape[-2:], mode="nearest")


class BiFPNBlock(nn.Module):
    """One top-down + bottom-up pass over five levels: list of 5 x (B, C, H_i, W_i) -> same shapes."""

    def __init__(
        self,
        *,
        channels: int,
        eps: float = 1e-4,
        bn_momentum: float = BN_MOMENTUM,
        bn_eps: float = BN_EPS,
        fusion: str = "stable",
    ) -> None:
        super().__init__()
        self.eps, self.fusion = eps, _check_fusion(fusion)

        def node() -> SeparableConvBlock:
            return SeparableConvBlock(channels=channels, bn_momentum=bn_momentum, bn_eps=bn_eps)

        # Top-down nodes for P6, P5, P4, P3 (in that order) and bottom-up nodes for P4, P5, P6, P7.
        self.top_down = nn.ModuleList(node() for _ in range(_NUM_LEVELS - 1))
        self.bottom_up = nn.ModuleList(node() for _ in range(_NUM_LEVELS - 1))
        # Fusion weights (EfficientDet's "fast normalised fusion"): column j belongs to node j,
        # rows to its inputs (2 top-down: lateral, upper; 3 bottom-up: lateral, top-down, lower).
        self.top_down_weights = nn.Parameter(torch.ones(2, _NUM_LEVELS - 1))
        self.bottom_up_weights = nn.Parameter(torch.ones(3, _NUM_LEVELS - 1))

    def extra_repr(self) -> str:
        return f"eps={self.eps}, fusion={self.fusion!r}"

    def _normalised(self, weights: Tensor) -> Tensor:
        """(inputs, nodes) raw weights -> normalised non-negative weights, per :data:`FUSION_MODES`."""
        weights = F.relu(weights)
        if self.fusion == "reference":
            return weights / weights.sum(dim=0) + self.eps
        return weights / (weights.sum(dim=0) + self.eps)

    def forward(self, levels: Sequence[Tensor]) -> list[Tensor]:
        """levels: [P3, P4, P5, P6, P7], each (B, C, H_i, W_i), finest first -> fused levels, same shapes."""
        if len(levels) != _NUM_LEVELS:
            raise ValueError(f"BiFPNBlock needs {_NUM_LEVELS} levels (P3..P7), got {len(levels)}")
        w_td, w_bu = self._normalised(self.top_down_weights), self._normalised(self.bottom_up_weights)
        # Top-down: from P7 to P3, each level fused with the upsampled level above it.
        top_down = [levels[-1]]
        for j, lateral in enumerate(reversed(levels[:-1])):
            fused = w_td[0, j] * lateral + w_td[1, j] * _resize(top_down[-1], lateral)
            top_down.append(self.top_down[j](fused))
        top_down.reverse()  # now finest first: [P3_td, ..., P6_td, P7]
        # Bottom-up: P3 output is its top-down node; each higher level adds the downsampled level below.
        outputs = [top_down[0]]
        for j in range(_NUM_LEVELS - 1):
            lateral, node_td = levels[j + 1], top_down[j + 1]
            fused = w_bu[0, j] * lateral + w_bu[1, j] * node_td + w_bu[2, j] * _resize(outputs[-1], lateral)
            outputs.append(self.bottom_up[j](fused))
        return outputs


class BiFPN(nn.Module):
    """Input projections (P3..P7) followed by ``num_blocks`` BiFPN blocks.

    Args:
        in_channels: channels of the backbone features at strides 4, 8, 16 (finest first).
        channels: width of every level (256 in DAD-3DNet).
        num_blocks: number of stacked BiFPN blocks (2 in DAD-3DNet).
        fusion: weight normalisation of every block, one of :data:`FUSION_MODES`.
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        channels: int = 256,
        num_blocks: int = 2,
        bn_momentum: float = BN_MOMENTUM,
        bn_eps: float = BN_EPS,
        fusion: str = "stable",
    ) -> None:
        super().__init__()
        _check_fusion(fusion)
        if len(in_channels) != 3:
            raise ValueError(f"in_channels must give 3 levels (strides 4, 8, 16), got {tuple(in_channels)}")
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be at least 1, got {num_blocks}")
        self.channels = channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, kernel_size=1) for c in in_channels)
        self.p6 = nn.Conv2d(in_channels[-1], channels, kernel_size=3, stride=2, padding=1)
        self.p7 = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(channels, momentum=bn_momentum, eps=bn_eps),
            nn.ReLU(),
        )
        self.blocks = nn.ModuleList(
            BiFPNBlock(channels=channels, bn_momentum=bn_momentum, bn_eps=bn_eps, fusion=fusion)
            for _ in range(num_blocks)
        )

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        """features: [C2 (B, C_a, H/4, W/4), C3 (B, C_b, H/8, W/8), C4 (B, C_c, H/16, W/16)]
        -> [P3 .. P7], each (B, channels, H / 2**(i+2), W / 2**(i+2)) for i = 0..4 (rounded up)."""
        if len(features) != len(self.lateral):
            raise ValueError(f"BiFPN needs {len(self.lateral)} feature maps, got {len(features)}")
        levels = [conv(x) for conv, x in zip(self.lateral, features, strict=True)]
        levels.append(self.p6(features[-1]))
        levels.append(self.p7(levels[-1]))
        for block in self.blocks:
            levels = block(levels)
        return levels

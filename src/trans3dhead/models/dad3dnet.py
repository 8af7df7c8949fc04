"""DAD-3DNet (Martyniuk et al., CVPR 2022, section 4.1) as built by its reference code.

See ``docs/conventions.md`` section 10.

Letters: B batch, N landmarks (68), K parameters, C channels, H/W image size (256 in the paper).

Data flow at a 256 px input with ResNet-50 (channels in brackets)::

    images -> stage 4 (256, 64 px) -> stage 8 (512, 32 px) -> stage 16 (1024, 16 px)
    BiFPN(stages 4, 8, 16) -> P3 (256, 64 px) ... P7; heatmap logits = Conv3x3(P3) (N, 64 px)
    fusion: Conv1x1([stage16, sigmoid(bilinear(heatmaps, 16 px)), P5]) * stage16   (1024, 16 px)
    -> backbone stage 32 (2048, 8 px) -> global average pool -> three MLP heads:
       shape (everything before rotation in the layout, 403 for FLAME): tanh * 3
       pose (6D rotation, translation, scale: 10): raw
       landmarks (2N): ReLU, normalised crop coordinates
    params = [shape head, pose head] -> FLAME layer
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trans3dhead.flame.layer import FlameLayer
from trans3dhead.frames import POSE_INITS
from trans3dhead.models.backbone import Backbone, check_images
from trans3dhead.models.bifpn import BiFPN
from trans3dhead.models.initial import initial_params
from trans3dhead.models.normalize import ImageNormalizer
from trans3dhead.types import HeadOutput

__all__ = ["DAD3DNet", "FusionLayer", "RegressionHead", "POSE_INITS"]

_STAGES = (4, 8, 16, 32)
# POSE_INITS (trans3dhead.frames): "reference": PyTorch's default init of the pose head, as the reference
# code (its first predictions are 135-163 degrees and a factor ~6 in scale away from a plausible head);
# "frontal_mean": the pose head's output starts at the frontal mean head filling the crop
# (:func:`initial_params`).
_FRONTAL_STD = 1e-3


class FusionLayer(nn.Module):
    """Heatmaps and BiFPN features modulate the stride-16 backbone features (the paper's fusion module).

    Heatmaps are resized bilinearly (corners aligned) and squashed by a sigmoid before the 1x1 conv, whose
    output gates the backbone features multiplicatively, as in the reference code.
    """

    def __init__(self, *, channels: int, num_heatmaps: int, pyramid_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels + num_heatmaps + pyramid_channels, channels, kernel_size=1)

    def forward(self, features: Tensor, heatmaps: Tensor, pyramid: Tensor) -> Tensor:
        """features (B, C, h, w), heatmaps (B, N, H', W') logits, pyramid (B, C_p, h, w) -> (B, C, h, w)."""
        size = features.shape[-2:]
        probs = F.interpolate(heatmaps, size=size, mode="bilinear", align_corners=True).sigmoid()
        # (B, C + N + C_p, h, w) -> (B, C, h, w)
        fused = self.conv(torch.cat([features, probs, pyramid], dim=1))
        return fused * features


class RegressionHead(nn.Module):
    """Global average pool -> Linear -> ReLU -> Dropout -> Linear: (B, C, h, w) -> (B, out_features)."""

    def __init__(
        self, *, in_channels: int, out_features: int, hidden: int = 512, dropout: float = 0.3
    ) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden), nn.ReLU(), nn.Dropout(p=dropout), nn.Linear(hidden, out_features)
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.mlp(features.mean(dim=(2, 3)))  # (B, C, h, w) -> (B, C) -> (B, out_features)


class DAD3DNet(nn.Module):
    """The DAD-3DNet baseline: backbone, BiFPN heatmap estimator, fusion, regression heads, FLAME.

    Args:
        backbone: a :class:`Backbone` with stages at strides 4, 8, 16, 32 that can run them one at a time
            (ResNet, MobileNetV2), built with all four (``strides=(4, 8, 16, 32)``; a MobileNetV2 built for
            smaller strides leaves out its last stage); the stages are run here.
        flame: the FLAME layer; its ``layout`` sets the parameter count (shape head = every value before
            the rotation, pose head = rotation + translation + scale).
        num_landmarks: N, landmarks and heatmap channels (68).
        pyramid_channels: BiFPN width (256); pyramid_blocks: number of BiFPN blocks (2).
        head_hidden / dropout: hidden width (512) and dropout (0.3) of the three regression heads.
        shape_limit: the shape head outputs ``tanh(x) * shape_limit`` (3).
        pose_init: one of :data:`POSE_INITS` ("reference").
        bifpn_fusion: the BiFPN's fusion-weight normalisation, one of
            :data:`~trans3dhead.models.bifpn.FUSION_MODES` ("stable"; "reference" for the released weights).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        flame: FlameLayer,
        num_landmarks: int = 68,
        pyramid_channels: int = 256,
        pyramid_blocks: int = 2,
        head_hidden: int = 512,
        dropout: float = 0.3,
        shape_limit: float = 3.0,
        pose_init: str = "reference",
        bifpn_fusion: str = "stable",
    ) -> None:
        super().__init__()
        _check_backbone(backbone)
        if pose_init not in POSE_INITS:
            raise ValueError(f"pose_init must be one of {POSE_INITS}, got {pose_init!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if num_landmarks < 1:
            raise ValueError(f"num_landmarks must be positive, got {num_landmarks}")
        channels = backbone.stage_channels
        self.normalize = ImageNormalizer()
        self.backbone = backbone
        self.flame = flame
        self.num_landmarks = num_landmarks
        self.shape_limit = shape_limit
        layout = flame.layout
        self.num_shape_values = layout.slices["rotation"].start  # shape + expression + jaw
        num_pose_values = layout.total - self.num_shape_values  # rotation 6 + translation 3 + scale 1
        self.bifpn = BiFPN(
            in_channels=[channels[s] for s in _STAGES[:3]],
            channels=pyramid_channels,
            num_blocks=pyramid_blocks,
            fusion=bifpn_fusion,
        )
        self.heatmap = nn.Conv2d(pyramid_channels, num_landmarks, kernel_size=3, padding=1)
        nn.init.zeros_(self.heatmap.bias)
        self.fusion = FusionLayer(
            channels=channels[16], num_heatmaps=num_landmarks, pyramid_channels=pyramid_channels
        )

        def head(out_features: int) -> RegressionHead:
            return RegressionHead(
                in_channels=channels[32], out_features=out_features, hidden=head_hidden, dropout=dropout
            )

        self.shape_head = head(self.num_shape_values)
        self.pose_head = head(num_pose_values)
        self.landmark_head = head(2 * num_landmarks)
        self.pose_init = pose_init
        if pose_init == "frontal_mean":
            last = self.pose_head.mlp[-1]
            nn.init.normal_(last.weight, std=_FRONTAL_STD)  # small: the first outputs are the bias
            with torch.no_grad():
                last.bias.copy_(initial_params(flame)[self.num_shape_values :])

    #: DAD-3DNet regresses its own 68 landmarks (the landmark head) besides the FLAME reprojection.
    has_landmark_branch = True

    def forward(self, images: Tensor) -> HeadOutput:
        """images (B, 3, H, W) RGB in [0, 1] (normalised here with the model's buffers) -> :class:`HeadOutput`
        with params (B, K), landmarks (B, N, 2) in [0, 1] of the crop, landmark_layers (1, B, N, 2),
        heatmaps (B, N, H/4, W/4) logits."""
        check_images(images)
        stage4 = self.backbone.forward_stage(4, self.normalize(images))
        stage8 = self.backbone.forward_stage(8, stage4)
        stage16 = self.backbone.forward_stage(16, stage8)
        pyramid = self.bifpn([stage4, stage8, stage16])  # [P3 .. P7], P3 at stride 4
        heatmaps = self.heatmap(pyramid[0])
        fused = self.fusion(stage16, heatmaps, pyramid[2])  # P5 is at stride 16, like stage16
        stage32 = self.backbone.forward_stage(32, fused)
        shape = torch.tanh(self.shape_head(stage32)) * self.shape_limit
        pose = self.pose_head(stage32)
        params = torch.cat([shape, pose], dim=1)  # (B, K) in layout order
        # (B, 2N) -> (B, N, 2): interleaved (x, y) pairs, as the reference reshapes them
        landmarks = F.relu(self.landmark_head(stage32).view(-1, self.num_landmarks, 2))
        return HeadOutput(
            params=params,
            flame=self.flame(params),
            landmarks=landmarks,
            landmark_layers=landmarks.unsqueeze(0),
            heatmaps=heatmaps,
        )


def _check_backbone(backbone: Backbone) -> None:
    if not getattr(backbone, "supports_stages", False):
        raise ValueError(
            f"DAD-3DNet runs its backbone stage by stage; {type(backbone).__name__} cannot "
            "(use resnet18/34/50 or mobilenet_v2)"
        )
    if tuple(backbone.stage_channels) != _STAGES or tuple(backbone.built_strides) != _STAGES:
        raise ValueError(
            f"DAD-3DNet needs backbone stages at strides {_STAGES}, got {tuple(backbone.built_strides)} "
            "(build the backbone with strides=(4, 8, 16, 32))"
        )

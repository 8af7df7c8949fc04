"""ResNet-18/34/50 (He et al. 2016).  ``resnet50`` is torchvision's "v1.5" (the stride of a downsampling
bottleneck sits in its 3x3 convolution); ``resnet50_v1`` is the original layout with the stride in the
first 1x1 convolution, as pytorchcv's ``resnet50`` (the encoder of the DAD-3DNet reference code).

Letters: B batch, C channels, H/W feature-map size.

Module and parameter names equal torchvision's (``conv1, bn1, layer1..layer4`` with blocks
``conv1/bn1/conv2/bn2[/conv3/bn3]/downsample.0/.1``, classifier ``fc``), so torchvision's ImageNet files
load with :meth:`Backbone.load_pretrained` without any renaming.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from trans3dhead.models.backbone import Backbone, check_images, register_backbone

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "RESNET_DEPTHS"]

#: depth -> (block type name, blocks per stage)
RESNET_DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
_STAGE_WIDTHS = (64, 128, 256, 512)
_STAGE_STRIDES = (4, 8, 16, 32)


def _conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False)


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    """Projection shortcut when the block changes resolution or width (torchvision's ``downsample``)."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(_conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus an identity or projection shortcut.
    (B, C_in, H, W) -> (B, width, H / stride, W / stride)."""

    expansion = 1

    def __init__(self, *, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _shortcut(in_channels, width, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand by 4: (B, C_in, H, W) -> (B, 4 * width, H/s, W/s).  The stride sits in
    the 3x3 ("v1.5", torchvision) or, with ``stride_in_1x1``, in the first 1x1 ("v1", pytorchcv)."""

    expansion = 4

    def __init__(self, *, in_channels: int, width: int, stride: int = 1, stride_in_1x1: bool = False) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = _conv1x1(in_channels, width, stride if stride_in_1x1 else 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, 1 if stride_in_1x1 else stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(Backbone):
    """ResNet backbone with stages at strides 4 (stem + ``layer1``), 8, 16 and 32.

    Args:
        depth: 18, 34 or 50.
        strides: strides returned by ``forward`` (see :class:`Backbone`).
        stride_in_1x1: bottlenecks stride in their first 1x1 convolution (ResNet v1; depth 50 only).
        num_classes: build the ImageNet classifier ``fc`` (for :meth:`classify`); None for features only.
    """

    def __init__(
        self,
        *,
        depth: int = 50,
        strides: Sequence[int] = (32,),
        num_classes: int | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_DEPTHS)}, got {depth}")
        kind, counts = RESNET_DEPTHS[depth]
        if stride_in_1x1 and kind != "bottleneck":
            raise ValueError(f"stride_in_1x1 applies to bottleneck ResNets (depth 50), got depth {depth}")
        extra = {"stride_in_1x1": True} if stride_in_1x1 else {}
        block = BasicBlock if kind == "basic" else Bottleneck
        channels = {s: w * block.expansion for s, w in zip(_STAGE_STRIDES, _STAGE_WIDTHS, strict=True)}
        super().__init__(strides=strides, stage_channels=channels, classifier_prefixes=("fc.",))
        self.depth, self.stride_in_1x1 = depth, stride_in_1x1
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for index, (width, count) in enumerate(zip(_STAGE_WIDTHS, counts, strict=True)):
            stride = 1 if index == 0 else 2  # the stem already brings stage 1 to stride 4
            blocks = []
            for b in range(count):
                blocks.append(
                    block(in_channels=in_channels, width=width, stride=stride if b == 0 else 1, **extra)
                )
                in_channels = width * block.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(in_channels, num_classes) if num_classes is not None else None
        self._init_weights()

    def convert_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """pytorchcv's ResNet names (``features.stageI.unitJ.body.convK.conv``) -> torchvision's."""
        from trans3dhead.models.imagenet import is_pytorchcv_state, pytorchcv_to_torchvision

        return pytorchcv_to_torchvision(state) if is_pytorchcv_state(state) else state

    def _init_weights(self) -> None:
        """He-normal (fan-out) convolutions, unit BatchNorm, as torchvision initialises ResNets."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _layer(self, stride: int) -> nn.Sequential:
        """The residual layer ending at ``stride`` (``layer1`` .. ``layer4``)."""
        if stride not in self.stage_channels:
            raise ValueError(f"ResNet has stages at strides {tuple(self.stage_channels)}, got {stride}")
        return getattr(self, f"layer{_STAGE_STRIDES.index(stride) + 1}")

    def forward_stage(self, stride: int, features: Tensor) -> Tensor:
        """Stage ending at ``stride`` (4: stem + layer1 on the images, 8: layer2, 16: layer3, 32: layer4)."""
        layer = self._layer(stride)
        if stride == 4:
            features = self.maxpool(self.relu(self.bn1(self.conv1(features))))
        return layer(features)

    def stage_modules(self, stride: int) -> nn.Module:
        layer = self._layer(stride)
        if stride == 4:
            raise ValueError("the stride-4 stage of a ResNet is its stem: it cannot be dilated")
        return layer

    def classify(self, images: Tensor) -> Tensor:
        """images (B, 3, H, W) -> ImageNet logits (B, num_classes); needs ``num_classes``."""
        if self.fc is None:
            raise RuntimeError("this ResNet was built without a classifier (num_classes=None)")
        check_images(images)
        x = images
        for stride in self.stage_channels:
            x = self.forward_stage(stride, x)
        return self.fc(x.mean(dim=(2, 3)))  # global average pool (B, C, h, w) -> (B, C)


#: The registered ResNet names and their constructor arguments.
_RESNET_NAMES = {
    "resnet18": {"depth": 18},
    "resnet34": {"depth": 34},
    "resnet50": {"depth": 50},
    "resnet50_v1": {"depth": 50, "stride_in_1x1": True},
}


@register_backbone(*_RESNET_NAMES)
def _build_resnet(name: str, strides: Sequence[int]) -> ResNet:
    return ResNet(strides=strides, **_RESNET_NAMES[name])

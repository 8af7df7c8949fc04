"""Any timm model as a feature backbone (optional: only when timm is installed, ``pip install timm``).

Letters: B batch, C channels, H/W feature-map size, S stride.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from trans3dhead.models.backbone import Backbone, check_images, register_backbone

__all__ = ["TimmBackbone"]

_STRIDES = (4, 8, 16, 32)


def _import_timm():
    try:
        return importlib.import_module("timm")
    except ImportError as error:
        raise ImportError(
            "'timm:<name>' backbones need timm, which is not installed: `pip install timm` "
            "(or the project's optional extra `pip install trans3dhead[timm]`)"
        ) from error


class TimmBackbone(Backbone):
    """A timm model created with ``features_only=True`` returning the requested strides.

    It returns features only: it cannot run one stage at a time (``supports_stages`` is False), which
    DAD-3DNet needs.  Its state dict uses timm's names.

    Args:
        model_name: a timm model name, e.g. ``"resnet50"`` or ``"convnext_tiny"``.
        strides: strides returned by ``forward``, among those of the model's feature levels in 4..32.
        pretrained: None, ``"imagenet"`` (timm's own pretrained weights, which timm may have to download)
            or a path to a local weights file for timm's ``pretrained_cfg_overlay``.
    """

    supports_stages = False

    def __init__(
        self, *, model_name: str, strides: Sequence[int] = (32,), pretrained: str | Path | None = None
    ) -> None:
        timm = _import_timm()
        kwargs: dict = {"features_only": True, "pretrained": pretrained is not None}
        if pretrained is not None and pretrained != "imagenet":
            kwargs["pretrained_cfg_overlay"] = {"file": str(pretrained)}
        model = timm.create_model(model_name, **kwargs)
        reductions = list(model.feature_info.reduction())
        channels = list(model.feature_info.channels())
        levels = {
            r: (i, c) for i, (r, c) in enumerate(zip(reductions, channels, strict=True)) if r in _STRIDES
        }
        super().__init__(strides=strides, stage_channels={s: levels[s][1] for s in sorted(levels)})
        self.model_name = model_name
        self.model = model
        self._positions = tuple(levels[s][0] for s in self.strides)  # output index of each returned stride

    def forward(self, images: Tensor) -> dict[int, Tensor]:
        """images (B, 3, H, W), ImageNet-normalised -> {S: (B, channels[S], H / S, W / S)}."""
        check_images(images)
        levels = self.model(images)  # one (B, C, h, w) map per feature level of the model
        return {s: levels[i] for s, i in zip(self.strides, self._positions, strict=True)}


@register_backbone("timm:", prefix=True)
def _build_timm(model_name: str, strides: Sequence[int], pretrained: str | Path | None) -> TimmBackbone:
    return TimmBackbone(model_name=model_name, strides=strides, pretrained=pretrained)

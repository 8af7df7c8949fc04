"""Models: CNN backbones, the BiFPN, DAD-3DNet (and Trans3DHead)."""

from trans3dhead.models.backbone import (
    BACKBONE_NAMES,
    Backbone,
    LoadReport,
    PretrainedWeightsError,
    build_backbone,
)
from trans3dhead.models.bifpn import BiFPN
from trans3dhead.models.dad3dnet import DAD3DNet
from trans3dhead.models.mobilenet import MobileNetV2, mobilenet_v2_imagenet_weights_path
from trans3dhead.models.resnet import ResNet

__all__ = [
    "BACKBONE_NAMES",
    "Backbone",
    "BiFPN",
    "DAD3DNet",
    "LoadReport",
    "MobileNetV2",
    "PretrainedWeightsError",
    "ResNet",
    "build_backbone",
    "mobilenet_v2_imagenet_weights_path",
]

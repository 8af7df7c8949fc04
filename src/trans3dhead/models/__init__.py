"""Models: CNN backbones, the BiFPN, DAD-3DNet and Trans3DHead (with its QAMem, MARR and MQinit parts)."""

from trans3dhead.models.backbone import (
    BACKBONE_NAMES,
    Backbone,
    LoadReport,
    PretrainedWeightsError,
    build_backbone,
)
from trans3dhead.models.bifpn import BiFPN
from trans3dhead.models.dad3dnet import DAD3DNet
from trans3dhead.models.decoder import TransformerDecoder, TransformerDecoderLayer, TransformerEncoder
from trans3dhead.models.flip import FlipAverage, FlipBackend, FlipMirror
from trans3dhead.models.marr import MARR_MODES, LandmarkHead, mean_face_from_landmarks
from trans3dhead.models.mobilenet import MobileNetV2, mobilenet_v2_imagenet_weights_path
from trans3dhead.models.normalize import ImageNormalizer
from trans3dhead.models.positional import SinePositionEncoding
from trans3dhead.models.qamem import QueryAwareMemory
from trans3dhead.models.resnet import ResNet
from trans3dhead.models.timm_backbone import TimmBackbone  # registers "timm:" (timm itself is lazy)
from trans3dhead.models.trans3dhead import (
    BRANCH_MODES,
    MemoryQueryInit,
    Trans3DHead,
    build_trans3dhead,
    initial_params,
)

__all__ = [
    "BACKBONE_NAMES",
    "BRANCH_MODES",
    "FlipAverage",
    "FlipBackend",
    "FlipMirror",
    "ImageNormalizer",
    "LandmarkHead",
    "MARR_MODES",
    "MemoryQueryInit",
    "QueryAwareMemory",
    "SinePositionEncoding",
    "Trans3DHead",
    "build_trans3dhead",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "initial_params",
    "mean_face_from_landmarks",
    "Backbone",
    "BiFPN",
    "DAD3DNet",
    "LoadReport",
    "MobileNetV2",
    "PretrainedWeightsError",
    "ResNet",
    "TimmBackbone",
    "build_backbone",
    "mobilenet_v2_imagenet_weights_path",
]

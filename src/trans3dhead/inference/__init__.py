"""Inference: head detection, the :class:`HeadAligner` predictor, results, ONNX export and runtime.

ONNX support (:mod:`~trans3dhead.inference.export`, :mod:`~trans3dhead.inference.onnx_runtime`) needs the
``onnx`` extra and is imported from its modules, not here.
"""

from trans3dhead.inference.alpha_beta import AlphaBetaParams
from trans3dhead.inference.assemble import LANDMARK_SOURCES, MeshInfo, assemble_predictions
from trans3dhead.inference.backend import InferenceBackend, TorchBackend
from trans3dhead.inference.boxes import Detection, load_boxes_file, nms
from trans3dhead.inference.detector import BoxesDetector, FullImageDetector, HaarDetector, HeadDetector
from trans3dhead.inference.one_euro import OneEuroParams
from trans3dhead.inference.prediction import EULER_ORDER, HeadPrediction
from trans3dhead.inference.predictor import HeadAligner
from trans3dhead.inference.smoothing import SmoothingOptions
from trans3dhead.inference.tracking import TrackerOptions
from trans3dhead.inference.video_tracker import TrackedHead, VideoTracker

__all__ = [
    "BoxesDetector",
    "Detection",
    "EULER_ORDER",
    "FullImageDetector",
    "HaarDetector",
    "HeadAligner",
    "HeadDetector",
    "HeadPrediction",
    "InferenceBackend",
    "LANDMARK_SOURCES",
    "MeshInfo",
    "OneEuroParams",
    "AlphaBetaParams",
    "SmoothingOptions",
    "TorchBackend",
    "TrackedHead",
    "TrackerOptions",
    "VideoTracker",
    "assemble_predictions",
    "load_boxes_file",
    "nms",
]

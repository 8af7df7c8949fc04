"""Inference: head detection, the :class:`HeadAligner` predictor, results, ONNX export and runtime.

ONNX support (:mod:`~trans3dhead.inference.export`, :mod:`~trans3dhead.inference.onnx_runtime`) needs the
``onnx`` extra and is imported from its modules, not here.
"""

from trans3dhead.inference.assemble import LANDMARK_SOURCES, MeshInfo, assemble_predictions
from trans3dhead.inference.backend import InferenceBackend, TorchBackend
from trans3dhead.inference.boxes import Detection, load_boxes_file, nms
from trans3dhead.inference.detector import BoxesDetector, FullImageDetector, HaarDetector, HeadDetector
from trans3dhead.inference.prediction import EULER_ORDER, HeadPrediction
from trans3dhead.inference.predictor import HeadAligner

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
    "TorchBackend",
    "assemble_predictions",
    "load_boxes_file",
    "nms",
]

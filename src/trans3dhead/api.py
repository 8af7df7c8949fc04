"""The user-facing API: load a checkpoint, align every head of a numpy image.

    from trans3dhead.api import HeadAligner

    aligner = HeadAligner.from_checkpoint("runs/demo/best.pt")
    for head in aligner.predict(image):        # (H, W, 3) uint8 RGB
        print(head.box, head.euler, head.landmarks.shape)

See ``docs/inference.md`` for the prediction's fields and frames.
"""

from trans3dhead.inference.boxes import Detection
from trans3dhead.inference.detector import BoxesDetector, FullImageDetector, HaarDetector, HeadDetector
from trans3dhead.inference.prediction import HeadPrediction
from trans3dhead.inference.predictor import HeadAligner

__all__ = [
    "BoxesDetector",
    "Detection",
    "FullImageDetector",
    "HaarDetector",
    "HeadAligner",
    "HeadDetector",
    "HeadPrediction",
]

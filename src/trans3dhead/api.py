"""The user-facing API: load a checkpoint, align every head of a numpy image.

    from trans3dhead.api import HeadAligner

    aligner = HeadAligner.from_checkpoint("runs/demo/best.pt")
    for head in aligner.predict(image):        # (H, W, 3) uint8 RGB
        print(head.box, head.euler, head.landmarks.shape)

    for tracked in aligner.track(frame):       # video: stable track ids, smoothed values
        print(tracked.track_id, tracked.head.euler)

See ``docs/inference.md`` for the prediction's fields and frames, ``docs/video.md`` for video.
"""

from trans3dhead.inference.alpha_beta import AlphaBetaParams
from trans3dhead.inference.boxes import Detection
from trans3dhead.inference.detector import BoxesDetector, FullImageDetector, HaarDetector, HeadDetector
from trans3dhead.inference.one_euro import OneEuroParams
from trans3dhead.inference.prediction import HeadPrediction
from trans3dhead.inference.predictor import HeadAligner
from trans3dhead.inference.smoothing import SmoothingOptions
from trans3dhead.inference.tracking import TrackerOptions
from trans3dhead.inference.video_tracker import TrackedHead, VideoTracker

__all__ = [
    "BoxesDetector",
    "Detection",
    "FullImageDetector",
    "HaarDetector",
    "HeadAligner",
    "HeadDetector",
    "HeadPrediction",
    "OneEuroParams",
    "AlphaBetaParams",
    "SmoothingOptions",
    "TrackedHead",
    "TrackerOptions",
    "VideoTracker",
]

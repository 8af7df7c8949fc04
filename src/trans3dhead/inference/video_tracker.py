"""Stateful video alignment: head tracks with stable ids and causally smoothed predictions.

    tracker = VideoTracker(aligner=aligner)      # or aligner.track(frame), aligner.reset_tracking()
    for frame in frames:                         # (H, W, 3) uint8 RGB, in time order
        for tracked in tracker.step(frame):
            print(tracked.track_id, tracked.head.euler, tracked.raw.euler)

Per frame: the detector runs every ``detect_every`` frames (and while no head is tracked); every live
track is aligned in its predicted head box; the aligned heads become observations for the
:class:`~trans3dhead.inference.tracking.HeadTracker`, which keeps the ids; each track's prediction goes
through its own :class:`~trans3dhead.inference.smoothing.HeadSmoother`.  A head's box for the next frame is
the box of its predicted head mesh (the DAD-3DHeads head box: the projected head vertex subset, clipped to
the image), the same kind of box the detector gives and the network was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trans3dhead.inference.boxes import Detection
from trans3dhead.inference.detector import HeadDetector, check_image
from trans3dhead.inference.prediction import EULER_ORDER, HeadPrediction
from trans3dhead.inference.smoothing import HeadSmoother, SmoothingOptions
from trans3dhead.inference.tracking import HeadTracker, Observation, TrackerOptions, visible_fraction

if TYPE_CHECKING:
    from trans3dhead.inference.predictor import HeadAligner

__all__ = ["TrackedHead", "VideoTracker", "head_box", "TRACK_SOURCE", "DEFAULT_FPS"]

#: ``HeadPrediction.detector`` of a head aligned in its track's predicted box.
TRACK_SOURCE = "track"
#: Frame rate assumed for frames given without timestamps (unless the tracker is told the video's).
DEFAULT_FPS = 30.0


@dataclass(frozen=True, eq=False)
class TrackedHead:
    """One head of one video frame.

    track_id: the head's id, stable across frames (ids start at 0 and are never reused).
    head: the prediction after smoothing (the same object as ``raw`` when smoothing is off).
    raw: the network's prediction for this frame.
    age: frames since the track started (0 on its first frame).
    confirmed: the detector saw this head in this frame (False on frames without detection).
    """

    track_id: int
    head: HeadPrediction
    raw: HeadPrediction
    age: int
    confirmed: bool

    @property
    def smoothed(self) -> bool:
        return self.head is not self.raw

    @property
    def confidence(self) -> float | None:
        """The head's confidence (None for a model without a landmark branch)."""
        return self.head.confidence

    def to_dict(self, *, mesh: bool = True) -> dict[str, Any]:
        """The head's JSON dict (``prediction_schema.json``) with ``track_id``, ``track_age``,
        ``confirmed`` and, when smoothed, the unsmoothed pose and landmarks under ``raw``."""
        out = self.head.to_dict(mesh=mesh)
        out.update(track_id=self.track_id, track_age=self.age, confirmed=self.confirmed)
        if self.smoothed:
            raw = self.raw
            out["raw"] = {
                "landmarks": raw.landmarks.tolist(),
                "rotation": raw.rotation.tolist(),
                "euler": dict(zip(EULER_ORDER, raw.euler.tolist(), strict=True)),
                "scale": raw.scale,
                "translation": raw.translation.tolist(),
            }
        return out


def head_box(head: HeadPrediction, indices: np.ndarray | None) -> np.ndarray | None:
    """[x, y, w, h] of the projected head vertices ``indices`` (None: all), clipped to the image; None
    when the prediction has no finite mesh or the box is empty (the head is outside the image)."""
    if head.vertices is None or not np.isfinite(head.vertices).all():
        return None
    xy = head.vertices[:, :2] if indices is None else head.vertices[indices, :2]
    height, width = head.image_size
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    if visible_fraction(np.array([x0, y0, x1 - x0, y1 - y0]), head.image_size) <= 0.0:
        return None
    x0, x1 = np.clip([x0, x1], 0.0, float(width))
    y0, y1 = np.clip([y0, y1], 0.0, float(height))
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        return None
    return np.array([x0, y0, x1 - x0, y1 - y0])


class VideoTracker:
    """Tracks and smooths the heads of a stream of frames with an aligner.

    Args:
        aligner: the :class:`~trans3dhead.inference.predictor.HeadAligner` (its detector finds new heads).
        tracking: detection interval, matching and track ending (:class:`TrackerOptions`).
        smoothing: the per-quantity filters (:class:`SmoothingOptions`).
        fps: frame rate used for frames given without a timestamp.
        detector: finds new heads instead of the aligner's detector (e.g. the ground-truth boxes of a
            synthetic video, through a :class:`~trans3dhead.inference.detector.BoxesDetector`).
    """

    def __init__(
        self,
        *,
        aligner: HeadAligner,
        tracking: TrackerOptions | None = None,
        smoothing: SmoothingOptions | None = None,
        fps: float = DEFAULT_FPS,
        detector: HeadDetector | None = None,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.aligner, self.fps = aligner, float(fps)
        self.detector = detector
        self.tracker = HeadTracker(options=tracking)
        self.smoothing = smoothing or SmoothingOptions()
        self.reset()

    @property
    def tracking(self) -> TrackerOptions:
        return self.tracker.options

    def reset(self) -> None:
        """Forget every track (the next frame starts new ids at 0) and every filter."""
        self.tracker.reset()
        self.smoothers: dict[int, HeadSmoother] = {}
        self.frames = 0
        self.last_detected = False

    def _observation(self, head: HeadPrediction, track: int | None) -> Observation | None:
        """The tracker's view of an aligned head; None for a head to drop (see :class:`TrackerOptions`)."""
        minimum = self.tracking.min_confidence
        if minimum is not None and head.confidence is not None and head.confidence < minimum:
            return None
        box = head_box(head, self.aligner.mesh.head)
        if box is None or not np.isfinite(head.landmarks).all():
            return None
        return Observation(box=box, landmarks=head.landmarks, track=track, payload=head)

    def _observe(self, image: np.ndarray, names: Sequence[str]) -> tuple[list[Observation], bool]:
        detect = self.tracker.needs_detection()
        search = self.tracker.search_boxes(image.shape[:2])
        boxes = [Detection(tuple(float(v) for v in box), None, TRACK_SOURCE) for box in search.values()]
        owners: list[int | None] = list(search)
        if detect:
            if self.detector is None:
                detections = self.aligner.detect(image, names=names)
            else:
                detections = list(self.detector.detect(image, names=names))
            boxes += detections
            owners += [None] * len(detections)
        heads = self.aligner.predict(image, boxes) if boxes else []
        observations = [self._observation(h, owner) for h, owner in zip(heads, owners, strict=True)]
        return [ob for ob in observations if ob is not None], detect

    def step(
        self, frame: np.ndarray, *, timestamp: float | None = None, names: Sequence[str] = ()
    ) -> list[TrackedHead]:
        """The tracked heads of the next frame, by track id.

        Args:
            frame: (H, W, 3) uint8 RGB.
            timestamp: seconds (increasing; e.g. ``time.monotonic()`` for a camera); None is the frame
                count divided by ``fps``.
            names: names of the frame for a :class:`~trans3dhead.inference.detector.BoxesDetector`.
        """
        image = check_image(frame, name="frame")
        time = self.frames / self.fps if timestamp is None else float(timestamp)
        observations, self.last_detected = self._observe(image, names)
        updates = self.tracker.update(observations, detected=self.last_detected)
        self.frames += 1
        live = {t.track_id for t in self.tracker.tracks}
        self.smoothers = {k: v for k, v in self.smoothers.items() if k in live}
        out = []
        for update in updates:
            raw: HeadPrediction = update.observation.payload
            smoother = self.smoothers.get(update.track_id)
            if smoother is None:
                smoother = HeadSmoother(options=self.smoothing, dense=self.aligner.mesh.dense)
                self.smoothers[update.track_id] = smoother
            head = smoother(raw, time)
            out.append(TrackedHead(update.track_id, head, raw, update.age, update.confirmed))
        return out

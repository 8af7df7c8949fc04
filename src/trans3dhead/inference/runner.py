"""The work behind ``trans3dhead predict``: read inputs, detect, batch heads, write every result.

Per image ``OUT/<key>.json`` (the result document, ``prediction_schema.json``), ``OUT/<key>.png``
(annotated) and with meshes ``OUT/<key>.head<i>.obj`` / ``.ply``; per video frame the same names under
``OUT/<key>/frame_<index>``, plus the annotated video ``OUT/<key>.annotated.mp4``.  A video's frames go
through a :class:`~trans3dhead.inference.video_tracker.VideoTracker` in order: every head has a
``track_id``, its values are smoothed (the network's own under ``raw``), and the detector runs every
``tracking.detect_every`` frames.  A file that cannot be
read, or an image/frame whose prediction fails, is recorded as an error and the rest goes on; the caller
writes ``errors.json`` and ``summary.json`` from the returned :class:`RunSummary`.  Progress is reported
through the ``on_item`` callback (progress bars belong to the CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from trans3dhead import jsonio
from trans3dhead.data.video_io import VideoSink, iter_frames
from trans3dhead.inference.boxes import Detection
from trans3dhead.inference.inputs import InputFile, read_image
from trans3dhead.inference.prediction import HeadPrediction
from trans3dhead.inference.predictor import HeadAligner
from trans3dhead.inference.smoothing import SmoothingOptions
from trans3dhead.inference.tracking import TrackerOptions
from trans3dhead.inference.video_tracker import TrackedHead, VideoTracker

__all__ = ["MESH_FORMATS", "RunOptions", "RunSummary", "PredictRunner"]

logger = logging.getLogger(__name__)

MESH_FORMATS = ("obj", "ply", "both")


def _suffixed(stem: Path, suffix: str) -> Path:
    """``stem`` + ``suffix`` (``Path.with_suffix`` would eat a dot inside the stem)."""
    return stem.with_name(stem.name + suffix)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """out_dir: output folder.  meshes: None or one of :data:`MESH_FORMATS`.  frame_images: annotated PNG per
    video frame.  frame_step: process every n-th video frame.  backend / checkpoint: recorded in results.
    tracking / smoothing: the video tracker's options (None: the defaults)."""

    out_dir: Path
    meshes: str | None = None
    frame_images: bool = True
    frame_step: int = 1
    backend: str = "torch"
    checkpoint: str | None = None
    tracking: TrackerOptions | None = None
    smoothing: SmoothingOptions | None = None

    def __post_init__(self) -> None:
        if self.meshes is not None and self.meshes not in MESH_FORMATS:
            raise ValueError(f"meshes must be None or one of {MESH_FORMATS}, got {self.meshes!r}")
        if self.frame_step < 1:
            raise ValueError(f"frame_step must be a positive integer, got {self.frame_step!r}")


@dataclass
class RunSummary:
    """Counts and failures of a run (``errors``: dicts with input, frame and error)."""

    images: int = 0
    videos: int = 0
    frames: int = 0
    heads: int = 0
    failed_inputs: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def processed(self) -> int:
        """Inputs (images and videos) with at least one processed image or frame."""
        return self.images + self.videos

    def to_dict(self) -> dict[str, Any]:
        return {
            "processed_images": self.images,
            "processed_videos": self.videos,
            "processed_frames": self.frames,
            "heads": self.heads,
            "failed_inputs": self.failed_inputs,
            "errors": len(self.errors),
        }


@dataclass
class _Work:
    """One image or video frame on its way through the batch."""

    source: InputFile
    frame: int | None
    image: np.ndarray
    detections: list[Detection]
    stem: Path  # output path without suffix
    sink: VideoSink | None = None


class PredictRunner:
    """Runs an aligner over :class:`InputFile` s, batching heads across images (and frames).

    Args:
        aligner: the predictor (its ``batch_size`` sets how many heads go through the network at once).
        options: where and what to write.
        on_item: called once per image or video frame handled (for progress bars).
    """

    def __init__(
        self, *, aligner: HeadAligner, options: RunOptions, on_item: Callable[[], None] | None = None
    ) -> None:
        self.aligner, self.options = aligner, options
        self.on_item = on_item or (lambda: None)
        self.summary = RunSummary()
        self._pending: list[_Work] = []

    # --- errors and bookkeeping
    def _error(self, source: InputFile, frame: int | None, exc: BaseException) -> None:
        message = str(exc) if str(source.path) in str(exc) else f"{source.path}: {exc}"
        logger.error("%s%s", message, f" (frame {frame})" if frame is not None else "")
        self.summary.errors.append({"input": str(source.path), "frame": frame, "error": message})

    # --- batching
    def _add(self, work: _Work) -> None:
        try:
            work.detections = self.aligner.detect(work.image, names=self._names(work))
        except ValueError as exc:  # e.g. no boxes for this image in the --boxes table
            self._done(work, None, exc)
            return
        self._pending.append(work)
        heads = sum(len(w.detections) for w in self._pending)
        if heads >= self.aligner.batch_size or len(self._pending) >= self.aligner.batch_size:
            self._flush()

    @staticmethod
    def _names(work: _Work) -> tuple[str, ...]:
        if work.frame is None:
            return work.source.names
        return tuple(f"{n}#{work.frame}" for n in work.source.names) + work.source.names

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            results = self.aligner.predict_many([w.image for w in pending], [w.detections for w in pending])
        except ValueError:  # one bad box spoils the batch: redo image by image to isolate it
            results = [self._predict_alone(w) for w in pending]
        for work, predictions in zip(pending, results, strict=True):
            if isinstance(predictions, BaseException):
                self._done(work, None, predictions)
            else:
                self._done(work, predictions, None)

    def _predict_alone(self, work: _Work) -> list[HeadPrediction] | BaseException:
        try:
            return self.aligner.predict(work.image, work.detections)
        except ValueError as exc:
            return exc

    def _done(
        self, work: _Work, predictions: list[HeadPrediction] | None, error: BaseException | None
    ) -> None:
        if error is not None:
            self._error(work.source, work.frame, error)
            if work.frame is None:
                self.summary.failed_inputs += 1
            if work.sink is not None:
                work.sink.write(work.image)  # keep the video's timing: the frame stays, unannotated
        else:
            try:
                self._write(work, predictions)
            except ValueError as exc:  # e.g. a non-finite prediction: no JSON, no picture for this one
                self._done(work, None, exc)
                return
        self.on_item()

    # --- outputs
    def _document(
        self, work: _Work, predictions: list[HeadPrediction], tracked: list[TrackedHead] | None = None
    ) -> str:
        """The result file's text; a ValueError (before anything is written) for non-finite outputs."""
        for i, p in enumerate(predictions):
            if p.vertices is not None and not np.isfinite(p.vertices).all():
                raise ValueError(f"head {i}: the predicted mesh is not finite")
        o = self.options
        document = {
            "input": str(work.source.path),
            "frame": work.frame,
            "image_size": list(work.image.shape[:2]),
            "backend": o.backend,
            "landmark_source": self.aligner.landmark_source,
            **({"checkpoint": o.checkpoint} if o.checkpoint else {}),
            "heads": [p.to_dict(mesh=False) for p in predictions]
            if tracked is None
            else [t.to_dict(mesh=False) for t in tracked],
        }
        return jsonio.dumps(document)

    def _write(
        self, work: _Work, predictions: list[HeadPrediction], tracked: list[TrackedHead] | None = None
    ) -> None:
        from trans3dhead.viz.draw import annotate, annotate_tracks

        text = self._document(work, predictions, tracked)
        picture = (
            annotate(work.image, predictions) if tracked is None else annotate_tracks(work.image, tracked)
        )
        work.stem.parent.mkdir(parents=True, exist_ok=True)
        _suffixed(work.stem, ".json").write_text(text, encoding="utf-8")
        if work.frame is None or self.options.frame_images:
            Image.fromarray(picture).save(_suffixed(work.stem, ".png"))
        if work.sink is not None:
            work.sink.write(picture)
        meshes = self.options.meshes
        for i, p in enumerate(predictions if meshes is not None else []):
            if meshes in ("obj", "both"):
                p.save_obj(_suffixed(work.stem, f".head{i}.obj"))
            if meshes in ("ply", "both"):
                p.save_ply(_suffixed(work.stem, f".head{i}.ply"))
        self.summary.heads += len(predictions)
        if work.frame is None:
            self.summary.images += 1
        else:
            self.summary.frames += 1

    # --- inputs
    def _image(self, source: InputFile) -> None:
        try:
            image = read_image(source.path)
        except ValueError as exc:
            self.summary.failed_inputs += 1
            self._error(source, None, exc)
            self.on_item()
            return
        self._add(_Work(source, None, image, [], self.options.out_dir / source.key))

    def _track(self, work: _Work, tracker: VideoTracker, timestamp: float) -> None:
        """One video frame through the tracker, then its outputs (errors are recorded, the video goes on)."""
        try:
            tracked = tracker.step(work.image, timestamp=timestamp, names=self._names(work))
            self._write(work, [t.head for t in tracked], tracked)
        except ValueError as exc:  # a bad box, a non-finite prediction: no JSON, no picture for this one
            self._done(work, None, exc)
            return
        self.on_item()

    def _video(self, source: InputFile) -> None:
        self._flush()  # keep the order of writes simple: the images before come first
        target = self.options.out_dir / f"{source.key}.annotated.mp4"
        frames_before = self.summary.frames
        fps = self._fps(source)
        o = self.options
        tracker = VideoTracker(aligner=self.aligner, tracking=o.tracking, smoothing=o.smoothing, fps=fps)
        with VideoSink(path=target, fps=fps / o.frame_step) as sink:
            try:
                for index, frame in iter_frames(source.path, step=o.frame_step):
                    stem = o.out_dir / source.key / f"frame_{index:06d}"
                    self._track(_Work(source, index, frame, [], stem, sink), tracker, index / fps)
            except ValueError as exc:  # unreadable video
                self._error(source, None, exc)
        if self.summary.frames > frames_before:
            self.summary.videos += 1
            logger.info("%s: annotated video %s", source.path, sink.path)
        else:
            self.summary.failed_inputs += 1

    @staticmethod
    def _fps(source: InputFile) -> float:
        """The video's frame rate (the frame loop reports a video that cannot be opened)."""
        from trans3dhead.data.video_io import VideoReadError, open_video

        try:
            capture, info = open_video(source.path)
        except VideoReadError:
            return 25.0
        capture.release()
        return info.fps

    def run(self, inputs: list[InputFile]) -> RunSummary:
        """Process every input in order; returns the summary (also kept as :attr:`summary`)."""
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        for source in inputs:
            if source.is_video:
                self._video(source)
            else:
                self._image(source)
        self._flush()
        return self.summary

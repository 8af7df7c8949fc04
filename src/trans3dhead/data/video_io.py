"""Video input and output with OpenCV: RGB frames in, an annotated video out (in `data`: the synthetic
videos write with it, and `inference` reads and writes with it).

Frames are (H, W, 3) uint8 RGB (OpenCV's BGR is converted at the boundary).  The annotated video is
written as MPEG-4 Part 2 (``mp4v``) in ``.mp4``; when the OpenCV build cannot write that, Motion JPEG in
``.avi`` is used instead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from trans3dhead.errors import InputError

__all__ = ["VideoInfo", "VideoReadError", "open_video", "iter_frames", "VideoSink"]

logger = logging.getLogger(__name__)

_DEFAULT_FPS = 25.0


class VideoReadError(InputError):
    """A video could not be opened or decoded (the message names the file)."""


@dataclass(frozen=True)
class VideoInfo:
    """Frame count (OpenCV's estimate, 0 when unknown), frames per second and frame size of a video."""

    frames: int
    fps: float
    height: int
    width: int


def open_video(path: str | Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open a video for reading; VideoReadError when OpenCV cannot."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: video not found")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(f"{path}: cannot open video (no OpenCV decoder for it, or a broken file)")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    info = VideoInfo(
        frames=max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
        fps=fps if math.isfinite(fps) and fps > 0 else _DEFAULT_FPS,
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
    )
    return capture, info


def iter_frames(path: str | Path, *, step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB frame) for every ``step``-th frame; VideoReadError when no frame decodes."""
    if step < 1:
        raise ValueError(f"step must be a positive integer, got {step!r}")
    capture, _ = open_video(path)
    index, decoded = 0, 0
    try:
        while True:
            ok = capture.grab()
            if not ok:
                break
            if index % step == 0:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break
                decoded += 1
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if decoded == 0:
        raise VideoReadError(f"{path}: no frame could be decoded")


class VideoSink:
    """Writes RGB frames to a video file, opened on the first frame (whose size all frames must have).

    Args:
        path: the output file; its suffix may change to ``.avi`` when ``mp4v`` is unavailable
            (:attr:`path` tells where the frames went).
        fps: frames per second.
    """

    def __init__(self, *, path: str | Path, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.path, self.fps = Path(path), float(fps)
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.frames = 0

    def _open(self, width: int, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for suffix, codec in ((self.path.suffix or ".mp4", "mp4v"), (".avi", "MJPG")):
            target = self.path.with_suffix(suffix)
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), self.fps, (width, height))
            if writer.isOpened():
                self.writer, self.path = writer, target
                return
            writer.release()
            logger.info("OpenCV cannot write %s with %s; trying the next codec", target, codec)
        raise OSError(f"{self.path}: OpenCV cannot write a video here (neither mp4v nor MJPG)")

    def write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if self.writer is None:
            self._open(width, height)
            self.size = (height, width)
        elif (height, width) != self.size:
            raise ValueError(f"{self.path}: frame size {(height, width)} differs from the first {self.size}")
        self.writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Pluggable head detection: OpenCV Haar cascades, user boxes, or the whole image.

A detector is any object with ``detect(image, *, names=()) -> list[Detection]`` (:class:`HeadDetector`),
where ``image`` is an (H, W, 3) uint8 RGB array and ``names`` are the names the image may be known by
(used by :class:`BoxesDetector` only).  The boxes it returns are *head* boxes ``[x, y, w, h]`` like the
DAD-3DHeads ``bbox`` (the box of the projected FLAME head, ears included, neck excluded); the aligner
extends them by :data:`~trans3dhead.geometry.FIXED_EVAL_EXTENSION` before cropping, as in evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from trans3dhead.errors import InputError
from trans3dhead.image_check import check_image  # re-exported: its home is below viz
from trans3dhead.inference.boxes import Detection, check_box, face_to_head_box, nms

__all__ = [
    "HeadDetector",
    "HaarDetector",
    "BoxesDetector",
    "FullImageDetector",
    "HEAD_BOX_SCALE",
    "HEAD_BOX_SHIFT",
    "MIN_FULL_IMAGE_SIDE",
    "check_image",
]

logger = logging.getLogger(__name__)

#: Haar face box -> head box: (width, height) factors and centre shift in face-box units (y < 0 is up).
#: The frontal cascade's square box runs from the forehead to the chin and about from ear to ear; the
#: FLAME head box reaches the top of the skull.  Measured on ``grace_hopper.jpg`` (box 231 px; head,
#: ears and skull under the cap, about 225 x 280 px, centre 25 px higher) and on 150 synthetic renders
#: of the embedded head (median head/face ratios 0.97 wide, 1.32 high), rounded up a little: a box too
#: large costs less than one that cuts the head.
HEAD_BOX_SCALE: tuple[float, float] = (1.05, 1.3)
HEAD_BOX_SHIFT: tuple[float, float] = (0.0, -0.1)
#: Shortest image side :class:`FullImageDetector` accepts: the Haar detector's smallest face (20 px) less a
#: margin; below it an image is an icon or a mistake, not a head photo.
MIN_FULL_IMAGE_SIDE = 16

_FRONTAL, _PROFILE = "haarcascade_frontalface_default.xml", "haarcascade_profileface.xml"


@runtime_checkable
class HeadDetector(Protocol):
    """Anything that finds head boxes in an RGB image."""

    def detect(self, image: np.ndarray, *, names: Sequence[str] = ()) -> list[Detection]: ...


class HaarDetector:
    """OpenCV's bundled frontal and profile Haar cascades (offline, CPU), merged with NMS.

    The profile cascade finds faces turned one way only, so it also runs on the mirrored image.  Every
    face box becomes a head box with :data:`HEAD_BOX_SCALE` / :data:`HEAD_BOX_SHIFT`.  Scores are the
    cascade's neighbour counts (how many overlapping windows agreed); frontal detections win ties.

    Args:
        scale_factor: image pyramid step of ``detectMultiScale``.
        min_neighbors: windows that must agree for a face.
        min_size: smallest face side in pixels; None is 4% of the image's shorter side (at least 20).
        profile: also run the profile cascade (both directions).
        iou_threshold: NMS overlap above which the weaker box is dropped.
        max_heads: keep at most this many heads (best first); None keeps all.
    """

    def __init__(
        self,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int | None = None,
        profile: bool = True,
        iou_threshold: float = 0.3,
        max_heads: int | None = None,
    ) -> None:
        if not scale_factor > 1.0:
            raise InputError(f"scale_factor must be > 1, got {scale_factor!r}")
        if min_neighbors < 0:
            raise InputError(f"min_neighbors must be >= 0, got {min_neighbors!r}")
        if min_size is not None and min_size < 1:
            raise InputError(f"min_size must be a positive number of pixels, got {min_size!r}")
        if max_heads is not None and max_heads < 1:
            raise InputError(f"max_heads must be positive or None, got {max_heads!r}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.iou_threshold, self.max_heads = iou_threshold, max_heads
        self.frontal = _cascade(_FRONTAL)
        self.profile = _cascade(_PROFILE) if profile else None

    def _run(self, cascade: cv2.CascadeClassifier, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        side = self.min_size or max(20, int(0.04 * min(gray.shape)))
        boxes, counts = cascade.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(counts, np.float64).reshape(-1)

    def face_boxes(self, image: np.ndarray) -> list[Detection]:
        """Face boxes (before enlarging to heads), after NMS; ``source`` is "frontal" or "profile"."""
        gray = cv2.equalizeHist(cv2.cvtColor(check_image(image), cv2.COLOR_RGB2GRAY))
        boxes, scores = self._run(self.frontal, gray)
        sources = ["frontal"] * len(boxes)
        if self.profile is not None:
            width = gray.shape[1]
            for mirrored in (False, True):
                found, counts = self._run(
                    self.profile, np.ascontiguousarray(gray[:, ::-1]) if mirrored else gray
                )
                if mirrored:
                    found[:, 0] = width - found[:, 0] - found[:, 2]  # mirror the boxes back
                boxes, scores = np.concatenate([boxes, found]), np.concatenate([scores, counts - 0.5])
                sources += ["profile"] * len(found)
        keep = nms(boxes, scores, iou_threshold=self.iou_threshold)
        return [Detection(tuple(boxes[i].tolist()), float(scores[i]), sources[i]) for i in keep]

    def detect(self, image: np.ndarray, *, names: Sequence[str] = ()) -> list[Detection]:
        heads = [
            Detection(face_to_head_box(d.box, scale=HEAD_BOX_SCALE, shift=HEAD_BOX_SHIFT), d.score, d.source)
            for d in self.face_boxes(image)
        ]
        return heads[: self.max_heads] if self.max_heads is not None else heads


def _cascade(file_name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + file_name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise FileNotFoundError(f"{path}: OpenCV Haar cascade missing (needs opencv-python-headless<5)")
    return cascade


class FullImageDetector:
    """One head per image whose box is the whole image (as DAD-3DNet's own predictor crops).

    An image with a side shorter than ``min_side`` pixels cannot show a head worth aligning (a 1 x 1
    picture would be stretched to the network's input and "aligned"): ``detect`` raises a ValueError that
    says so, which ``trans3dhead predict`` records in ``errors.json`` for that image.
    """

    def __init__(self, *, min_side: int = MIN_FULL_IMAGE_SIDE) -> None:
        if min_side < 1:
            raise InputError(f"min_side must be a positive number of pixels, got {min_side!r}")
        self.min_side = min_side

    def detect(self, image: np.ndarray, *, names: Sequence[str] = ()) -> list[Detection]:
        height, width = check_image(image).shape[:2]
        if min(height, width) < self.min_side:
            raise InputError(
                f"image of {width}x{height} px is too small to hold a head: the whole-image box needs at "
                f"least {self.min_side} px per side"
            )
        return [Detection((0.0, 0.0, float(width), float(height)), None, "full_image")]


class BoxesDetector:
    """Boxes given per image name (the ``--boxes FILE.json`` table, see :func:`load_boxes_file`).

    ``detect`` uses the first of ``names`` found in the table; an image none of whose names is in the
    table raises a ValueError that names them (an empty list in the table means "no heads").
    """

    def __init__(self, *, table: Mapping[str, Sequence[Sequence[float]]]) -> None:
        self.table = {
            str(key): [check_box(b, name=f"boxes[{key!r}][{i}]") for i, b in enumerate(boxes)]
            for key, boxes in table.items()
        }

    def detect(self, image: np.ndarray, *, names: Sequence[str] = ()) -> list[Detection]:
        check_image(image)
        for name in names:
            if name in self.table:
                return [Detection(box, None, "boxes") for box in self.table[name]]
        shown = ", ".join(repr(n) for n in names) or "(no name given)"
        raise InputError(f"no boxes for image {shown} in the boxes table ({len(self.table)} entries)")

"""Head boxes: validation, non-maximum suppression, face box -> head box, and the ``--boxes`` JSON file.

Boxes are ``[x, y, w, h]`` in original-image pixels (the DAD-3DHeads ``bbox`` convention: ``(x, y)`` is
the top-left corner).  Letters: K boxes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trans3dhead import jsonio
from trans3dhead.errors import InputError, shown
from trans3dhead.jsonio import number_array

__all__ = ["Detection", "check_box", "iou_matrix", "nms", "face_to_head_box", "load_boxes_file"]


@dataclass(frozen=True)
class Detection:
    """One head to align.

    box: (x, y, w, h) head box in original-image pixels.
    score: detector confidence (larger is surer; its scale depends on the detector), None for boxes that
        were given rather than detected.
    source: what produced the box ("frontal", "profile", "boxes", "full_image", "user"; "track" for a
        video head aligned in the box its track predicted).
    """

    box: tuple[float, float, float, float]
    score: float | None = None
    source: str = "user"


def check_box(box: object, *, name: str = "box") -> tuple[float, float, float, float]:
    """A box as 4 finite floats (x, y, w, h) with w, h > 0; a clear ValueError naming ``name`` otherwise."""
    values = number_array(box)
    if values is None or values.shape != (4,) or not np.isfinite(values).all():
        raise InputError(f"{name} must be 4 finite numbers [x, y, w, h], got {shown(box)}")
    if values[2] <= 0 or values[3] <= 0:
        raise InputError(f"{name} must have a positive width and height, got {shown(box)}")
    x, y, w, h = values.tolist()
    return x, y, w, h


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of (Ka, 4) and (Kb, 4) xywh boxes -> (Ka, Kb)."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of (Ka, 4) and (Kb, 4) xywh boxes -> (Ka, Kb)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    inter = _intersections(a, b)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, *, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, best score first (ties: lower index).

    Also drops a box whose intersection covers more than ``1 - iou_threshold`` of the smaller box (a face
    found twice at two scales, one inside the other, has a small IoU but is one face).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not 0.0 <= iou_threshold <= 1.0:
        raise InputError(f"iou_threshold must be in [0, 1], got {iou_threshold!r}")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    inter = _intersections(boxes, boxes)
    areas = boxes[:, 2] * boxes[:, 3]
    iou = inter / np.maximum(areas[:, None] + areas[None, :] - inter, 1e-12)
    contained = inter / np.maximum(np.minimum(areas[:, None], areas[None, :]), 1e-12)
    keep: list[int] = []
    for i in order.tolist():
        if all(iou[i, j] <= iou_threshold and contained[i, j] <= 1.0 - iou_threshold for j in keep):
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def face_to_head_box(
    face: Sequence[float], *, scale: tuple[float, float], shift: tuple[float, float]
) -> tuple[float, float, float, float]:
    """Enlarge a face box (x, y, w, h) into a head box.

    The head box has size ``(scale[0] * w, scale[1] * h)`` and its centre is the face box centre moved by
    ``(shift[0] * w, shift[1] * h)`` (negative y = upwards).
    """
    x, y, w, h = check_box(face, name="face box")
    cx, cy = x + 0.5 * w + shift[0] * w, y + 0.5 * h + shift[1] * h
    hw, hh = scale[0] * w, scale[1] * h
    return cx - 0.5 * hw, cy - 0.5 * hh, hw, hh


def _parse_boxes_table(data: object, source: str) -> dict[str, list[tuple[float, float, float, float]]]:
    if not isinstance(data, Mapping):
        raise InputError(
            f"{source}: expected a JSON object {{image name: [[x, y, w, h], ...]}}, got {type(data).__name__}"
        )
    table = {}
    for key, boxes in data.items():
        if not isinstance(boxes, list):
            raise InputError(
                f"{source}: entry {key!r} must be a list of [x, y, w, h] boxes, got {shown(boxes)}"
            )
        table[str(key)] = [check_box(b, name=f"{source}: {key!r} box {i}") for i, b in enumerate(boxes)]
    return table


def load_boxes_file(path: str | Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """Read a ``--boxes`` file: a JSON object mapping image names to lists of ``[x, y, w, h]`` head boxes.

    Names are matched as described in ``docs/inference.md`` (path relative to the input folder, then the
    file name; ``name#frame`` for one video frame).  Every error names the file and the offending entry.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: boxes file not found")
    data = jsonio.read_file(path, error=InputError, invalid="not a valid JSON boxes file")
    return _parse_boxes_table(data, str(path))

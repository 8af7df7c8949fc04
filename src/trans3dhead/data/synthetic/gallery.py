"""A contact sheet of dataset items with their GT 68 landmarks, head box and attributes drawn on.

Everything is read back from the files (metadata, image, annotation) and the landmarks go through the
GT projection (``docs/conventions.md`` section 5), so the sheet shows what a reader of the dataset
gets -- for a synthetic dataset as for the real one.  Letters: N landmarks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from trans3dhead.data.dad3dheads import resolve_path
from trans3dhead.data.io import read_annotation, read_image, read_metadata
from trans3dhead.errors import InputError
from trans3dhead.flame import FlameAssets

__all__ = ["gt_landmarks", "annotate_tile", "make_gallery"]

_SHORT = {
    "quality": "",
    "pose": "",
    "gender": "",
    "age": "",
    "expression": "expr",
    "occlusions": "occl",
    "standard light": "std light",
}
_TEXT_HEIGHT = 34


def gt_landmarks(
    assets: FlameAssets, vertices: np.ndarray, model_view: np.ndarray, projection: np.ndarray, height: int
):
    """(N, 2) GT landmark pixels: the 68-point embedding of ``vertices`` through ``MV``, ``P``, y flip."""
    points = assets.landmarks(vertices)
    homo = np.concatenate([points, np.ones_like(points[:, :1])], axis=1)
    clip = homo @ (projection @ model_view).T
    xy = clip[:, :2] / clip[:, 3:4]
    return np.stack([xy[:, 0], height - xy[:, 1]], axis=1)


def _caption(attributes: dict[str, str]) -> list[str]:
    words = []
    for key, short in _SHORT.items():
        value = str(attributes.get(key, "-"))
        if short:
            words.append(short if value == "true" else "" if value == "false" else f"{short}={value}")
        else:
            words.append(value)
    words = [w for w in words if w]
    return [" ".join(words[:4]), " ".join(words[4:])]


def annotate_tile(
    image: np.ndarray, landmarks: np.ndarray, bbox: list[float], attributes: dict
) -> np.ndarray:
    """(H, W, 3) uint8 image -> (H + text, W, 3) with landmarks (green), box (yellow) and a caption."""
    tile = np.ascontiguousarray(image.copy())
    x, y, w, h = bbox
    cv2.rectangle(tile, (int(x), int(y)), (int(x + w), int(y + h)), (255, 220, 0), 1, cv2.LINE_AA)
    radius = max(1, image.shape[0] // 150)
    for px, py in landmarks:
        if np.isfinite(px) and np.isfinite(py):
            cv2.circle(tile, (int(round(px)), int(round(py))), radius, (0, 255, 0), -1, cv2.LINE_AA)
    strip = np.full((_TEXT_HEIGHT, tile.shape[1], 3), 255, np.uint8)
    for row, text in enumerate(_caption(attributes)):
        cv2.putText(
            strip, text, (4, 14 + 15 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA
        )
    return np.concatenate([tile, strip], axis=0)


def make_gallery(
    root: str | Path,
    out: str | Path,
    *,
    assets: FlameAssets,
    split: str = "train",
    count: int = 16,
    columns: int = 4,
    palette: bool = False,
) -> Path:
    """Write a ``columns``-wide grid of the first ``count`` items of a split to the PNG ``out``.

    ``palette`` stores it as a dithered 256-colour PNG (a third of the size; for committed figures).
    """
    root = Path(root)
    entries = read_metadata(root, split)[:count]
    if not entries:
        raise InputError(f"{root}/{split}: no items to draw")
    tiles = []
    source = root / split / f"{split}.json"
    for entry in entries:
        image = read_image(resolve_path(root, split, entry["img_path"], field="img_path", source=source))
        ann = read_annotation(
            resolve_path(root, split, entry["annotation_path"], field="annotation_path", source=source)
        )
        points = gt_landmarks(assets, ann.vertices, ann.model_view, ann.projection, image.shape[0])
        tiles.append(annotate_tile(image, points, entry["bbox"], entry["attributes"]))
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    sheet = np.concatenate(rows, axis=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(sheet)
    if palette:
        colours = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        image = image.quantize(palette=colours, dither=Image.Dither.FLOYDSTEINBERG)
    image.save(out, format="PNG", optimize=True)
    return out

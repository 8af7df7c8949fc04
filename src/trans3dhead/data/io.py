"""Reading DAD-3DHeads files with errors that name the file and the field.

Every reader raises :class:`DataError` (a ``ValueError``) for a bad file: missing, undecodable, truncated
JSON, missing field, wrong shape or non-finite values.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead import jsonio
from trans3dhead.errors import InputError, one_line, shown
from trans3dhead.geometry.camera import gt_depth_problem
from trans3dhead.jsonio import number_array

__all__ = [
    "DataError",
    "Annotation",
    "ATTRIBUTE_VALUES",
    "read_json",
    "read_image",
    "ImageReadError",
    "image_size",
    "read_annotation",
    "read_metadata",
    "read_split_index",
    "SplitIndex",
    "validate_entry",
]

#: Attribute values of the DAD-3DHeads metadata (the val split has no attributes at all).
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "quality": ("hq", "lq"),
    "gender": ("female", "male", "undefined"),
    "expression": ("true", "false"),
    "age": ("child", "young", "middle_aged", "senior", "undefined"),
    "occlusions": ("true", "false"),
    "pose": ("front", "sided", "atypical"),
    "standard light": ("true", "false"),
}


logger = logging.getLogger(__name__)

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class DataError(InputError):
    """A dataset file is missing or malformed; the message names the file and the field."""


def read_json(path: str | Path) -> Any:
    """A dataset JSON file (:func:`trans3dhead.jsonio.read_file`); every failure is a :class:`DataError`."""
    try:
        return jsonio.read_file(path, error=DataError, invalid="invalid JSON")
    except FileNotFoundError as exc:
        raise DataError(str(exc)) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({one_line(exc)})") from exc


class ImageReadError(DataError):
    """An image file could not be read or decoded (the message names the file)."""


def read_image(path: str | Path) -> np.ndarray:
    """The project's one image reader (datasets, ``predict``, the demo, videos' frame files): an image
    file as (H, W, 3) uint8 RGB, EXIF orientation applied, decoded with Pillow.

    Raises :class:`ImageReadError` (a :class:`DataError`) for a missing file, an undecodable one, or one
    larger than Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS`` x 2: a few KB that would
    decode to gigabytes).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as handle:
            image = ImageOps.exif_transpose(handle)
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: image file not found") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: cannot read image, too many pixels ({one_line(exc)})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: not a decodable image, cannot read image ({one_line(exc)})") from exc


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image from its header: PNG directly, other formats through Pillow's lazy
    open (no full decode)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(24)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    if len(head) == 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(height), int(width)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise DataError(f"{path}: not a readable image file") from None
    return int(height), int(width)


def _matrix(data: dict, key: str, shape: tuple[int, ...], source: Path) -> np.ndarray:
    if key not in data:
        raise DataError(f"{source}: missing field '{key}'")
    value = number_array(data[key])
    if value is None:
        raise DataError(f"{source}: field '{key}' is not a rectangular array of JSON numbers")
    if value.shape != shape:
        want = "x".join("V" if s == -1 else str(s) for s in shape)
        raise DataError(f"{source}: field '{key}' has shape {value.shape}, expected {want}")
    if not np.isfinite(value).all():
        raise DataError(f"{source}: field '{key}' contains non-finite values")
    if value.size and np.abs(value).max() > _FLOAT32_MAX:  # the model and the benchmark work in float32
        raise DataError(f"{source}: field '{key}' has values beyond the float32 range")
    return value


@dataclass(frozen=True)
class Annotation:
    """One annotation file: GT vertices (V, 3) in FLAME model space, model-view and projection (4, 4)."""

    vertices: np.ndarray
    model_view: np.ndarray
    projection: np.ndarray


def read_annotation(path: str | Path, *, num_vertices: int | None = None) -> Annotation:
    """Read and validate an annotation JSON (``vertices``, ``model_view_matrix``, ``projection_matrix``)."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "vertices" not in data:
        raise DataError(f"{path}: missing field 'vertices'")
    vertices = data["vertices"]
    count = num_vertices if num_vertices is not None else len(vertices) if isinstance(vertices, list) else -1
    annotation = Annotation(
        vertices=_matrix(data, "vertices", (count, 3), path),
        model_view=_matrix(data, "model_view_matrix", (4, 4), path),
        projection=_matrix(data, "projection_matrix", (4, 4), path),
    )
    homogeneous = np.concatenate([annotation.vertices, np.ones_like(annotation.vertices[:, :1])], axis=1)
    with np.errstate(all="ignore"):  # overflow: reported as non-finite depths
        depth = homogeneous @ annotation.model_view.T @ annotation.projection[3]  # (V,) w of P @ MV @ [v, 1]
    problem = gt_depth_problem(depth)
    if problem is not None:
        raise DataError(f"{path}: {problem}")
    return annotation


def validate_entry(entry: Any, index: int, source: Path, *, need_annotation: bool) -> dict[str, Any]:
    """Check one metadata entry's fields and types; return it with a float bbox."""
    where = f"{source}: entry {index}"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object, got {type(entry).__name__}")
    required = ("item_id", "img_path", "bbox") + (("annotation_path",) if need_annotation else ())
    for key in required:
        if key not in entry:
            raise DataError(f"{where}: missing field '{key}'")
    item_id = entry["item_id"]
    if isinstance(item_id, bool) or not isinstance(item_id, str | int) or item_id == "":
        raise DataError(f"{where}: field 'item_id' must be a non-empty string, got {shown(item_id)}")
    for key in ("img_path", "annotation_path"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key]):
            raise DataError(
                f"{where} ({item_id}): field '{key}' must be a relative file path, got {shown(entry[key])}"
            )
    bbox = number_array(entry["bbox"])
    if bbox is None or bbox.shape != (4,) or not np.isfinite(bbox).all() or bbox[2] <= 0 or bbox[3] <= 0:
        raise DataError(
            f"{where} ({entry['item_id']}): field 'bbox' must be [x, y, w, h] with w, h > 0, "
            f"got {shown(entry['bbox'])}"
        )
    attributes = entry.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise DataError(f"{where} ({entry['item_id']}): field 'attributes' must be an object")
    return {**entry, "item_id": str(entry["item_id"]), "bbox": bbox.tolist(), "attributes": attributes}


@dataclass(frozen=True)
class SplitIndex:
    """A split's validated index entries and, with ``skip_bad``, why the others were dropped."""

    entries: list[dict[str, Any]]
    skipped: list[str]


def read_split_index(
    root: str | Path, split: str, *, need_annotation: bool = True, skip_bad: bool = False
) -> SplitIndex:
    """Read ``<root>/<split>/<split>.json`` and validate every entry's fields (not the files they name).

    A bad entry or an item id given twice raises :class:`DataError`; with ``skip_bad`` such entries are
    logged and dropped instead (every copy of a duplicated id: nothing says which one is right).  A file
    that is not a JSON list of entries is an error either way.
    """
    path = Path(root) / split / f"{split}.json"
    entries = read_json(path)
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a JSON list of items, got {type(entries).__name__}")
    checked, skipped = [], []
    for index, raw in enumerate(entries):
        try:
            checked.append(validate_entry(raw, index, path, need_annotation=need_annotation))
        except DataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
    counts = Counter(entry["item_id"] for entry in checked)
    duplicated = [item for item, count in counts.items() if count > 1]
    if duplicated and not skip_bad:
        raise DataError(f"{path}: duplicate item_id '{duplicated[0]}'")
    skipped += [f"{path}: item_id '{item}' is given {counts[item]} times" for item in duplicated]
    for message in skipped:
        logger.warning("skipping bad index entry: %s", message)
    return SplitIndex([entry for entry in checked if counts[entry["item_id"]] == 1], skipped)


def read_metadata(
    root: str | Path, split: str, *, need_annotation: bool = True, skip_bad: bool = False
) -> list[dict[str, Any]]:
    """The validated entries of ``<root>/<split>/<split>.json`` (see :func:`read_split_index`)."""
    return read_split_index(root, split, need_annotation=need_annotation, skip_bad=skip_bad).entries

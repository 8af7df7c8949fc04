"""Build the benchmark's GT file from a DAD-3DHeads-format split (``docs/conventions.md`` section 8)::

    <root>/<split>/<split>.json             metadata: item_id, annotation_path, img_path, bbox, attributes
    <root>/<split>/annotations/<id>.json    vertices, model_view_matrix, projection_matrix
    <root>/<split>/images/<id>.png

Entries keep the annotation's numbers as they are (full precision), like the benchmark's own generator;
the image height is read from the PNG header without decoding the image.  ``annotation_path`` and
``img_path`` are taken relative to the dataset root, then to the split directory, then the standard
``annotations/<id>.json`` / ``images/<id>.png`` locations are tried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trans3dhead.data.io import image_size
from trans3dhead.errors import InputError, shown
from trans3dhead.metrics._jsonio import read_json

__all__ = ["build_gt_entries", "image_size"]

logger = logging.getLogger(__name__)


def _locate(split_dir: Path, relative: Any, standard: Path, what: str, item_id: str) -> Path:
    candidates = []
    if isinstance(relative, str) and relative:
        candidates += [split_dir.parent / relative, split_dir / relative]
    candidates.append(standard)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{what} of item {shown(item_id)} not found (tried {tried})")


def _entry(split_dir: Path, meta: Mapping[str, Any], with_attributes: bool, where: str) -> dict[str, Any]:
    item_id = meta.get("item_id")
    if not isinstance(item_id, str) or not item_id:
        raise InputError(f"{where}: 'item_id' must be a non-empty string, got {shown(item_id)}")
    if "bbox" not in meta:
        raise InputError(f"{where}: item {shown(item_id)} has no 'bbox'")
    annotation_path = _locate(
        split_dir,
        meta.get("annotation_path"),
        split_dir / "annotations" / f"{item_id}.json",
        "annotation",
        item_id,
    )
    image_path = _locate(
        split_dir, meta.get("img_path"), split_dir / "images" / f"{item_id}.png", "image", item_id
    )
    annotation = read_json(annotation_path, what="annotation")
    keys = ("vertices", "model_view_matrix", "projection_matrix")
    if not isinstance(annotation, Mapping) or any(key not in annotation for key in keys):
        raise InputError(f"annotation {annotation_path}: expected an object with keys {list(keys)}")
    entry = {
        "id": item_id,
        "bbox": meta["bbox"],
        **{key: annotation[key] for key in keys},
        "image_height": image_size(image_path)[0],
    }
    attributes = meta.get("attributes")
    if with_attributes and attributes:
        entry["attributes"] = attributes
    return entry


def build_gt_entries(
    split_dir: str | Path, *, split: str | None = None, with_attributes: bool = True, skip_bad: bool = False
) -> list[dict[str, Any]]:
    """GT entries (raw JSON objects) for every metadata item of a split, in metadata order.

    Args:
        split_dir: the split directory, e.g. ``<root>/val``.
        split: split name, which names the metadata file ``<split>.json``; default the directory name.
        with_attributes: copy each item's ``attributes`` when it has any (the val split has none).
        skip_bad: log and leave out an item whose entry, annotation or image is bad instead of raising.

    Raises:
        FileNotFoundError: metadata, an annotation (the test split's are withheld) or an image is missing.
        InputError: malformed metadata or annotation (the message names the file and item).
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise NotADirectoryError(f"split directory {split_dir}: not a directory")
    split = split or split_dir.name
    metadata_path = split_dir / f"{split}.json"
    metadata = read_json(metadata_path, what="metadata")
    if not isinstance(metadata, list):
        raise InputError(f"metadata {metadata_path}: expected a JSON list, got {type(metadata).__name__}")
    entries = []
    for index, meta in enumerate(metadata):
        where = f"metadata {metadata_path}: entry {index}"
        try:
            if not isinstance(meta, Mapping):
                raise InputError(f"{where}: expected a JSON object, got {type(meta).__name__}")
            entries.append(_entry(split_dir, meta, with_attributes, where))
        except (InputError, FileNotFoundError) as exc:
            if not skip_bad:
                raise
            logger.warning("GT: skipping bad item: %s", exc)
    logger.info("built %d GT entries from %s", len(entries), metadata_path)
    return entries

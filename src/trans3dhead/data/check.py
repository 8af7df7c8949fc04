"""Validate a DAD-3DHeads-format dataset: every problem is collected with the file it concerns.

Checked per split: the metadata file parses and every entry has its fields; every referenced image exists
and decodes; every annotation parses with ``vertices`` (V, 3), ``model_view_matrix`` and
``projection_matrix`` (4, 4), all finite, with one V across the split (and equal to the model's when one is
given); the bbox overlaps the image (a bbox partly outside the image is a warning); attribute values are
known ones; item ids are unique.  Sub-folders of the root that are not splits are reported too
(:func:`unindexed_folders`): a split folder whose index file is missing is an error, not a silent skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trans3dhead.data.dad3dheads import resolve_path
from trans3dhead.data.io import (
    ATTRIBUTE_VALUES,
    DataError,
    read_annotation,
    read_image,
    read_json,
    validate_entry,
)
from trans3dhead.errors import shown

__all__ = ["Problem", "check_split", "find_splits", "summarise", "unindexed_folders"]


@dataclass(frozen=True)
class Problem:
    """One finding: ``severity`` is "error" or "warning"; ``where`` names the file (and item)."""

    severity: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def find_splits(root: str | Path) -> list[str]:
    """Splits of a dataset root: sub-folders holding ``<name>/<name>.json``."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}.json").is_file()) if root.is_dir() else []


def unindexed_folders(root: str | Path) -> list[Problem]:
    """Sub-folders of a dataset root that are not splits (no ``<name>/<name>.json``), so not checked.

    One holding ``images/`` or ``annotations/`` looks like a split that lost its index file: an error.
    Any other (not hidden) folder is a warning, so that it is seen rather than silently ignored.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    problems = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (folder / f"{folder.name}.json").is_file():
            continue
        index = f"{folder.name}/{folder.name}.json"
        if (folder / "images").is_dir() or (folder / "annotations").is_dir():
            message = f"looks like a split (has images/ or annotations/) but has no index file {index}"
            problems.append(Problem("error", str(folder), f"{message}: not checked"))
        else:
            problems.append(Problem("warning", str(folder), f"not a split (no {index}): ignored"))
    return problems


def _split_error(exc: DataError) -> Problem:
    where, _, message = str(exc).partition(": ")
    return Problem("error", where, message or str(exc))


def check_split(
    root: str | Path,
    split: str,
    *,
    num_vertices: int | None = None,
    progress: Callable[[Iterator], Iterator] = iter,
) -> list[Problem]:
    """All problems of one split (an empty list means the split is valid)."""
    root = Path(root)
    meta_path = root / split / f"{split}.json"
    try:
        entries = read_json(meta_path)
    except DataError as exc:
        return [_split_error(exc)]
    if not isinstance(entries, list):
        return [
            Problem("error", str(meta_path), f"expected a JSON list of items, got {type(entries).__name__}")
        ]
    problems: list[Problem] = []
    seen: set[str] = set()
    vertex_counts: dict[int, str] = {}
    for index, raw in enumerate(progress(entries)):
        has_annotation = isinstance(raw, dict) and "annotation_path" in raw
        try:
            entry = validate_entry(raw, index, meta_path, need_annotation=split != "test")
        except DataError as exc:
            problems.append(_split_error(exc))
            continue
        item = entry["item_id"]
        if item in seen:
            problems.append(Problem("error", str(meta_path), f"duplicate item_id '{item}'"))
        seen.add(item)
        problems += _check_attributes(entry, meta_path)
        problems += _check_item(root, split, entry, meta_path, has_annotation, vertex_counts, num_vertices)
    return problems


def _check_attributes(entry: dict, meta_path: Path) -> list[Problem]:
    out = []
    for key, value in entry["attributes"].items():
        allowed = ATTRIBUTE_VALUES.get(key)
        if allowed is not None and str(value).lower() not in allowed:
            out.append(
                Problem(
                    "error",
                    f"{meta_path} ({entry['item_id']})",
                    f"attribute '{key}' has unknown value {shown(value)} (expected one of {allowed})",
                )
            )
    return out


def _check_item(root, split, entry, meta_path, has_annotation, vertex_counts, num_vertices) -> list[Problem]:
    out = []
    where = f"{meta_path} ({entry['item_id']})"
    try:
        image = read_image(resolve_path(root, split, entry["img_path"], field="img_path", source=meta_path))
        out += _check_bbox(entry["bbox"], image.shape[:2], where)
    except DataError as exc:
        out.append(_split_error(exc))
    if not has_annotation:
        return out
    try:
        path = resolve_path(root, split, entry["annotation_path"], field="annotation_path", source=meta_path)
        ann = read_annotation(path, num_vertices=num_vertices)
    except DataError as exc:
        return out + [_split_error(exc)]
    count = ann.vertices.shape[0]
    first = vertex_counts.setdefault(count, str(path))
    if len(vertex_counts) > 1 and first == str(path):
        out.append(
            Problem(
                "error",
                str(path),
                f"'vertices' has {count} rows while other annotations of the "
                f"split have {[c for c in vertex_counts if c != count]}",
            )
        )
    return out


def _check_bbox(bbox: list[float], image_hw: tuple[int, int], where: str) -> list[Problem]:
    x, y, w, h = bbox
    height, width = image_hw
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return [Problem("error", where, f"bbox {bbox} lies outside the {width}x{height} image")]
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return [Problem("warning", where, f"bbox {bbox} extends beyond the {width}x{height} image")]
    return []


def summarise(problems: list[Problem]) -> tuple[int, int]:
    """(errors, warnings) counts."""
    errors = sum(p.severity == "error" for p in problems)
    return errors, len(problems) - errors

"""The benchmark's ground-truth file (``docs/conventions.md`` section 11): one entry per image::

    {"id": str, "bbox": [x, y, w, h], "vertices": V x 3, "model_view_matrix": 4 x 4,
     "projection_matrix": 4 x 4, "image_height": H, "attributes": {name: value}  (optional)}

Arrays are read in float32, as the benchmark reads them.  Any problem in a GT file is an error that
names the file, the entry and the field (a key given twice in one object included): a GT file is data
one builds, never something to score around.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead.errors import InputError, shown
from trans3dhead.geometry.camera import gt_depth_problem
from trans3dhead.jsonio import number_array
from trans3dhead.metrics._jsonio import read_json_pairs, refuse_duplicates, write_json
from trans3dhead.metrics.nme import bbox_normaliser

__all__ = ["GT_FIELDS", "GtItem", "attribute_text", "parse_gt_entries", "read_gt_file", "write_gt_file"]

GT_FIELDS: tuple[str, ...] = (
    "id",
    "bbox",
    "vertices",
    "model_view_matrix",
    "projection_matrix",
    "image_height",
)


def attribute_text(value: Any) -> str:
    """An attribute value as its table label: JSON booleans become ``"true"`` / ``"false"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _array(entry: Mapping[str, Any], key: str, shape: tuple[int | None, ...], where: str) -> np.ndarray:
    array = number_array(entry[key])
    if array is None:
        raise InputError(
            f"{where}: '{key}' is not a rectangular array of JSON numbers, got {shown(entry[key])}"
        )
    if array.ndim != len(shape) or any(
        w is not None and w != s for w, s in zip(shape, array.shape, strict=True)
    ):
        want = "(" + ", ".join("V" if w is None else str(w) for w in shape) + ")"
        raise InputError(f"{where}: '{key}' has shape {array.shape}, expected {want}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{where}: '{key}' has non-finite values")
    return array


def _float32(entry: Mapping[str, Any], key: str, shape: tuple[int | None, ...], where: str) -> np.ndarray:
    """An array as the benchmark reads it (float32), which must stay finite."""
    with np.errstate(over="ignore"):
        array = _array(entry, key, shape, where).astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{where}: '{key}' has values beyond the float32 range")
    return array


@dataclass(frozen=True, eq=False)
class GtItem:
    """One validated GT entry.  ``attributes`` maps names to value labels (empty when absent)."""

    item_id: str
    bbox: np.ndarray  # (4,) float64 [x, y, w, h], original pixels
    vertices: np.ndarray  # (V, 3) float32, FLAME model space
    model_view: np.ndarray  # (4, 4) float32
    projection: np.ndarray  # (4, 4) float32
    image_height: float
    attributes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = {str(name): attribute_text(value) for name, value in self.attributes.items()}
        object.__setattr__(self, "attributes", labels)

    @classmethod
    def from_entry(cls, entry: Any, *, where: str) -> GtItem:
        """Validate one raw entry; ``where`` prefixes every error (file and entry)."""
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: expected a JSON object, got {type(entry).__name__}")
        missing = [key for key in GT_FIELDS if key not in entry]
        if missing:
            raise InputError(f"{where}: missing field(s) {missing}")
        item_id = entry["id"]
        if not isinstance(item_id, str) or not item_id:
            raise InputError(f"{where}: 'id' must be a non-empty string, got {shown(item_id)}")
        where = f"{where} (id {shown(item_id)})"
        bbox = _array(entry, "bbox", (4,), where)
        if bbox[2] <= 0 or bbox[3] <= 0:
            raise InputError(f"{where}: 'bbox' width and height must be positive, got {bbox.tolist()}")
        with np.errstate(all="ignore"):
            scale = float(bbox_normaliser(bbox))  # the NME divisor, float32 as the benchmark computes it
        if not 0 < scale < float("inf"):  # 0: every NME infinite; infinite: every NME 0, a perfect score
            raise InputError(
                f"{where}: 'bbox' {bbox.tolist()} gives the NME normaliser sqrt(w * h) = {scale:g} in float32"
            )
        height = entry["image_height"]
        if isinstance(height, bool) or not isinstance(height, int | float) or not 0 < height < float("inf"):
            raise InputError(f"{where}: 'image_height' must be a positive number, got {shown(height)}")
        item = cls(
            item_id=item_id,
            bbox=bbox,
            vertices=_float32(entry, "vertices", (None, 3), where),
            model_view=_float32(entry, "model_view_matrix", (4, 4), where),
            projection=_float32(entry, "projection_matrix", (4, 4), where),
            image_height=height,
            attributes=_attributes(entry.get("attributes"), where),
        )
        problem = item.camera_problem()
        if problem is not None:
            raise InputError(f"{where}: {problem}")
        return item

    def camera_problem(self) -> str | None:
        """Why the camera gives the GT vertices no finite position (in the camera frame or in pixels),
        or None.  Checked on reading: scoring would otherwise blame NaN targets on the prediction."""
        with np.errstate(all="ignore"):
            camera = self.camera_vertices()
            clip = self._clip(self.vertices)
            problem = gt_depth_problem(clip[:, 3])
            if problem is None and not (
                np.isfinite(camera).all() and np.isfinite(self.project(self.vertices)).all()
            ):
                problem = "'model_view_matrix' and 'projection_matrix' put vertices beyond the float32 range"
        return problem

    def camera_vertices(self) -> np.ndarray:
        """GT vertices in the camera frame, ``(MV @ [v, 1])[:3]``: (V, 3) float32.

        Written as the benchmark's own numpy float32 expression (``(MV @ homogeneous.T).T``) so the
        rounding matches it; the same transform as :func:`trans3dhead.geometry.gt_camera_vertices`.
        """
        return (self.model_view @ _homogeneous(self.vertices).T).T[:, :3]

    def project(self, points: np.ndarray) -> np.ndarray:
        """Model-space points (P, 3) -> original-image pixels (P, 2), float32.

        The GT projection of ``docs/conventions.md`` section 5, with the benchmark's arithmetic: ``MV`` then
        ``P`` as two float32 products, perspective division, ``y = H - y``; the same projection as
        :func:`trans3dhead.geometry.gt_project`.
        """
        clip = self._clip(points)
        xy = clip[:, :2] / clip[:, 3:]
        return np.stack((xy[:, 0], self.image_height - xy[:, 1]), axis=-1).astype(np.float32)

    def _clip(self, points: np.ndarray) -> np.ndarray:
        """Homogeneous projections ``P @ (MV @ [p, 1])`` of model-space points (P, 3) -> (P, 4) float32."""
        return (self.projection @ (self.model_view @ _homogeneous(points).T)).T

    def to_entry(self) -> dict[str, Any]:
        """The JSON entry (float32 values written exactly, so reading it back gives the same item)."""
        entry: dict[str, Any] = {
            "id": self.item_id,
            "bbox": [_number(v) for v in self.bbox.tolist()],
            "vertices": self.vertices.tolist(),
            "model_view_matrix": self.model_view.tolist(),
            "projection_matrix": self.projection.tolist(),
            "image_height": self.image_height,
        }
        if self.attributes:
            entry["attributes"] = dict(self.attributes)
        return entry


def _homogeneous(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float32)
    return np.concatenate((points, np.ones_like(points[:, :1])), axis=-1)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _attributes(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: 'attributes' must be a JSON object, got {type(raw).__name__}")
    for name, value in raw.items():
        if not isinstance(value, str | bool | int | float):
            raise InputError(f"{where}: attribute '{name}' has a non-scalar value {shown(value)}")
    return dict(raw)


def parse_gt_entries(entries: Any, *, source: str) -> list[GtItem]:
    """Validate a GT list (the parsed file); ``source`` names it in errors.  Ids must be unique."""
    if not isinstance(entries, list):
        raise InputError(f"GT file {source}: expected a JSON list of entries, got {type(entries).__name__}")
    items, seen = [], set()
    for index, entry in enumerate(entries):
        item = GtItem.from_entry(entry, where=f"GT file {source}: entry {index}")
        if item.item_id in seen:
            raise InputError(f"GT file {source}: entry {index}: duplicate id {item.item_id!r}")
        seen.add(item.item_id)
        items.append(item)
    if not items:
        raise InputError(f"GT file {source}: no entries")
    return items


def read_gt_file(path: str | Path) -> list[GtItem]:
    """Read and validate a GT file."""
    entries = read_json_pairs(path, what="GT file", on_duplicate=refuse_duplicates(path, "GT file"))
    return parse_gt_entries(entries, source=str(path))


def write_gt_file(path: str | Path, entries: Iterable[GtItem | Mapping[str, Any]]) -> Path:
    """Write a GT file from items or raw entries (raw entries are written as given, e.g. the dataset's
    full-precision numbers).  Raw entries are validated first, so the file always reads back."""
    rows: Sequence[Mapping[str, Any]] = [e.to_entry() if isinstance(e, GtItem) else e for e in entries]
    parse_gt_entries(list(rows), source=str(path))
    return write_json(path, [dict(row) for row in rows])

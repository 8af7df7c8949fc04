"""The benchmark's submission format and its per-item validation (``docs/conventions.md`` section 11).

A submission is a JSON object ``{item_id: prediction}``; each prediction holds (any subset of)::

    "68_landmarks_2d"  68 x 2   landmarks in original-image pixels           -> NME
    "N_landmarks_3d"   N x 3    predicted points (FLAME topology for Z5)     -> Z5, Chamfer
    "7_landmarks_3d"   7 x 3    the 7 Chamfer keypoints, frame of N_landmarks_3d  -> Chamfer
        (3D points are in the prediction's camera-aligned frame, z pointing away from the camera:
        Z5 compares their z order with the GT's ``-(MV v)_z``; Chamfer aligns them by Procrustes)
    "rotation_matrix"  3 x 3    head rotation                                 -> pose error
    "N_landmarks_2d"   N x 2    optional project extension: N_landmarks_3d projected to original
                                pixels, for the dense 191 / 445 NME (ignored by the reference)
    "68_landmarks_2d_flame"   68 x 2   optional project extensions: the 68 landmarks of each source,
    "68_landmarks_2d_branch"  68 x 2   FLAME reprojection and landmark branch, for the NME of each
                                       (``nme_flame``, ``nme_branch``; ignored by the reference)

As in the reference, the two 3D fields may also be flat lists of 3N numbers.  A field that is missing,
not numeric, of the wrong shape or not finite becomes a :class:`Problem` for that item and field, and
the metrics that need it are not computed for that item; the item's other metrics are unaffected.

Two rules go beyond the reference, which would silently score such files:

* **Duplicates.**  An item id given twice (or a field given twice inside one prediction) is a
  ``duplicate_id`` (``duplicate_field``) problem and *no* copy is scored: nothing says which copy was
  meant, and JSON readers disagree on which one they keep.  :func:`read_submission` marks such keys with
  :class:`Duplicated` instead of keeping the last copy.
* **Rotations.**  ``rotation_matrix`` must be a rotation: ``||R R^T - I||_F`` and ``|det R - 1|`` at most
  :data:`ROTATION_TOLERANCE`.  Anything else (all zeros, ``5 I``, a reflection) is a ``not_a_rotation``
  problem and the pose metrics of that item are left unscored, instead of scoring e.g. zeros as a
  180-degree error.  The tolerance accepts any rotation written in float32 (errors ~1e-7) or rounded
  to three decimals (``||R R^T - I||_F`` up to ~3e-3), and refuses matrices 1% away from orthonormal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead.errors import InputError, shown
from trans3dhead.jsonio import number_array
from trans3dhead.metrics._jsonio import read_json_pairs, write_json

__all__ = [
    "KEYPOINTS_3D",
    "LANDMARKS_2D",
    "LANDMARKS_BRANCH",
    "LANDMARKS_FLAME",
    "OPTIONAL_FIELDS",
    "POINTS_2D",
    "POINTS_3D",
    "ROTATION",
    "SUBMISSION_FIELDS",
    "ROTATION_TOLERANCE",
    "Duplicated",
    "ItemPrediction",
    "Problem",
    "make_prediction",
    "parse_prediction",
    "read_submission",
    "write_submission",
]

LANDMARKS_2D = "68_landmarks_2d"
POINTS_3D = "N_landmarks_3d"
KEYPOINTS_3D = "7_landmarks_3d"
ROTATION = "rotation_matrix"
POINTS_2D = "N_landmarks_2d"
LANDMARKS_FLAME = "68_landmarks_2d_flame"
LANDMARKS_BRANCH = "68_landmarks_2d_branch"
#: The official fields; the others are optional extensions.
SUBMISSION_FIELDS: tuple[str, ...] = (LANDMARKS_2D, POINTS_3D, KEYPOINTS_3D, ROTATION)
OPTIONAL_FIELDS: tuple[str, ...] = (POINTS_2D, LANDMARKS_FLAME, LANDMARKS_BRANCH)
WHOLE_ITEM = "*"
#: Largest ``||R R^T - I||_F`` and ``|det R - 1|`` of a rotation_matrix (see the module docstring).
ROTATION_TOLERANCE = 1e-2


@dataclass(frozen=True)
class Duplicated:
    """Stands for a JSON key given ``copies`` times in one object (none of the copies is used)."""

    copies: int


@dataclass(frozen=True)
class Problem:
    """Why (part of) one item could not be scored.

    ``kind`` is one of ``missing_prediction``, ``unexpected_id``, ``duplicate_id``, ``not_an_object``,
    ``missing_field``, ``duplicate_field``, ``wrong_type``, ``wrong_shape``, ``non_finite``,
    ``not_a_rotation``, ``wrong_topology``, ``degenerate``; ``field`` is a submission field or ``"*"`` for
    the whole item; ``metrics`` lists the metrics left unscored.
    """

    item_id: str
    field: str
    kind: str
    message: str
    metrics: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "metrics": list(self.metrics)}


@dataclass(frozen=True, eq=False)
class ItemPrediction:
    """A validated prediction (float32 arrays); a field is None when missing or invalid."""

    landmarks_2d: np.ndarray | None = None  # (N, 2)
    points_3d: np.ndarray | None = None  # (M, 3)
    keypoints_3d: np.ndarray | None = None  # (K, 3)
    rotation: np.ndarray | None = None  # (3, 3)
    points_2d: np.ndarray | None = None  # (M, 2)
    landmarks_flame: np.ndarray | None = None  # (N, 2)
    landmarks_branch: np.ndarray | None = None  # (N, 2)


def _field(
    item_id: str, name: str, value: Any, shape: tuple[int | None, int], flat: bool
) -> np.ndarray | Problem:
    """One field as a float32 array of ``shape`` (None = any positive count), or the Problem with it."""
    if isinstance(value, Duplicated):
        message = f"'{name}' is given {value.copies} times in this prediction; none of them is used"
        return Problem(item_id, name, "duplicate_field", message)
    array = number_array(value)
    if array is None:  # ragged nesting, strings, booleans, integers beyond float64
        message = f"'{name}' is not a rectangular array of numbers, got {shown(value)}"
        return Problem(item_id, name, "wrong_type", message)
    rows, cols = shape
    if flat and array.ndim == 1 and array.size % cols == 0:
        array = array.reshape(-1, cols)  # the reference views 3D fields as (-1, 3)
    if array.ndim != 2 or array.shape[1] != cols or array.shape[0] == 0 or rows not in (None, array.shape[0]):
        want = f"({'N' if rows is None else rows}, {cols})"
        return Problem(item_id, name, "wrong_shape", f"'{name}' has shape {array.shape}, expected {want}")
    with np.errstate(over="ignore"):  # beyond float32: reported as non-finite just below
        array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        return Problem(item_id, name, "non_finite", f"'{name}' has {bad} non-finite value(s) (in float32)")
    return array


def rotation_problem(item_id: str, rotation: np.ndarray) -> Problem | None:
    """A ``not_a_rotation`` Problem when a finite (3, 3) matrix is not a rotation, else None."""
    matrix = rotation.astype(np.float64)
    orthogonality = float(np.linalg.norm(matrix @ matrix.T - np.eye(3)))
    determinant = float(np.linalg.det(matrix))
    if orthogonality <= ROTATION_TOLERANCE and abs(determinant - 1.0) <= ROTATION_TOLERANCE:
        return None
    message = (
        f"'{ROTATION}' is not a rotation: ||R R^T - I|| = {orthogonality:.3g}, det R = {determinant:.3g} "
        f"(tolerance {ROTATION_TOLERANCE:g})"
    )
    return Problem(item_id, ROTATION, "not_a_rotation", message)


def parse_prediction(
    item_id: str, raw: Any, *, num_landmarks: int = 68, num_keypoints: int = 7
) -> tuple[ItemPrediction, list[Problem]]:
    """Validate one prediction object (values: nested lists or arrays).

    Returns the prediction with every valid field and the problems of the others (missing official
    fields included; the optional ``N_landmarks_2d`` is only checked when present).  Unknown keys are
    ignored, as the reference does.
    """
    if isinstance(raw, Duplicated):
        message = f"id given {raw.copies} times in the submission; none of the copies is scored"
        return ItemPrediction(), [Problem(item_id, WHOLE_ITEM, "duplicate_id", message)]
    if not isinstance(raw, Mapping):
        message = f"prediction must be a JSON object, got {type(raw).__name__}"
        return ItemPrediction(), [Problem(item_id, WHOLE_ITEM, "not_an_object", message)]
    specs = {
        LANDMARKS_2D: ("landmarks_2d", (num_landmarks, 2), False),
        POINTS_3D: ("points_3d", (None, 3), True),
        KEYPOINTS_3D: ("keypoints_3d", (num_keypoints, 3), True),
        ROTATION: ("rotation", (3, 3), False),
        POINTS_2D: ("points_2d", (None, 2), False),
        LANDMARKS_FLAME: ("landmarks_flame", (num_landmarks, 2), False),
        LANDMARKS_BRANCH: ("landmarks_branch", (num_landmarks, 2), False),
    }
    values: dict[str, np.ndarray] = {}
    problems: list[Problem] = []
    for name, (attr, shape, flat) in specs.items():
        if name not in raw:
            if name not in OPTIONAL_FIELDS:
                problems.append(Problem(item_id, name, "missing_field", f"no '{name}'"))
            continue
        result = _field(item_id, name, raw[name], shape, flat)
        if name == ROTATION and not isinstance(result, Problem):
            result = rotation_problem(item_id, result) or result
        if isinstance(result, Problem):
            problems.append(result)
        else:
            values[attr] = result
    return ItemPrediction(**values), problems


def read_submission(path: str | Path) -> dict[str, Any]:
    """Read a submission file: a JSON object of predictions keyed by item id (validated per item later).

    A key given more than once in an object (an item id, or a field of one prediction) maps to
    :class:`Duplicated`, which :func:`parse_prediction` reports; no copy is kept.
    """
    raw = read_json_pairs(path, what="submission", on_duplicate=_mark_duplicates)
    if not isinstance(raw, dict):
        raise InputError(
            f"submission {path}: expected a JSON object {{item_id: prediction}}, got {type(raw).__name__}"
        )
    return raw


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    return {key: Duplicated(counts[key]) if counts[key] > 1 else value for key, value in pairs}


def make_prediction(
    *,
    landmarks_2d: Any,
    points_3d: Any,
    keypoints_3d: Any,
    rotation: Any,
    points_2d: Any | None = None,
    landmarks_flame: Any | None = None,
    landmarks_branch: Any | None = None,
) -> dict[str, list]:
    """One submission entry from arrays (float32 values, which JSON stores and reads back exactly);
    the optional extensions are written when given."""
    entry = {
        LANDMARKS_2D: np.asarray(landmarks_2d, dtype=np.float32).tolist(),
        POINTS_3D: np.asarray(points_3d, dtype=np.float32).tolist(),
        KEYPOINTS_3D: np.asarray(keypoints_3d, dtype=np.float32).tolist(),
        ROTATION: np.asarray(rotation, dtype=np.float32).tolist(),
    }
    for key, value in (
        (POINTS_2D, points_2d),
        (LANDMARKS_FLAME, landmarks_flame),
        (LANDMARKS_BRANCH, landmarks_branch),
    ):
        if value is not None:
            entry[key] = np.asarray(value, dtype=np.float32).tolist()
    return entry


def write_submission(path: str | Path, predictions: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``{item_id: entry}`` as a submission file (arrays are converted to float32 lists).

    Non-finite values are written as Python's JSON ``NaN`` / ``Infinity`` so that scoring the file
    reports exactly what scoring the arrays in memory reports.
    """
    rows = {}
    for item_id, entry in predictions.items():
        if not isinstance(item_id, str):
            raise InputError(f"submission item ids must be strings, got {item_id!r}")
        rows[item_id] = {key: np.asarray(value, dtype=np.float32).tolist() for key, value in entry.items()}
    return write_json(path, rows, allow_nan=True)

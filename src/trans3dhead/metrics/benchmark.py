"""Scoring a set of predictions against GT items: per-item metrics, overall means, per-attribute rows.

The DAD-3DHeads benchmark as its reference implementation computes it (``docs/conventions.md`` section 11),
with one deliberate difference in bookkeeping: a missing or invalid prediction field is reported as a
:class:`~trans3dhead.metrics.submission.Problem` and leaves out of the means *only the metrics that need that
field, for that item* (never counted as perfect nor as zero); each mean states how many items it covers. With
a complete, valid submission every metric covers every item and the means are the reference's, computed in the
reference's dtypes (float64 for NME and pose error, float32 for Z5 and Chamfer, whose per-item values are
float32 in the reference).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trans3dhead.errors import InputError
from trans3dhead.metrics.chamfer import chamfer_distance
from trans3dhead.metrics.groundtruth import GtItem
from trans3dhead.metrics.nme import nme
from trans3dhead.metrics.pose import gt_pose_rotation, pose_angle, pose_error
from trans3dhead.metrics.procrustes import DegenerateError
from trans3dhead.metrics.submission import (
    KEYPOINTS_3D,
    LANDMARKS_2D,
    LANDMARKS_BRANCH,
    LANDMARKS_FLAME,
    POINTS_2D,
    POINTS_3D,
    ROTATION,
    WHOLE_ITEM,
    ItemPrediction,
    Problem,
    parse_prediction,
)
from trans3dhead.metrics.topology import BenchmarkTopology
from trans3dhead.metrics.z5 import Z5_VARIANTS, Z5Variant, comparison_indices, z_order_accuracy

__all__ = [
    "METRICS",
    "check_gt_topology",
    "AttributeRow",
    "BenchmarkOptions",
    "BenchmarkResult",
    "ItemScore",
    "MetricSpec",
    "MetricSummary",
    "score_item",
    "score_predictions",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricSpec:
    """A reported metric: its key in reports, label, the submission fields it needs and its mean dtype."""

    key: str
    label: str
    fields: tuple[str, ...]
    mean_dtype: type
    higher_is_better: bool = False
    reference: bool = True  # part of the DAD-3DHeads benchmark (else a project extra)


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("nme_reprojection", "NME (68, x100)", (LANDMARKS_2D,), np.float64),
    MetricSpec("nme_flame", "NME FLAME reprojection (x100)", (LANDMARKS_FLAME,), np.float64, reference=False),
    MetricSpec("nme_branch", "NME landmark branch (x100)", (LANDMARKS_BRANCH,), np.float64, reference=False),
    MetricSpec("z5_accuracy", "Z5 accuracy", (POINTS_3D,), np.float32, higher_is_better=True),
    MetricSpec("chamfer", "Chamfer", (POINTS_3D, KEYPOINTS_3D), np.float32),
    MetricSpec("pose_error", "Pose error", (ROTATION,), np.float64),
    MetricSpec("pose_angle_deg", "Pose angle (deg)", (ROTATION,), np.float64, reference=False),
    MetricSpec("nme_191", "NME 191 (x100)", (POINTS_2D,), np.float64, reference=False),
    MetricSpec("nme_445", "NME 445 (x100)", (POINTS_2D,), np.float64, reference=False),
)
_SPECS = {spec.key: spec for spec in METRICS}
_DENSE = {"nme_191": "191", "nme_445": "445"}


@dataclass(frozen=True)
class BenchmarkOptions:
    """Protocol choices; the defaults are the reference benchmark's."""

    z5_variant: Z5Variant = "reference"  # or "knn" (true nearest neighbours), "reference_cdist" (slow)
    z5_n: int = 5

    def __post_init__(self) -> None:
        if self.z5_variant not in Z5_VARIANTS:
            raise ValueError(f"z5_variant must be one of {Z5_VARIANTS}, got {self.z5_variant!r}")
        if not isinstance(self.z5_n, int) or self.z5_n < 1:
            raise ValueError(f"z5_n must be a positive integer, got {self.z5_n!r}")


@dataclass(frozen=True, eq=False)
class ItemScore:
    """Metric values of one GT item; a metric is absent when it could not be scored."""

    item_id: str
    attributes: dict[str, str]
    values: dict[str, float]


@dataclass(frozen=True)
class MetricSummary:
    """Mean over the ``scored`` of ``total`` items (None when no item could be scored)."""

    mean: float | None
    scored: int
    total: int

    @property
    def coverage(self) -> float:
        return self.scored / self.total if self.total else 0.0


@dataclass(frozen=True)
class AttributeRow:
    """One attribute value: how many GT items have it and the metric summaries over them."""

    attribute: str
    value: str
    count: int
    metrics: dict[str, MetricSummary]


@dataclass(frozen=True, eq=False)
class BenchmarkResult:
    """Everything a report shows.  ``metric_keys`` lists the metrics present, in :data:`METRICS` order."""

    items: list[ItemScore]
    problems: list[Problem]
    overall: dict[str, MetricSummary]
    attributes: list[AttributeRow]
    options: BenchmarkOptions
    metric_keys: tuple[str, ...]
    num_predictions: int = 0


def _finite(value: float, key: str, item_id: str, problems: list[Problem]) -> float | None:
    if np.isfinite(value):
        return float(value)
    spec = _SPECS[key]
    message = f"{spec.label} is not finite for this prediction (values overflow float32)"
    problems.append(Problem(item_id, spec.fields[-1], "non_finite", message, (key,)))
    return None


def _topology_problem(
    item_id: str, name: str, rows: int, topology: BenchmarkTopology, metrics: tuple
) -> Problem:
    message = f"'{name}' has {rows} points; {', '.join(metrics)} need(s) the model's {topology.num_vertices}"
    return Problem(item_id, name, "wrong_topology", message, metrics)


def _score_points(
    gt: GtItem, pred: ItemPrediction, topology: BenchmarkTopology, options: BenchmarkOptions
) -> tuple[dict[str, float], list[Problem]]:
    """Z5 and Chamfer, which need the GT camera-frame vertices."""
    values: dict[str, float] = {}
    problems: list[Problem] = []
    if pred.points_3d is None:
        return values, problems
    camera = gt.camera_vertices()  # (V, 3) float32
    if pred.points_3d.shape[0] == topology.num_vertices:
        gt_head = -camera[topology.head]  # z away from the camera, as the benchmark compares depths
        table = comparison_indices(gt_head, n=options.z5_n, variant=options.z5_variant)
        values["z5_accuracy"] = z_order_accuracy(pred.points_3d[topology.head], gt_head, table)
    else:
        problems.append(
            _topology_problem(gt.item_id, POINTS_3D, pred.points_3d.shape[0], topology, ("z5_accuracy",))
        )
    if pred.keypoints_3d is not None:
        try:
            value = chamfer_distance(camera, pred.points_3d, pred.keypoints_3d, topology=topology)
        except DegenerateError as exc:
            problems.append(Problem(gt.item_id, KEYPOINTS_3D, "degenerate", str(exc), ("chamfer",)))
        except ValueError as exc:  # predictions are validated already: this is about the GT
            raise InputError(f"GT item {gt.item_id!r}: {exc}") from None
        else:
            values["chamfer"] = value
    return values, problems


def _score_dense(gt: GtItem, pred: ItemPrediction, topology: BenchmarkTopology) -> tuple[dict, list[Problem]]:
    keys = tuple(key for key, name in _DENSE.items() if name in topology.dense)
    if pred.points_2d is None or not keys:
        return {}, []
    if pred.points_2d.shape[0] != topology.num_vertices:
        return {}, [_topology_problem(gt.item_id, POINTS_2D, pred.points_2d.shape[0], topology, keys)]
    values = {}
    for key in keys:
        subset = topology.dense[_DENSE[key]]
        target = gt.project(gt.vertices[subset])
        values[key] = float(nme(pred.points_2d[subset], target, bbox=gt.bbox))
    return values, []


def score_item(
    gt: GtItem, pred: ItemPrediction, *, topology: BenchmarkTopology, options: BenchmarkOptions | None = None
) -> tuple[dict[str, float], list[Problem]]:
    """All metrics of one item that its valid fields allow, and the problems met while scoring.

    GT-derived quantities (landmarks, camera-frame vertices, the Z5 comparison table) are computed here
    once per item.  Metric values that come out non-finite are dropped and reported.
    """
    options = options or BenchmarkOptions()
    values: dict[str, float] = {}
    problems: list[Problem] = []
    landmark_fields = {
        "nme_reprojection": pred.landmarks_2d,
        "nme_flame": pred.landmarks_flame,
        "nme_branch": pred.landmarks_branch,
    }
    if any(v is not None for v in landmark_fields.values()):
        target = gt.project(topology.landmarks(gt.vertices))  # (68, 2) GT landmarks, float32
        for key, landmarks in landmark_fields.items():
            if landmarks is not None:
                values[key] = float(nme(landmarks, target, bbox=gt.bbox))
    if pred.rotation is not None:
        rotation_gt = gt_pose_rotation(gt.model_view)
        values["pose_error"] = float(pose_error(pred.rotation, rotation_gt))
        values["pose_angle_deg"] = float(pose_angle(pred.rotation, rotation_gt))
    for part in (_score_points(gt, pred, topology, options), _score_dense(gt, pred, topology)):
        values.update(part[0])
        problems.extend(part[1])
    checked = {key: _finite(value, key, gt.item_id, problems) for key, value in values.items()}
    return {key: value for key, value in checked.items() if value is not None}, problems


def _affected(problem: Problem) -> Problem:
    """Fill in the metrics a parse problem leaves unscored."""
    if problem.metrics:
        return problem
    if problem.field == WHOLE_ITEM:
        metrics = tuple(spec.key for spec in METRICS) if problem.kind != "unexpected_id" else ()
    else:
        metrics = tuple(spec.key for spec in METRICS if problem.field in spec.fields)
    return dataclasses.replace(problem, metrics=metrics)


def _summary(values: Sequence[float], total: int, dtype: type) -> MetricSummary:
    mean = float(np.mean(np.asarray(values, dtype=dtype))) if len(values) else None
    return MetricSummary(mean=mean, scored=len(values), total=total)


def _summaries(items: Sequence[ItemScore], keys: Iterable[str]) -> dict[str, MetricSummary]:
    return {
        key: _summary([s.values[key] for s in items if key in s.values], len(items), _SPECS[key].mean_dtype)
        for key in keys
    }


def _attribute_rows(items: Sequence[ItemScore], keys: tuple[str, ...]) -> list[AttributeRow]:
    names: dict[str, None] = {}
    for item in items:
        names.update(dict.fromkeys(item.attributes))
    rows = []
    for name in names:
        for value in sorted({item.attributes[name] for item in items if name in item.attributes}):
            group = [item for item in items if item.attributes.get(name) == value]
            rows.append(AttributeRow(name, value, len(group), _summaries(group, keys)))
    return rows


def check_gt_topology(gt_items: Sequence[GtItem], topology: BenchmarkTopology) -> None:
    """An InputError unless every GT item has the model's vertex count (checked before any scoring)."""
    for gt in gt_items:
        if gt.vertices.shape[0] != topology.num_vertices:
            raise InputError(
                f"GT item {gt.item_id!r} has {gt.vertices.shape[0]} vertices but the FLAME model has "
                f"{topology.num_vertices}: use the model the GT was made with (--flame / --aux)"
            )


def score_predictions(
    gt_items: Sequence[GtItem],
    predictions: Mapping[str, Any],
    *,
    topology: BenchmarkTopology,
    options: BenchmarkOptions | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> BenchmarkResult:
    """Score predictions in the submission format (values: nested lists or arrays) against GT items.

    Args:
        gt_items: validated GT items (e.g. from :func:`~trans3dhead.metrics.groundtruth.read_gt_file`).
        predictions: ``{item_id: prediction}``, as read from a submission or built in memory.
        topology: the model's landmark embedding and subsets (its V must match the GT vertices).
        options: protocol choices (defaults: the reference benchmark).
        progress: optional wrapper of the item loop (e.g. ``tqdm``), for the CLI.

    Raises:
        ValueError: a GT item's vertex count differs from the model's.
    """
    options = options or BenchmarkOptions()
    check_gt_topology(gt_items, topology)
    items, problems = [], []
    loop = progress(gt_items) if progress is not None else gt_items
    for gt in loop:
        if gt.item_id not in predictions:
            problems.append(_affected(Problem(gt.item_id, WHOLE_ITEM, "missing_prediction", "no prediction")))
            items.append(ItemScore(gt.item_id, gt.attributes, {}))
            continue
        pred, parse_problems = parse_prediction(
            gt.item_id,
            predictions[gt.item_id],
            num_landmarks=topology.num_landmarks,
            num_keypoints=len(topology.keypoints),
        )
        values, score_problems = score_item(gt, pred, topology=topology, options=options)
        problems.extend(_affected(p) for p in parse_problems + score_problems)
        items.append(ItemScore(gt.item_id, gt.attributes, values))
    known = {gt.item_id for gt in gt_items}
    problems.extend(
        _affected(Problem(str(key), WHOLE_ITEM, "unexpected_id", "id not in the GT file"))
        for key in predictions
        if key not in known
    )
    keys = tuple(s.key for s in METRICS if s.reference or s.key == "pose_angle_deg" or _any(items, s.key))
    logger.info("scored %d items, %d problem(s)", len(items), len(problems))
    return BenchmarkResult(
        items=items,
        problems=problems,
        overall=_summaries(items, keys),
        attributes=_attribute_rows(items, keys),
        options=options,
        metric_keys=keys,
        num_predictions=len(predictions),
    )


def _any(items: Sequence[ItemScore], key: str) -> bool:
    return any(key in item.values for item in items)


def merge_results(parts: Sequence[BenchmarkResult], *, order: Sequence[str] | None = None) -> BenchmarkResult:
    """Combine results scored on disjoint shards of a GT list (e.g. by data-parallel ranks).

    Items are de-duplicated by id (a padded distributed sampler scores a few items twice) and ordered like
    ``order`` when given; means and attribute rows are recomputed over the union.
    """
    if not parts:
        raise ValueError("merge_results needs at least one result")
    items: dict[str, ItemScore] = {}
    problems: dict[tuple, Problem] = {}
    for part in parts:
        for item in part.items:
            items.setdefault(item.item_id, item)
        for problem in part.problems:
            problems.setdefault((problem.item_id, problem.field, problem.kind), problem)
    ordered = [items[i] for i in order if i in items] if order is not None else list(items.values())
    keys = tuple(dict.fromkeys(k for part in parts for k in part.metric_keys))
    return BenchmarkResult(
        items=ordered,
        problems=list(problems.values()),
        overall=_summaries(ordered, keys),
        attributes=_attribute_rows(ordered, keys),
        options=parts[0].options,
        metric_keys=keys,
        num_predictions=len(ordered),
    )

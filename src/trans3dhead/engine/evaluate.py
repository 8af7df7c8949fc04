"""Run a model over a DAD-3DHeads-format split and score it with the benchmark metrics.

Predictions are mapped back to the original image through each item's crop and written in the official
submission format, so :func:`trans3dhead.metrics.benchmark.score_predictions` sees exactly what
``trans3dhead score`` would read from a file.

Which 2D landmarks are submitted: ``"flame"`` (default) projects the 68-point embedding of the predicted
FLAME mesh, as DAD-3DNet's predictor does (the 3DMM branch is Trans3DHead's main output); ``"branch"``
submits the landmark branch's own output (Trans3DHead) or landmark head (DAD-3DNet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trans3dhead.engine.distributed import DistContext
from trans3dhead.flame.assets import CHAMFER_KEYPOINTS
from trans3dhead.metrics.benchmark import BenchmarkOptions, BenchmarkResult, merge_results, score_predictions
from trans3dhead.metrics.groundtruth import GtItem, parse_gt_entries
from trans3dhead.metrics.gt_builder import build_gt_entries
from trans3dhead.metrics.submission import make_prediction
from trans3dhead.metrics.topology import BenchmarkTopology
from trans3dhead.types import Batch

__all__ = ["LANDMARK_SOURCES", "load_gt_items", "predict", "evaluate", "headline_metrics"]

LANDMARK_SOURCES = ("flame", "branch")


def load_gt_items(root: str | Path, split: str) -> tuple[list[dict[str, Any]], list[GtItem]]:
    """GT entries (the official GT file's JSON objects) and validated items of a split."""
    entries = build_gt_entries(Path(root) / split, split=split)
    return entries, parse_gt_entries(entries, source=f"{root}/{split}")


@torch.no_grad()
def predict(
    model: nn.Module,
    batches: Iterable[Batch | None],
    *,
    device: torch.device,
    landmark_source: str = "flame",
    dense_2d: bool = True,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict[str, dict[str, list]]:
    """Submission entries ``{item_id: {...}}`` for every item of ``batches`` (original-image pixels)."""
    if landmark_source not in LANDMARK_SOURCES:
        raise ValueError(f"landmark_source must be one of {LANDMARK_SOURCES}, got {landmark_source!r}")
    model.eval()
    keypoints = list(CHAMFER_KEYPOINTS)
    out: dict[str, dict[str, list]] = {}
    for batch in progress(batches) if progress is not None else batches:
        if batch is None:
            continue
        output = model(batch.images.to(device))
        flame = output.flame
        size = float(batch.images.shape[-1])
        crop_landmarks = flame.landmarks_2d if landmark_source == "flame" else output.landmarks * size
        for i, (item_id, crop) in enumerate(zip(batch.item_ids, batch.crops, strict=True)):
            out[item_id] = make_prediction(
                landmarks_2d=crop.points_to_image(crop_landmarks[i].double().cpu().numpy()),
                points_3d=flame.posed_vertices[i].cpu().numpy(),
                keypoints_3d=flame.landmarks_3d[i, keypoints].cpu().numpy(),
                rotation=flame.rotation[i].cpu().numpy(),
                points_2d=crop.points_to_image(flame.projected[i].double().cpu().numpy())
                if dense_2d
                else None,
            )
    return out


def evaluate(
    model: nn.Module,
    batches: Iterable[Batch | None],
    *,
    gt_items: list[GtItem],
    topology: BenchmarkTopology,
    device: torch.device,
    dist: DistContext | None = None,
    options: BenchmarkOptions | None = None,
    landmark_source: str = "flame",
) -> BenchmarkResult:
    """Predict this rank's batches, score them, and merge the scores of every rank (same result on all)."""
    predictions = predict(model, batches, device=device, landmark_source=landmark_source)
    mine = [gt for gt in gt_items if gt.item_id in predictions]
    result = score_predictions(mine, predictions, topology=topology, options=options)
    parts = dist.gather_objects(result) if dist is not None else [result]
    return merge_results(parts, order=[gt.item_id for gt in gt_items])


def headline_metrics(result: BenchmarkResult) -> dict[str, float]:
    """Overall means of the scored metrics, for logs and checkpoint selection."""
    return {key: summary.mean for key, summary in result.overall.items() if summary.mean is not None}

"""Run a model over a DAD-3DHeads-format split and score it with the benchmark metrics.

Predictions are mapped back to the original image through each item's crop and written in the official
submission format, so :func:`trans3dhead.metrics.benchmark.score_predictions` sees exactly what
``trans3dhead score`` would read from a file.

Which 2D landmarks are submitted as the benchmark's ``68_landmarks_2d``: ``"flame"`` (default) projects
the 68-point embedding of the predicted FLAME mesh, as DAD-3DNet's predictor does (the 3DMM branch is
Trans3DHead's main output); ``"branch"`` submits the landmark branch's own output (Trans3DHead) or
landmark head (DAD-3DNet).  Both sources are also written as the extension fields
``68_landmarks_2d_flame`` / ``68_landmarks_2d_branch``, so every report gives the NME of each
(``nme_flame``, ``nme_branch``); a model without a landmark branch has no ``nme_branch``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trans3dhead import jsonio
from trans3dhead.engine.distributed import DistContext
from trans3dhead.errors import InputError
from trans3dhead.flame.assets import CHAMFER_KEYPOINTS
from trans3dhead.frames import LANDMARK_SOURCES
from trans3dhead.geometry.camera import crop_rotation_to_camera
from trans3dhead.metrics.benchmark import (
    BenchmarkOptions,
    BenchmarkResult,
    check_gt_topology,
    merge_results,
    score_predictions,
)
from trans3dhead.metrics.groundtruth import GtItem, parse_gt_entries
from trans3dhead.metrics.gt_builder import build_gt_entries
from trans3dhead.metrics.submission import make_prediction
from trans3dhead.metrics.topology import BenchmarkTopology
from trans3dhead.types import Batch

__all__ = [
    "LANDMARK_SOURCES",
    "has_landmark_branch",
    "load_gt_items",
    "predict",
    "evaluate",
    "evaluate_checkpoint",
    "headline_metrics",
    "with_flip",
]


logger = logging.getLogger(__name__)


def load_gt_items(
    root: str | Path, split: str, *, skip_bad: bool = False
) -> tuple[list[dict[str, Any]], list[GtItem]]:
    """GT entries (the official GT file's JSON objects) and validated items of a split.

    With ``skip_bad`` (training's ``data.skip_bad``) items whose entry, files or values are bad, and every
    copy of a duplicated id, are logged and left out instead of stopping.
    """
    source = f"{root}/{split}"
    entries = build_gt_entries(Path(root) / split, split=split, skip_bad=skip_bad)
    if not skip_bad:
        return entries, parse_gt_entries(entries, source=source)
    counts = Counter(entry["id"] for entry in entries)
    kept, items = [], []
    for index, entry in enumerate(entries):
        try:
            if counts[entry["id"]] > 1:
                raise InputError(f"GT {source}: id {entry['id']!r} is given {counts[entry['id']]} times")
            items.append(GtItem.from_entry(entry, where=f"GT {source}: entry {index}"))
        except InputError as exc:
            logger.warning("GT: skipping bad item: %s", exc)
            continue
        kept.append(entry)
    if not items:
        raise InputError(f"GT {source}: no valid items")
    return kept, items


def has_landmark_branch(model: nn.Module) -> bool:
    """Whether ``model`` regresses landmarks itself (Trans3DHead's branch, DAD-3DNet's head)."""
    return bool(getattr(model, "has_landmark_branch", False))


@torch.no_grad()
def predict(
    model: nn.Module,
    batches: Iterable[Batch | None],
    *,
    device: torch.device,
    landmark_source: str = "flame",
    dense_2d: bool = True,
    progress: Callable[[Iterable], Iterable] | None = None,
    camera_focal: float | None = None,
) -> dict[str, dict[str, list]]:
    """Submission entries ``{item_id: {...}}`` for every item of ``batches`` (original-image pixels).
    ``camera_focal``: see ``model.camera_focal`` (None: each rotation as predicted)."""
    if landmark_source not in LANDMARK_SOURCES:
        raise InputError(f"landmark_source must be one of {LANDMARK_SOURCES}, got {landmark_source!r}")
    branch = has_landmark_branch(model)
    if landmark_source == "branch" and not branch:
        raise InputError(
            "landmark_source='branch', but this model has no landmark branch (only-3DMM): use 'flame'"
        )
    model.eval()
    keypoints = list(CHAMFER_KEYPOINTS)
    out: dict[str, dict[str, list]] = {}
    for batch in progress(batches) if progress is not None else batches:
        if batch is None:
            continue
        output = model(batch.images.to(device))
        flame = output.flame
        flame_2d = flame.landmarks_2d.double().cpu().numpy()  # (B, N, 2) crop pixels
        branch_2d = output.landmarks.double().cpu().numpy() if branch else None  # (B, N, 2) normalised
        for i, (item_id, crop) in enumerate(zip(batch.item_ids, batch.crops, strict=True)):
            from_flame = crop.points_to_image(flame_2d[i])
            from_branch = crop.landmarks_to_image(branch_2d[i]) if branch_2d is not None else None
            out[item_id] = make_prediction(
                landmarks_2d=from_flame if landmark_source == "flame" else from_branch,
                landmarks_flame=from_flame,
                landmarks_branch=from_branch,
                points_3d=flame.posed_vertices[i].cpu().numpy(),
                keypoints_3d=flame.landmarks_3d[i, keypoints].cpu().numpy(),
                rotation=_rotation(flame.rotation[i].cpu().numpy(), crop, camera_focal),
                points_2d=crop.points_to_image(flame.projected[i].double().cpu().numpy())
                if dense_2d
                else None,
            )
    return out


def _rotation(rotation: Any, crop: Any, camera_focal: float | None) -> Any:
    """A predicted (3, 3) rotation, turned into the camera frame when ``camera_focal`` is set."""
    if camera_focal is None:
        return rotation
    return crop_rotation_to_camera(rotation, crop.box, crop.image_hw, camera_focal)


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
    camera_focal: float | None = None,
) -> BenchmarkResult:
    """Predict this rank's batches, score them, and merge the scores of every rank (same result on all)."""
    predictions = predict(
        model, batches, device=device, landmark_source=landmark_source, camera_focal=camera_focal
    )
    mine = [gt for gt in gt_items if gt.item_id in predictions]
    result = score_predictions(mine, predictions, topology=topology, options=options)
    parts = dist.gather_objects(result) if dist is not None else [result]
    return merge_results(parts, order=[gt.item_id for gt in gt_items])


def headline_metrics(result: BenchmarkResult) -> dict[str, float]:
    """Overall means of the scored metrics, for logs and checkpoint selection."""
    return {key: summary.mean for key, summary in result.overall.items() if summary.mean is not None}


def with_flip(model: nn.Module, *, flip: bool, source: str = "FLAME model") -> nn.Module:
    """``model``, or (``flip``) ``model`` averaging each crop with its mirror image; ``source`` names the
    FLAME model in the error raised when it is not left-right symmetric."""
    if not flip:
        return model
    from trans3dhead.models.flip import FlipAverage

    return FlipAverage(model=model, source=source)


def evaluate_split(
    model: nn.Module,
    *,
    assets: Any,
    root: str | Path,
    split: str,
    out_dir: str | Path,
    input_size: int,
    batch_size: int = 16,
    workers: int = 0,
    landmark_source: str = "flame",
    options: BenchmarkOptions | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[Iterable], Iterable] | None = None,
    crop_style: str = "centred",
    camera_focal: float | None = None,
    flip: bool = False,
) -> BenchmarkResult | None:
    """Predict a DAD-3DHeads-format split and write ``submission.json``; when the split has annotations,
    also write ``gt.json`` and the report (``metrics.json`` / ``metrics.md``), such that
    ``trans3dhead score --gt gt.json --submission submission.json`` reproduces it exactly.
    Returns the result, or None for a split without annotations (e.g. the real test split).
    ``flip``: average each crop's prediction with that for its mirror image
    (:class:`~trans3dhead.models.flip.FlipAverage`)."""
    from torch.utils.data import DataLoader

    from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
    from trans3dhead.metrics.groundtruth import write_gt_file
    from trans3dhead.metrics.report import write_report
    from trans3dhead.metrics.submission import write_submission

    out = Path(out_dir)
    dataset = DAD3DHeadsDataset(
        root=root, split=split, assets=assets, input_size=input_size, annotations=False, crop_style=crop_style
    )
    annotated = all("annotation_path" in entry for entry in dataset.entries)
    entries, gt_items = load_gt_items(root, split) if annotated else ([], [])  # GT errors before the work
    topology = BenchmarkTopology.from_assets(assets)
    check_gt_topology(gt_items, topology)
    model = with_flip(model, flip=flip, source=assets.model.source)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    predictions = predict(
        model,
        loader,
        device=torch.device(device),
        landmark_source=landmark_source,
        progress=progress,
        camera_focal=camera_focal,
    )
    write_submission(out / "submission.json", predictions)
    if not annotated:
        return None
    write_gt_file(out / "gt.json", entries)
    result = score_predictions(gt_items, predictions, topology=topology, options=options)
    sources = {"data": f"{root}/{split}", "flame": assets.model.source, "landmarks": landmark_source}
    if camera_focal is not None:
        sources["camera_focal"] = str(camera_focal)
    if flip:
        sources["flip"] = "averaged with the mirrored crops"
    write_report(result, out, sources=sources)
    return result


def evaluate_checkpoint(
    checkpoint: str | Path,
    *,
    root: str | Path,
    split: str,
    out_dir: str | Path,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    camera_focal: float | None | str = "config",
    flip: bool = False,
) -> tuple[nn.Module, dict[str, Any] | None]:
    """:func:`evaluate_split` of a checkpoint with the input size, crop, landmark source and (unless
    ``camera_focal`` is given: a number or None) camera focal length its config names.  Returns the model
    and the report (``metrics.json``'s content; None for a split without annotations)."""
    from trans3dhead.models.build import model_from_checkpoint

    model, config, assets = model_from_checkpoint(checkpoint, device=device)
    result = evaluate_split(
        model,
        assets=assets,
        root=root,
        split=split,
        out_dir=out_dir,
        input_size=config.model.input_size,
        batch_size=batch_size,
        landmark_source=config.model.landmarks,
        device=device,
        crop_style=config.model.crop,
        camera_focal=config.model.camera_focal if camera_focal == "config" else camera_focal,
        flip=flip,
    )
    report = None if result is None else jsonio.read_file(Path(out_dir) / "metrics.json")
    return model, report


def evaluate_aflw2000(
    model: nn.Module,
    *,
    root: str | Path,
    out_dir: str | Path,
    input_size: int,
    batch_size: int = 16,
    filter_range: bool = True,
    device: torch.device | str = "cpu",
    progress: Callable[[Iterable], Iterable] | None = None,
    crop_style: str = "centred",
    flip: bool = False,
) -> Any:
    """Head-pose evaluation on AFLW2000-3D: Euler MAE (yaw, pitch, roll, mean) in degrees, written to
    ``metrics.json`` / ``metrics.md`` with every image's angles in ``predictions.json``.  ``flip``: see
    :func:`evaluate_split`."""
    import numpy as np

    from trans3dhead.data.aflw2000 import AFLW2000Dataset
    from trans3dhead.geometry.rotation import matrix_to_euler
    from trans3dhead.metrics._jsonio import write_json, write_text
    from trans3dhead.metrics.euler import euler_mae

    dataset = AFLW2000Dataset(
        root=root, input_size=input_size, filter_range=filter_range, crop_style=crop_style
    )
    model = with_flip(model, flip=flip)
    model.eval()
    pred, gt, rows = [], [], []
    indices = range(0, len(dataset), batch_size)
    for start in progress(indices) if progress is not None else indices:
        samples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        with torch.no_grad():
            images = torch.from_numpy(np.stack([s.image for s in samples])).to(device)
            euler = matrix_to_euler(model(images).flame.rotation.double()).cpu().numpy()
        for sample, angles in zip(samples, euler, strict=True):
            pred.append(angles)
            gt.append(sample.euler)
            rows.append(
                {
                    "id": sample.item_id,
                    "pred_roll_pitch_yaw": angles.tolist(),
                    "gt_roll_pitch_yaw": sample.euler.tolist(),
                }
            )
    table = euler_mae(np.stack(pred), np.stack(gt), max_abs_gt=None)  # the dataset already filtered
    out = Path(out_dir)
    summary = {**table.to_dict(), "filtered_out": dataset.num_filtered, "filter_range": filter_range}
    write_json(out / "metrics.json", summary, indent=2)
    write_json(out / "predictions.json", rows)
    write_text(
        out / "metrics.md",
        "| Yaw | Pitch | Roll | MAE | images |\n|---:|---:|---:|---:|---:|\n"
        f"| {table.yaw:.3f} | {table.pitch:.3f} | {table.roll:.3f} | {table.mean:.3f} | {table.count} |\n",
    )
    return table

"""``trans3dhead eval-video``: an aligner with tracking and smoothing on synthetic videos with known motion.

Each sequence of a ``synth --video`` dataset (:mod:`trans3dhead.data.synthetic.video`) is run once through a
:class:`~trans3dhead.inference.video_tracker.VideoTracker`; every frame's head (the tracked head whose box
overlaps the GT head box most) is scored twice, as the network predicted it (``raw``) and as the
smoother output it (``smoothed``):

* ``nme``: landmark NME x100 (the benchmark's, :func:`~trans3dhead.metrics.nme`);
* ``pose_error`` (the benchmark's ``||I - R R_gt^T||_F``) and ``pose_deg`` (geodesic angle);
* ``jitter_landmarks`` / ``jitter_pose_deg`` and ``lag_landmarks`` / ``lag_pose`` in frames
  (:mod:`trans3dhead.metrics.temporal`); the GT's own jitter is reported beside them.  Accelerations and
  velocities are only taken within one track (a change of the matched track id breaks the series).

``found`` counts frames with a matched head; ``id_switches`` how often the matched track id changed.  The
report (:mod:`~trans3dhead.inference.video_report`) has one row per sequence and variant and an overall
row: means over all scored frames (or acceleration terms), lags averaged over sequences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead.data.io import read_image
from trans3dhead.errors import InputError
from trans3dhead.inference.boxes import iou_matrix
from trans3dhead.inference.detector import BoxesDetector
from trans3dhead.inference.predictor import HeadAligner
from trans3dhead.inference.smoothing import SmoothingOptions
from trans3dhead.inference.tracking import TrackerOptions
from trans3dhead.inference.video_tracker import TrackedHead, VideoTracker
from trans3dhead.metrics._jsonio import read_json
from trans3dhead.metrics.groundtruth import parse_gt_entries
from trans3dhead.metrics.gt_builder import build_gt_entries
from trans3dhead.metrics.nme import nme
from trans3dhead.metrics.pose import gt_pose_rotation, pose_angle, pose_error
from trans3dhead.metrics.temporal import (
    landmark_jitter,
    landmark_series,
    motion_lag,
    rotation_jitter,
    rotation_series,
)
from trans3dhead.metrics.topology import BenchmarkTopology

__all__ = [
    "VARIANTS",
    "VideoSequence",
    "SeriesPrediction",
    "load_sequence",
    "find_sequences",
    "track_sequence",
    "match_gt_head",
    "series_metrics",
    "evaluate_videos",
]

#: The two scored versions of every prediction.
VARIANTS = ("raw", "smoothed")
#: A tracked head counts as the GT head when its box overlaps the GT box at least this much.
MIN_MATCH_IOU = 0.1


@dataclass(frozen=True, eq=False)
class VideoSequence:
    """One synthetic sequence with its ground truth, frames in order.

    frame_ids (T,), images (T,) paths, fps, landmarks (T, N, 2) GT pixels, rotations (T, 3, 3) GT,
    bbox (T, 4) GT head boxes.
    """

    name: str
    fps: float
    frame_ids: list[str]
    images: list[Path]
    landmarks: np.ndarray
    rotations: np.ndarray
    bbox: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.frame_ids)


def load_sequence(folder: str | Path, *, topology: BenchmarkTopology) -> VideoSequence:
    """Read a sequence folder of a ``synth --video`` dataset (its metadata, annotations, sequence.json)."""
    folder = Path(folder)
    info = read_json(folder / "sequence.json", what="sequence description")
    entries = build_gt_entries(folder, with_attributes=False)
    items = parse_gt_entries(entries, source=str(folder / f"{folder.name}.json"))
    metadata = read_json(folder / f"{folder.name}.json", what="metadata")
    order = np.argsort([int(m.get("frame", i)) for i, m in enumerate(metadata)], kind="stable")
    items = [items[i] for i in order]
    return VideoSequence(
        name=folder.name,
        fps=float(info["fps"]),
        frame_ids=[it.item_id for it in items],
        images=[folder.parent / metadata[i]["img_path"] for i in order],
        landmarks=np.stack([it.project(topology.landmarks(it.vertices)) for it in items]).astype(np.float64),
        rotations=np.stack([gt_pose_rotation(it.model_view) for it in items]),
        bbox=np.stack([it.bbox for it in items]),
    )


def find_sequences(root: str | Path, names: Sequence[str] | None = None) -> list[Path]:
    """The sequence folders under a ``synth --video`` root (those with a sequence.json), or ``names``."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a directory")
    if names:
        folders = [root / name for name in names]
        missing = [str(f) for f in folders if not (f / "sequence.json").is_file()]
        if missing:
            raise InputError(f"not a synthetic video sequence (no sequence.json): {', '.join(missing)}")
        return folders
    folders = sorted(p.parent for p in root.glob("*/sequence.json"))
    if not folders:
        raise InputError(
            f"{root}: no synthetic video sequences (folders with sequence.json); see synth --video"
        )
    return folders


@dataclass(frozen=True, eq=False)
class SeriesPrediction:
    """Per-frame predictions of the GT head: landmarks (T, N, 2) and rotations (T, 3, 3), NaN where none
    was found; track (T,) matched track id, -1 where none."""

    landmarks: np.ndarray
    rotations: np.ndarray
    track: np.ndarray


def match_gt_head(heads: list[TrackedHead], bbox: np.ndarray) -> TrackedHead | None:
    if not heads:
        return None
    overlaps = iou_matrix(np.stack([h.raw.box for h in heads]), bbox)[:, 0]
    best = int(np.argmax(overlaps))
    return heads[best] if overlaps[best] >= MIN_MATCH_IOU else None


def track_sequence(
    aligner: HeadAligner,
    sequence: VideoSequence,
    *,
    tracking: TrackerOptions | None = None,
    smoothing: SmoothingOptions | None = None,
    gt_boxes: bool = True,
    on_frame: Callable[[], None] | None = None,
) -> dict[str, SeriesPrediction]:
    """Run the tracker over the sequence: {"raw": ..., "smoothed": ...} series of the GT head.

    ``gt_boxes``: the detector (when it runs) returns the GT head box, instead of the aligner's detector.
    """
    detector = (
        BoxesDetector(
            table={f: [tuple(b)] for f, b in zip(sequence.frame_ids, sequence.bbox.tolist(), strict=True)}
        )
        if gt_boxes
        else None
    )
    tracker = VideoTracker(
        aligner=aligner, tracking=tracking, smoothing=smoothing, fps=sequence.fps, detector=detector
    )
    frames, count = sequence.frames, sequence.landmarks.shape[1]
    out = {
        v: SeriesPrediction(
            np.full((frames, count, 2), np.nan), np.full((frames, 3, 3), np.nan), np.full(frames, -1)
        )
        for v in VARIANTS
    }
    for t, (frame_id, path) in enumerate(zip(sequence.frame_ids, sequence.images, strict=True)):
        heads = tracker.step(read_image(path), timestamp=t / sequence.fps, names=(frame_id,))
        match = match_gt_head(heads, sequence.bbox[t])
        if match is not None:
            for variant, head in (("raw", match.raw), ("smoothed", match.head)):
                out[variant].landmarks[t] = head.landmarks
                out[variant].rotations[t] = head.rotation
                out[variant].track[t] = match.track_id
        if on_frame is not None:
            on_frame()
    return out


def _segments(track: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of frames with one matched track id."""
    runs, start = [], None
    for t in range(len(track) + 1):
        if start is not None and (t == len(track) or track[t] != track[start]):
            runs.append((start, t))
            start = None
        if start is None and t < len(track) and track[t] >= 0:
            start = t
    return runs


def _segment_mean(function, series: np.ndarray, runs: list[tuple[int, int]], **kwargs) -> tuple[float, int]:
    """(mean of ``function`` over the runs weighted by their acceleration terms, number of terms)."""
    total, terms = 0.0, 0
    for start, end in runs:
        n = end - start - 2
        if n > 0:
            value = function(series[start:end], **{k: v[start:end] for k, v in kwargs.items()})
            if math.isfinite(value):
                total, terms = total + value * n, terms + n
    return (total / terms if terms else math.nan), terms


def series_metrics(series: SeriesPrediction, sequence: VideoSequence, *, max_lag: int = 10) -> dict[str, Any]:
    """The scores of one variant of one sequence (see the module docstring); ``*_terms`` / ``scored``
    are the counts behind the means."""
    found = series.track >= 0
    runs = _segments(series.track)
    jitter_lmk, lmk_terms = _segment_mean(landmark_jitter, series.landmarks, runs, bbox=sequence.bbox)
    jitter_pose, pose_terms = _segment_mean(rotation_jitter, series.rotations, runs)
    nmes = (
        nme(series.landmarks[found], sequence.landmarks[found], bbox=sequence.bbox[found])
        if found.any()
        else np.zeros(0)
    )
    errors = pose_error(series.rotations[found], sequence.rotations[found]) if found.any() else np.zeros(0)
    angles = pose_angle(series.rotations[found], sequence.rotations[found]) if found.any() else np.zeros(0)
    mean = lambda v: float(np.mean(v)) if len(v) else math.nan  # noqa: E731
    return {
        "scored": int(found.sum()),
        "nme": mean(nmes),
        "pose_error": mean(errors),
        "pose_deg": mean(angles),
        "jitter_landmarks": jitter_lmk,
        "jitter_pose_deg": jitter_pose,
        "jitter_terms": lmk_terms,
        "lag_landmarks": motion_lag(
            landmark_series(series.landmarks, bbox=sequence.bbox),
            landmark_series(sequence.landmarks, bbox=sequence.bbox),
            max_lag=max_lag,
        ),
        "lag_pose": motion_lag(
            rotation_series(series.rotations), rotation_series(sequence.rotations), max_lag=max_lag
        ),
    }


def _gt_metrics(sequence: VideoSequence) -> dict[str, Any]:
    return {
        "jitter_landmarks": landmark_jitter(sequence.landmarks, bbox=sequence.bbox),
        "jitter_pose_deg": rotation_jitter(sequence.rotations),
        "jitter_terms": max(sequence.frames - 2, 0),
    }


def _sequence_result(
    series: dict[str, SeriesPrediction], sequence: VideoSequence, max_lag: int
) -> dict[str, Any]:
    track = series["raw"].track
    matched = track[track >= 0]
    return {
        "frames": sequence.frames,
        "found": int(matched.size),
        "id_switches": int((matched[1:] != matched[:-1]).sum()),
        "tracks": int(np.unique(matched).size),
        "gt": _gt_metrics(sequence),
        **{v: series_metrics(series[v], sequence, max_lag=max_lag) for v in VARIANTS},
    }


def _weighted(rows: list[dict[str, Any]], key: str, weight: str) -> float:
    pairs = [(r[key], r[weight]) for r in rows if math.isfinite(r[key]) and r[weight] > 0]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else math.nan


def _overall(sequences: dict[str, dict[str, Any]]) -> dict[str, Any]:
    results = list(sequences.values())
    out: dict[str, Any] = {
        key: sum(r[key] for r in results) for key in ("frames", "found", "id_switches", "tracks")
    }
    gt_rows = [r["gt"] for r in results]
    out["gt"] = {k: _weighted(gt_rows, k, "jitter_terms") for k in ("jitter_landmarks", "jitter_pose_deg")}
    for variant in VARIANTS:
        rows = [r[variant] for r in results]
        summary = {k: _weighted(rows, k, "scored") for k in ("nme", "pose_error", "pose_deg")}
        summary.update(
            {k: _weighted(rows, k, "jitter_terms") for k in ("jitter_landmarks", "jitter_pose_deg")}
        )
        for key in ("lag_landmarks", "lag_pose"):
            lags = [r[key] for r in rows if math.isfinite(r[key])]
            summary[key] = float(np.mean(lags)) if lags else math.nan
        summary["scored"] = sum(r["scored"] for r in rows)
        out[variant] = summary
    return out


def evaluate_videos(
    aligner: HeadAligner,
    folders: Iterable[str | Path],
    *,
    topology: BenchmarkTopology,
    tracking: TrackerOptions | None = None,
    smoothing: SmoothingOptions | None = None,
    gt_boxes: bool = True,
    max_lag: int = 10,
    on_frame: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Score the aligner on synthetic sequences: {"sequences": {name: ...}, "overall": ..., options}."""
    tracking, smoothing = tracking or TrackerOptions(), smoothing or SmoothingOptions()
    sequences = {}
    for folder in folders:
        sequence = load_sequence(folder, topology=topology)
        series = track_sequence(
            aligner, sequence, tracking=tracking, smoothing=smoothing, gt_boxes=gt_boxes, on_frame=on_frame
        )
        sequences[sequence.name] = _sequence_result(series, sequence, max_lag)
    return {
        "sequences": sequences,
        "overall": _overall(sequences),
        "detector": "gt boxes" if gt_boxes else "aligner",
        "tracking": vars(tracking).copy(),
        "smoothing": smoothing.to_dict(),
        "max_lag": max_lag,
    }

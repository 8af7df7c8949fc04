"""Tune the video smoothing for a checkpoint: jitter, lag and error of a grid of One Euro filters.

Runs the checkpoint with tracking (smoothing off) once over the sequences of a ``synth --video`` dataset,
keeps each frame's raw prediction of the GT head, then replays every filter setting of the grid on those
predictions.  The replay is exactly what ``eval-video`` would measure for that setting: the smoother only
post-processes predictions, it never changes which crops the tracker takes.  Prints a markdown table
(ratios and differences against the unsmoothed predictions, means over the sequences) and writes it with
the raw figures as JSON.

    .venv/bin/trans3dhead synth runs/videos --video 4 --frames 100 --size 128 --seed 1
    .venv/bin/python benchmarks/video_smoothing.py --checkpoint src/trans3dhead/pretrained/demo_mnv2_128.pt \\
        --data runs/videos --min-cutoff 1 1.5 2 --beta 7 10 15 --order 1 2 --out runs/video_smoothing.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
import torch

from trans3dhead.data.io import read_image
from trans3dhead.inference import BoxesDetector, HeadAligner
from trans3dhead.inference.one_euro import OneEuroParams
from trans3dhead.inference.smoothing import SMOOTHED_QUANTITIES, HeadSmoother, SmoothingOptions
from trans3dhead.inference.tracking import TrackerOptions
from trans3dhead.inference.video_eval import (
    SeriesPrediction,
    find_sequences,
    load_sequence,
    match_gt_head,
    series_metrics,
)
from trans3dhead.inference.video_tracker import VideoTracker
from trans3dhead.metrics.topology import BenchmarkTopology
from trans3dhead.models.build import model_from_checkpoint

KEYS = ("nme", "pose_error", "jitter_landmarks", "jitter_pose_deg", "lag_landmarks", "lag_pose")


def record(aligner: HeadAligner, sequence, tracking: TrackerOptions) -> list:
    """(track id, raw HeadPrediction) of the GT head per frame, None where none was found."""
    detector = BoxesDetector(
        table={f: [tuple(b)] for f, b in zip(sequence.frame_ids, sequence.bbox.tolist(), strict=True)}
    )
    tracker = VideoTracker(
        aligner=aligner,
        tracking=tracking,
        smoothing=SmoothingOptions(enabled=False),
        fps=sequence.fps,
        detector=detector,
    )
    out = []
    for t, (frame_id, path) in enumerate(zip(sequence.frame_ids, sequence.images, strict=True)):
        heads = tracker.step(read_image(path), names=(frame_id,))
        match = match_gt_head(heads, sequence.bbox[t])
        out.append(None if match is None else (match.track_id, match.raw))
    return out


def replay(records: list, sequence, smoothing: SmoothingOptions) -> SeriesPrediction:
    frames, count = sequence.frames, sequence.landmarks.shape[1]
    series = SeriesPrediction(
        np.full((frames, count, 2), np.nan), np.full((frames, 3, 3), np.nan), np.full(frames, -1)
    )
    smoothers: dict[int, HeadSmoother] = {}
    for t, entry in enumerate(records):
        if entry is None:
            continue
        track, raw = entry
        smoother = smoothers.setdefault(track, HeadSmoother(options=smoothing))
        head = smoother(raw, t / sequence.fps)
        series.landmarks[t], series.rotations[t], series.track[t] = head.landmarks, head.rotation, track
    return series


def mean_scores(runs: list[tuple[list, object]], smoothing: SmoothingOptions) -> dict[str, float]:
    rows = [series_metrics(replay(records, sequence, smoothing), sequence) for records, sequence in runs]
    return {k: float(np.nanmean([r[k] for r in rows])) for k in KEYS}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="root of a synth --video dataset")
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--min-cutoff", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--beta", type=float, nargs="+", default=[7.0, 10.0, 15.0])
    parser.add_argument("--d-cutoff", type=float, nargs="+", default=[1.0])
    parser.add_argument("--order", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lead", type=float, nargs="+", default=[0.0])
    parser.add_argument(
        "--quantities",
        nargs="+",
        choices=SMOOTHED_QUANTITIES,
        default=list(SMOOTHED_QUANTITIES),
        help="the filters the grid sets (the others keep their defaults)",
    )
    parser.add_argument("--out", type=Path, help="JSON file for the table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, _, assets = model_from_checkpoint(args.checkpoint)  # the GT landmark embedding of its head model
    aligner = HeadAligner.from_checkpoint(args.checkpoint, "cpu")
    topology = BenchmarkTopology.from_assets(assets)
    tracking = TrackerOptions(detect_every=args.detect_every)
    runs = []
    for folder in find_sequences(args.data):
        sequence = load_sequence(folder, topology=topology)
        runs.append((record(aligner, sequence, tracking), sequence))
    raw = mean_scores(runs, SmoothingOptions(enabled=False))
    rows = [("default", SmoothingOptions())]
    grid = itertools.product(args.min_cutoff, args.beta, args.d_cutoff, args.order, args.lead)
    for mc, beta, dc, order, lead in grid:
        params = OneEuroParams(min_cutoff=mc, beta=beta, d_cutoff=dc, order=order, lead=lead)
        label = f"min_cutoff {mc:g}, beta {beta:g}, d_cutoff {dc:g}, order {order}, lead {lead:g}"
        rows.append((label, SmoothingOptions(**{q: params for q in args.quantities})))
    print(f"{len(runs)} sequences; raw: " + ", ".join(f"{k} {raw[k]:.4g}" for k in KEYS))
    print(f"\nfilters set: {', '.join(args.quantities)}\n")
    print("| filter | jitter lmk | jitter pose | lag lmk | lag pose | NME | pose error |")
    print("|---|---|---|---|---|---|---|")
    table = []
    for label, smoothing in rows:
        s = mean_scores(runs, smoothing)
        table.append({"filter": label, "smoothing": smoothing.to_dict(), **s})
        print(
            f"| {label} | x{s['jitter_landmarks'] / raw['jitter_landmarks']:.2f} | "
            f"x{s['jitter_pose_deg'] / raw['jitter_pose_deg']:.2f} | "
            f"{s['lag_landmarks'] - raw['lag_landmarks']:+.2f} | {s['lag_pose'] - raw['lag_pose']:+.2f} | "
            f"{s['nme'] - raw['nme']:+.3f} | {s['pose_error'] - raw['pose_error']:+.4f} |"
        )
    if args.out:
        document = {"raw": raw, "rows": table, "sequences": len(runs), "detect_every": args.detect_every}
        args.out.write_text(json.dumps(_finite(document), indent=1) + "\n", encoding="utf-8")


def _finite(value):
    """NaN -> None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


if __name__ == "__main__":
    main()

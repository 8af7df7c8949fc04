"""Tune the video smoothing for a checkpoint: jitter, lag and error of a grid of One Euro or alpha-beta
filters.

Runs the checkpoint with tracking (smoothing off) once over the sequences of a ``synth --video`` dataset,
keeps each frame's raw prediction of the GT head, then replays every filter setting of the grid on those
predictions.  The replay is exactly what ``eval-video`` would measure for that setting: the smoother only
post-processes predictions, it never changes which crops the tracker takes.  Prints a markdown table
(ratios and differences against the unsmoothed predictions, means over the sequences) and writes it with
the raw figures as JSON.

    .venv/bin/trans3dhead synth runs/videos --video 4 --frames 100 --size 128 --seed 1
    .venv/bin/python benchmarks/video_smoothing.py --checkpoint src/trans3dhead/pretrained/demo_mnv2_128.pt \\
        --data runs/videos --min-cutoff 1 1.5 2 --beta 7 10 15 --order 1 2 --out runs/video_smoothing.json
    .venv/bin/python benchmarks/video_smoothing.py --checkpoint src/trans3dhead/pretrained/demo_mnv2_128.pt \
        --data runs/videos --kind alpha-beta --alpha 0.4 0.5 0.6 --ab-beta 0.1 0.2 0.3 --quantities landmarks

The first rows are the defaults and the positions' One Euro filter (``POSITION_ONE_EURO``) for reference.

``--choose A.json B.json ...`` (no checkpoint needed) applies the selection rule of ``docs/video.md`` to
the tables of several sets swept with the same grid: among the filters that cut the landmark jitter to at
most ``--max-jitter`` (0.45) of the raw predictions' with at most 1 frame of added lag on every set, the one
whose worst NME change over the sets is lowest (``--metric pose``: the same with the pose's jitter, lag
and pose error).
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
from trans3dhead.inference.alpha_beta import AlphaBetaParams
from trans3dhead.inference.one_euro import OneEuroParams
from trans3dhead.inference.smoothing import (
    POSE_ONE_EURO,
    POSITION_ONE_EURO,
    SMOOTHED_QUANTITIES,
    HeadSmoother,
    SmoothingOptions,
)
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
    parser.add_argument("--checkpoint")
    parser.add_argument("--data", help="root of a synth --video dataset")
    parser.add_argument("--choose", type=Path, nargs="+", metavar="JSON", help="pick a filter (see above)")
    parser.add_argument("--max-jitter", type=float, default=0.45, help="jitter ratio bound of --choose")
    parser.add_argument(
        "--metric", choices=("landmarks", "pose"), default="landmarks", help="what --choose scores"
    )
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--min-cutoff", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--beta", type=float, nargs="+", default=[7.0, 10.0, 15.0])
    parser.add_argument("--d-cutoff", type=float, nargs="+", default=[1.0])
    parser.add_argument("--order", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lead", type=float, nargs="+", default=[0.0])
    parser.add_argument(
        "--kind", choices=("one-euro", "alpha-beta"), default="one-euro", help="the filter the grid varies"
    )
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.4, 0.5, 0.6], help="alpha-beta gains")
    parser.add_argument("--ab-beta", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="alpha-beta gains")
    parser.add_argument(
        "--quantities",
        nargs="+",
        choices=SMOOTHED_QUANTITIES,
        default=list(SMOOTHED_QUANTITIES),
        help="the filters the grid sets (the others keep their defaults)",
    )
    parser.add_argument("--out", type=Path, help="JSON file for the table")
    args = parser.parse_args()
    if args.choose:
        choose(args.choose, max_jitter=args.max_jitter, metric=args.metric)
        return
    if not (args.checkpoint and args.data):
        parser.error("--checkpoint and --data are required (unless --choose)")
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
    position_one_euro = {q: POSITION_ONE_EURO for q in ("translation", "landmarks")}
    pose_one_euro = {q: POSE_ONE_EURO for q in ("rotation", "scale")}
    rows = [
        ("default", SmoothingOptions()),
        ("positions: One Euro", SmoothingOptions(**position_one_euro)),
        ("pose: One Euro", SmoothingOptions(**pose_one_euro)),
    ]
    for label, params in _grid(args):
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


def choose(paths: list[Path], *, max_jitter: float, metric: str = "landmarks") -> None:
    """Print every filter that meets the bounds on every set, best first (see the module docstring)."""
    jitter_key, lag_key, error_key = {
        "landmarks": ("jitter_landmarks", "lag_landmarks", "nme"),
        "pose": ("jitter_pose_deg", "lag_pose", "pose_error"),
    }[metric]
    tables = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    candidates = []
    for i, row in enumerate(tables[0]["rows"]):
        rows = [t["rows"][i] for t in tables]
        if any(r["filter"] != row["filter"] for r in rows):
            raise SystemExit(f"the tables differ at row {i}: sweep every set with the same grid")
        if row["filter"] == "default":  # the defaults of the code that swept each set, not one filter
            continue
        pairs = list(zip(rows, tables, strict=True))
        jitter = [r[jitter_key] / t["raw"][jitter_key] for r, t in pairs]
        lag = [r[lag_key] - t["raw"][lag_key] for r, t in pairs]
        nme = [r[error_key] - t["raw"][error_key] for r, t in pairs]
        if max(jitter) <= max_jitter and max(lag) <= 1.0:
            candidates.append((max(nme), row["filter"], jitter, lag, nme))
    print(f"filters with {metric} jitter <= x{max_jitter:g} and lag <= +1 frame on all {len(tables)} sets:")
    for worst, label, jitter, lag, nme in sorted(candidates):
        print(
            f"  {label}: worst {error_key} change {worst:+.4f}; jitter "
            + " / ".join(f"x{j:.2f}" for j in jitter)
            + "; lag "
            + " / ".join(f"{g:+.2f}" for g in lag)
            + f"; {error_key} "
            + " / ".join(f"{n:+.4f}" for n in nme)
        )
    if not candidates:
        print("  none")


def _grid(args: argparse.Namespace) -> list:
    """(label, filter parameters) of every grid point."""
    if args.kind == "alpha-beta":
        return [
            (f"alpha-beta {a:g}, {b:g}", AlphaBetaParams(alpha=a, beta=b))
            for a, b in itertools.product(args.alpha, args.ab_beta)
        ]
    grid = itertools.product(args.min_cutoff, args.beta, args.d_cutoff, args.order, args.lead)
    return [
        (
            f"min_cutoff {mc:g}, beta {beta:g}, d_cutoff {dc:g}, order {order}, lead {lead:g}",
            OneEuroParams(min_cutoff=mc, beta=beta, d_cutoff=dc, order=order, lead=lead),
        )
        for mc, beta, dc, order, lead in grid
    ]


def _finite(value):
    """NaN -> None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


if __name__ == "__main__":
    main()

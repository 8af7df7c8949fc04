"""``trans3dhead eval-video --checkpoint FILE --data ROOT --out DIR``: accuracy, jitter and lag of tracked and
smoothed predictions on synthetic videos (``synth --video``), with and without smoothing in one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trans3dhead.cli._common import add_asset_args, add_flip_arg, add_video_args, video_options
from trans3dhead.errors import InputError
from trans3dhead.frames import LANDMARK_SOURCES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-video",
        help="landmark / pose error, jitter and lag on synthetic videos, with and without smoothing",
        description="Runs the checkpoint with tracking and smoothing over every sequence of a `trans3dhead "
        "synth --video` dataset and scores each frame's head twice, as predicted and as smoothed: NME, pose "
        "error, jitter (mean acceleration, beside the ground truth's own) and lag (frames).  Writes "
        "OUT/metrics.json and OUT/metrics.md.  See docs/video.md.",
    )
    p.add_argument("--checkpoint", required=True, help="trained checkpoint (best.pt / last.pt)")
    p.add_argument("--data", required=True, help="root of a synth --video dataset")
    p.add_argument("--sequence", action="append", metavar="NAME", help="only these sequences (repeatable)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--detector",
        choices=("gt", "aligner"),
        default="gt",
        help="what finds heads on detection frames: the GT head boxes (default) or the aligner's detector "
        "(OpenCV Haar cascades)",
    )
    p.add_argument(
        "--landmarks", choices=LANDMARK_SOURCES, help="default: the checkpoint's model.landmarks"
    )
    p.add_argument("--max-lag", type=int, default=10, metavar="K", help="lags searched, in frames (10)")
    p.add_argument("--batch", type=int, default=8, help="heads per network call (default 8)")
    p.add_argument("--device", default="cpu")
    add_flip_arg(p)
    add_video_args(p)
    add_asset_args(p)
    p.set_defaults(func=evaluate_video)


def evaluate_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trans3dhead.inference import HeadAligner, MeshInfo
    from trans3dhead.inference.video_eval import evaluate_videos, find_sequences
    from trans3dhead.inference.video_report import write_video_report
    from trans3dhead.metrics.topology import BenchmarkTopology
    from trans3dhead.models.build import model_from_checkpoint
    from trans3dhead.outputs import check_output_dir

    for name in ("batch", "max_lag"):
        if getattr(args, name) < (1 if name == "batch" else 0):
            raise InputError(
                f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}"
            )
    tracking, smoothing = video_options(args)
    folders = find_sequences(args.data, args.sequence)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"{args.checkpoint}: checkpoint not found")
    check_output_dir(args.out)
    model, config, assets = model_from_checkpoint(
        args.checkpoint, flame=args.flame, aux=args.aux, device=args.device
    )
    aligner = (
        HeadAligner(  # the checkpoint's settings, as HeadAligner.from_checkpoint sets them
            backend=_backend(model, device=args.device, flip=args.flip, source=assets.model.source),
            mesh=MeshInfo.from_flame(model.flame),
            batch_size=args.batch,
            landmark_source=args.landmarks or config.model.landmarks,
            crop_style=config.model.crop,
            camera_focal=config.model.camera_focal,
        )
    )
    frames = sum(1 for folder in folders for _ in (folder / "images").glob("*.png"))
    with tqdm(total=frames, desc="eval-video", unit="frame", file=sys.stderr, disable=None) as bar:
        report = evaluate_videos(
            aligner,
            folders,
            topology=BenchmarkTopology.from_assets(assets),
            tracking=tracking,
            smoothing=smoothing,
            gt_boxes=args.detector == "gt",
            max_lag=args.max_lag,
            on_frame=lambda: bar.update(1),
        )
    _, markdown = write_video_report(report, args.out, checkpoint=str(args.checkpoint), data=str(args.data))
    overall = report["overall"]
    for variant in ("raw", "smoothed"):
        r = overall[variant]
        print(
            f"{variant:>8}: NME {r['nme']:.3f}  pose error {r['pose_error']:.4f}  jitter lmk "
            f"{r['jitter_landmarks']:.3f} pose {r['jitter_pose_deg']:.3f}  lag lmk {r['lag_landmarks']:.2f} "
            f"pose {r['lag_pose']:.2f}"
        )
    gt = overall["gt"]
    print(f"{'truth':>8}: jitter lmk {gt['jitter_landmarks']:.3f} pose {gt['jitter_pose_deg']:.3f}")
    print(f"report: {markdown}")
    return 0


def _backend(model, *, device: str, flip: bool, source: str):
    """The model on ``device``, averaged with the mirrored crops when ``flip``."""
    from trans3dhead.inference import TorchBackend

    backend = TorchBackend(model=model, device=device)
    if not flip:
        return backend
    from trans3dhead.models.flip import FlipBackend

    return FlipBackend(backend=backend, flame=model.flame, source=source)

"""``trans3dhead predict --checkpoint FILE INPUT... --out DIR``: align heads in images, folders and videos.

Exit codes: 0 when at least one image or video was processed (failures of others are listed in
``OUT/errors.json`` and on stderr), 1 when nothing could be processed, 2 for bad arguments (missing
checkpoint or input, unreadable boxes file, ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trans3dhead.cli._common import (
    add_asset_args,
    add_camera_focal_arg,
    add_flip_arg,
    add_video_args,
    camera_focal_choice,
    video_options,
)
from trans3dhead.errors import InputError
from trans3dhead.frames import PREDICTION_LANDMARK_SOURCES

_EPILOG = """\
outputs, per image: OUT/<key>.json (result, schema: trans3dhead/inference/prediction_schema.json),
OUT/<key>.png (annotated: mesh overlay, head box, 68 landmarks, pose axes) and, with --meshes,
OUT/<key>.head<i>.obj/.ply.  Per video frame the same under OUT/<key>/frame_<n>, plus the annotated
video OUT/<key>.annotated.mp4; video heads are tracked (track_id) and smoothed (the network's values
under "raw"), the detector runs every --detect-every frames (docs/video.md).  <key> is the file's
stem, or <folder>/<relative path> for files found in a folder (folders are searched recursively).
OUT/summary.json and OUT/errors.json sum up the run.
--boxes FILE.json holds {"name": [[x, y, w, h], ...], ...}: name is the path relative to the folder
given, or the file name; "clip.mp4#12" gives the boxes of frame 12 of a video (used on detection
frames: give --detect-every 1 to use every frame's boxes).
exit status: 0 if anything was processed, 1 if nothing could be, 2 for bad arguments."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="align every head in images, folders and videos; write JSON, annotated images, meshes",
        description="Detect heads (OpenCV Haar cascades by default), align them with a trained model and "
        "write the results.  See docs/inference.md.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, or folders of them")
    p.add_argument("--checkpoint", required=True, help="trained checkpoint (best.pt / last.pt)")
    p.add_argument("--out", required=True, help="output folder")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--boxes", metavar="FILE", help="JSON head boxes per image instead of detection")
    boxes.add_argument("--full-image", action="store_true", help="use the whole image as the head box")
    p.add_argument("--backend", choices=("torch", "onnx"), help="default: onnx with --onnx, else torch")
    p.add_argument("--onnx", metavar="FILE", help="exported model; --backend onnx without it exports one")
    p.add_argument("--batch", type=int, default=8, help="heads per network call (default 8)")
    p.add_argument("--meshes", action="store_true", help="also write each head's mesh")
    p.add_argument("--mesh-format", choices=("obj", "ply", "both"), default="obj", help="(default obj)")
    p.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch / ONNX Runtime (default: their own)")
    p.add_argument(
        "--landmarks",
        choices=PREDICTION_LANDMARK_SOURCES,
        help="68 landmarks from the projected FLAME mesh, the landmark branch, or DAD-3DNet's heatmap "
        "argmax (torch backend); default: the checkpoint's model.landmarks (flame; branch for an imported "
        "DAD-3DNet)",
    )
    add_camera_focal_arg(p)
    add_flip_arg(p)
    p.add_argument("--frame-step", type=int, default=1, help="process every N-th video frame (default 1)")
    p.add_argument("--no-frame-images", action="store_true", help="no annotated PNG per video frame")
    add_video_args(p)
    add_asset_args(p)
    p.set_defaults(func=predict)


def _check_args(args: argparse.Namespace) -> str:
    for name in ("batch", "frame_step", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    camera_focal_choice(args)  # a bad value fails before any work
    backend = args.backend or ("onnx" if args.onnx else "torch")
    if backend == "torch" and args.onnx:
        raise InputError("--onnx FILE runs with --backend onnx, not --backend torch")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"{args.checkpoint}: checkpoint not found")
    from trans3dhead.outputs import check_output_dir

    check_output_dir(args.out)
    return backend


def _detector(args: argparse.Namespace):
    from trans3dhead.inference import BoxesDetector, FullImageDetector, HaarDetector, load_boxes_file

    if args.boxes:
        return BoxesDetector(table=load_boxes_file(args.boxes))
    return FullImageDetector() if args.full_image else HaarDetector()


def _onnx_file(args: argparse.Namespace, out_dir: Path) -> Path:
    """The --onnx file, or a fresh export of the checkpoint to OUT/model.onnx."""
    if args.onnx:
        return Path(args.onnx)
    from trans3dhead.inference.export import export_onnx
    from trans3dhead.models.build import model_from_checkpoint

    model, _, _ = model_from_checkpoint(args.checkpoint, flame=args.flame, aux=args.aux, device="cpu")
    path = export_onnx(model, out_dir / "model.onnx")
    print(f"exported {path}", file=sys.stderr)
    return path


def _total_items(inputs, frame_step: int) -> int:
    from trans3dhead.data.video_io import VideoReadError, open_video

    total = 0
    for source in inputs:
        if not source.is_video:
            total += 1
            continue
        try:
            capture, info = open_video(source.path)
            capture.release()
            total += -(-info.frames // frame_step)
        except VideoReadError:
            total += 1
    return total


def predict(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from trans3dhead import jsonio
    from trans3dhead.inference import HeadAligner
    from trans3dhead.inference.inputs import collect_inputs
    from trans3dhead.inference.runner import PredictRunner, RunOptions

    backend = _check_args(args)
    tracking, smoothing = video_options(args)
    inputs = collect_inputs(args.inputs)
    if not inputs:
        raise InputError(f"no image or video files found in {' '.join(args.inputs)}")
    detector = _detector(args)
    out_dir = Path(args.out)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    aligner = HeadAligner.from_checkpoint(
        args.checkpoint,
        args.device,
        flame=args.flame,
        aux=args.aux,
        detector=detector,
        onnx=_onnx_file(args, out_dir) if backend == "onnx" else None,
        onnx_threads=args.threads,
        batch_size=args.batch,
        landmark_source=args.landmarks,
        camera_focal=camera_focal_choice(args),
        flip=args.flip,
    )
    options = RunOptions(
        out_dir=out_dir,
        meshes=args.mesh_format if args.meshes else None,
        frame_images=not args.no_frame_images,
        frame_step=args.frame_step,
        backend=backend,
        checkpoint=str(args.checkpoint),
        tracking=tracking,
        smoothing=smoothing,
    )
    bar = tqdm(total=_total_items(inputs, args.frame_step), desc="predict", unit="img", file=sys.stderr)
    with logging_redirect_tqdm(), bar:
        summary = PredictRunner(aligner=aligner, options=options, on_item=lambda: bar.update(1)).run(inputs)
    (out_dir / "errors.json").write_text(jsonio.dumps(summary.errors, indent=2), encoding="utf-8")
    (out_dir / "summary.json").write_text(jsonio.dumps(summary.to_dict(), indent=2), encoding="utf-8")
    print(
        f"processed {summary.images} image(s), {summary.videos} video(s) ({summary.frames} frames): "
        f"{summary.heads} head(s); {len(summary.errors)} error(s); results in {out_dir}"
    )
    if summary.errors:
        print(
            f"trans3dhead predict: {len(summary.errors)} error(s), see {out_dir / 'errors.json'}",
            file=sys.stderr,
        )
    return 0 if summary.processed else 1

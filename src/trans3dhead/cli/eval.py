"""``trans3dhead eval``: a checkpoint on a DAD-3DHeads-format split or on AFLW2000-3D."""

from __future__ import annotations

import argparse
import sys

from trans3dhead.cli._common import add_asset_args, add_camera_focal_arg, add_flip_arg, camera_focal_choice
from trans3dhead.errors import InputError
from trans3dhead.frames import LANDMARK_SOURCES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint on a DAD-3DHeads-format split (or AFLW2000-3D)",
        description="Writes submission.json and, for an annotated split, gt.json and the benchmark report "
        "(metrics.json / metrics.md, per-attribute rows); `trans3dhead score --gt OUT/gt.json --submission "
        "OUT/submission.json` reproduces the report.  With --dataset aflw2000: the Euler MAE table.",
    )
    p.add_argument(
        "--checkpoint", required=True, help="checkpoint written by `trans3dhead train` (best.pt/last.pt)"
    )
    p.add_argument(
        "--data", required=True, help="dataset root (DAD-3DHeads layout) or the AFLW2000-3D folder"
    )
    p.add_argument("--split", default="val", help="split of a DAD-3DHeads-format dataset (default val)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--dataset", choices=("dad3dheads", "aflw2000"), default="dad3dheads")
    p.add_argument(
        "--landmarks",
        choices=LANDMARK_SOURCES,
        help="2D landmarks to submit: projected FLAME mesh or the landmark branch (default: the "
        "checkpoint's model.landmarks, flame unless set; branch for an imported DAD-3DNet)",
    )
    add_camera_focal_arg(p)
    add_flip_arg(p)
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--all-angles", action="store_true", help="AFLW2000-3D: keep images beyond +-99 degrees")
    add_asset_args(p)
    p.set_defaults(func=evaluate)


def evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trans3dhead.engine.evaluate import evaluate_aflw2000, evaluate_split
    from trans3dhead.models.build import model_from_checkpoint
    from trans3dhead.outputs import check_output_dir, undo_on_failure

    if args.batch < 1:
        raise InputError(f"--batch must be positive, got {args.batch}")
    choice = camera_focal_choice(args)
    check_output_dir(args.out)
    model, config, assets = model_from_checkpoint(
        args.checkpoint, flame=args.flame, aux=args.aux, device=args.device
    )

    def bar(items):
        return tqdm(items, desc="eval", unit="batch", file=sys.stderr, disable=None)

    size, crop_style = config.model.input_size, config.model.crop
    focal = config.model.camera_focal if choice == "config" else choice
    if args.dataset == "aflw2000":
        if choice not in ("config", None):
            raise InputError("--camera-focal: --dataset aflw2000 scores the Euler angles as predicted")
        if focal is not None:
            print("AFLW2000-3D: Euler angles as predicted (model.camera_focal not applied)", file=sys.stderr)
        table = evaluate_aflw2000(
            model,
            root=args.data,
            out_dir=args.out,
            input_size=size,
            batch_size=args.batch,
            filter_range=not args.all_angles,
            device=args.device,
            progress=bar,
            crop_style=crop_style,
            flip=args.flip,
        )
        print(
            f"AFLW2000-3D ({table.count} images): yaw {table.yaw:.3f}  pitch {table.pitch:.3f}  "
            f"roll {table.roll:.3f}  MAE {table.mean:.3f}"
        )
        return 0
    with undo_on_failure(args.out):  # no submission left without its report
        result = evaluate_split(
            model,
            assets=assets,
            root=args.data,
            split=args.split,
            out_dir=args.out,
            input_size=size,
            batch_size=args.batch,
            workers=args.workers,
            landmark_source=args.landmarks or config.model.landmarks,
            device=args.device,
            progress=bar,
            crop_style=crop_style,
            camera_focal=focal,
            flip=args.flip,
        )
    if result is None:
        print(f"{args.split}: no annotations; wrote {args.out}/submission.json only")
        return 0
    for key in result.metric_keys:
        summary = result.overall[key]
        if summary.mean is not None:
            print(f"{key:>18}: {summary.mean:.6f}  ({summary.scored}/{summary.total})")
    print(f"report: {args.out}/metrics.md")
    return 0

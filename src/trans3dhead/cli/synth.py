"""``trans3dhead synth OUT --train N --val N --test N``: generate a synthetic DAD-3DHeads-format dataset;
``trans3dhead synth OUT --video N``: synthetic videos with known head motion (``docs/video.md``)."""

from __future__ import annotations

import argparse
import sys
import time

from trans3dhead.cli._common import add_asset_args

MIN_SIZE = 32  # mirrors trans3dhead.data.synthetic.item.MIN_SIZE (not imported: keeps --help fast)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate a synthetic DAD-3DHeads-format dataset, or synthetic videos (resumable)",
        description="Render random heads of the head model into OUT/{train,val,test} in the DAD-3DHeads "
        "layout, or with --video N sequences of one moving head into OUT/video_<n>/ (frames, per-frame "
        "annotations, OUT/video_<n>.mp4).  Re-running the same command resumes an interrupted run; the "
        "output only depends on the seed and the settings, not on --workers.  See docs/synthetic.md and "
        "docs/video.md.",
    )
    p.add_argument("out", help="output dataset root")
    for split in ("train", "val", "test"):
        p.add_argument(f"--{split}", type=_count, default=0, metavar="N", help=f"{split} items (default 0)")
    p.add_argument("--size", type=_at_least(MIN_SIZE), default=256, metavar="PX", help="image side (256)")
    p.add_argument("--seed", type=_count, default=0, metavar="S", help="dataset seed (default 0)")
    p.add_argument("--workers", type=_at_least(1), default=1, metavar="K", help="worker processes (1)")
    p.add_argument(
        "--focal",
        type=float,
        nargs=2,
        default=(0.9, 4.0),
        metavar=("LOW", "HIGH"),
        help="focal length range in image sizes, log-uniform (default 0.9 4: wide angle to tele)",
    )
    p.add_argument(
        "--pose-mix",
        type=float,
        nargs=3,
        default=None,
        metavar=("NEAR", "WIDE", "ANY"),
        help="shares of the near-frontal, wide and anything poses (the last holds the back views), "
        "summing to 1 (default 0.55 0.30 0.15; docs/synthetic.md)",
    )
    p.add_argument(
        "--supersample", type=_at_least(1), default=1, metavar="N", help="anti-aliasing samples per axis (1)"
    )
    video = p.add_argument_group("videos (--video N)")
    video.add_argument("--video", type=_count, default=0, metavar="N", help="sequences to render (default 0)")
    video.add_argument(
        "--frames", type=_at_least(3), default=100, metavar="T", help="frames per sequence (100)"
    )
    video.add_argument("--fps", type=_positive, default=25.0, help="frame rate (default 25)")
    video.add_argument(
        "--occluders", type=_count, default=1, metavar="K", help="occluder passes per sequence (default 1)"
    )
    video.add_argument(
        "--noise", type=_non_negative, default=2.0, metavar="SIGMA", help="per-frame pixel noise, 0-255 (2)"
    )
    add_asset_args(p)
    p.set_defaults(func=synth)


def synth(args: argparse.Namespace) -> int:
    counts = {"train": args.train, "val": args.val, "test": args.test}
    problem = None
    if args.video and any(counts.values()):
        problem = "--video makes a video dataset: give it an OUT of its own, without --train/--val/--test"
    elif args.video and args.workers > 1:
        problem = "--video renders frames in order in one process: leave out --workers"
    elif args.video and args.pose_mix is not None:
        problem = "--pose-mix sets the poses of image datasets: a video's poses follow its motion"
    elif not args.video and not any(counts.values()):
        problem = "nothing to generate: give --train, --val and/or --test (or --video)"
    if problem:
        print(f"trans3dhead synth: error: {problem}", file=sys.stderr)
        return 2
    from trans3dhead.outputs import check_output_dir

    check_output_dir(args.out, option="OUT")  # fail before loading the head model
    import torch

    # One item is small work: extra intra-op threads only contend with each other and the worker
    # processes.  The command owns its process; the previous setting is restored for in-process callers.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        made, skipped, seconds = _run(args, counts)
    finally:
        torch.set_num_threads(threads)
    rate = made / seconds if seconds > 0 else 0.0
    print(
        f"{args.out}: {made} images generated, {skipped} already complete, {seconds:.1f} s ({rate:.1f} img/s)"
    )
    return 0


def _run(args: argparse.Namespace, counts: dict[str, int]) -> tuple[int, int, float]:
    from tqdm import tqdm

    from trans3dhead.data.synthetic import SceneOptions, generate_dataset
    from trans3dhead.data.synthetic.video import VideoOptions, generate_video_dataset
    from trans3dhead.flame import load_assets

    mix = {} if args.pose_mix is None else {"pose_mix": tuple(args.pose_mix)}
    options = SceneOptions(
        size=args.size, supersample=args.supersample, focal_range=tuple(args.focal), **mix
    )
    assets = load_assets(args.flame, args.aux)
    if args.video:
        video = VideoOptions(
            frames=args.frames, fps=args.fps, occluder_passes=args.occluders, noise=args.noise
        )
        events = generate_video_dataset(
            args.out, assets=assets, count=args.video, seed=args.seed, scene=options, video=video
        )
        total = args.video * args.frames
    else:
        events = generate_dataset(
            args.out, assets=assets, counts=counts, seed=args.seed, options=options, workers=args.workers
        )
        total = sum(counts.values())
    made = skipped = 0
    start = time.perf_counter()
    with tqdm(total=total, unit="img", file=sys.stderr, disable=None) as bar:
        for event in events:
            made, skipped = made + (not event.skipped), skipped + event.skipped
            bar.set_postfix_str(event.split, refresh=False)
            bar.update()
    return made, skipped, time.perf_counter() - start

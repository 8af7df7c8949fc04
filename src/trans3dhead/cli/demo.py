"""``trans3dhead demo [--out DIR]``: the whole pipeline on the embedded default (see trans3dhead.demo)."""

from __future__ import annotations

import argparse
import sys

from trans3dhead.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="synthetic benchmark -> evaluate and fine-tune the shipped model -> predict -> OUT/index.html",
        description="Generates a synthetic DAD-3DHeads-format benchmark, evaluates the small Trans3DHead "
        "shipped with the package (pretrained on another synthetic benchmark) on its test split, fine-tunes "
        "it on its training split, evaluates again, predicts on held-out images and public-domain photos, "
        "and writes OUT/index.html.  --from-scratch trains from ImageNet weights instead.",
    )
    p.add_argument(
        "--out", default="runs/demo", help="output folder (default runs/demo); re-running continues"
    )
    p.add_argument("--tiny", action="store_true", help="a seconds-long run of every step (smoke test)")
    p.add_argument("--epochs", type=int, help="training epochs (default 3 fine-tuning, 6 from scratch)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-scratch", action="store_true", help="train from ImageNet weights")
    start.add_argument("--start", metavar="CKPT", help="start from this checkpoint, not the shipped one")
    p.add_argument("--train-items", type=int, help="synthetic training images (default 1200)")
    p.add_argument("--workers", type=int, help="processes for generation and data loading (default 2)")
    p.set_defaults(func=demo)


def demo(args: argparse.Namespace) -> int:
    from trans3dhead.demo import run_demo, settings_from_args
    from trans3dhead.outputs import check_output_dir

    check_output_dir(args.out)

    for name in ("epochs", "train_items"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.workers is not None and args.workers < 0:
        raise InputError(f"--workers must be >= 0, got {args.workers}")
    start = "none" if args.from_scratch else args.start
    settings = settings_from_args(
        tiny=args.tiny, epochs=args.epochs, train_items=args.train_items, workers=args.workers, start=start
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    run_demo(args.out, settings, log=log)
    return 0

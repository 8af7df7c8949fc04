"""``trans3dhead slim-checkpoint SRC DST``: a deployable checkpoint (weights in float16 and the config)."""

from __future__ import annotations

import argparse

from trans3dhead.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slim-checkpoint",
        help="copy a checkpoint without optimiser state, weights in float16 (about 1/6 of last.pt)",
        description="Writes DST with the model weights (floating-point tensors as float16, or float32 with "
        "--fp32) and the resolved config only.  predict, eval, export, HeadAligner and train.init_from "
        "read it like any checkpoint; it cannot resume training.  Given several sources (checkpoints of "
        "one model config, e.g. the ends of two training stages), it writes the mean of their weights "
        "(a uniform model soup) with the last one's config.",
    )
    p.add_argument(
        "source", nargs="+", help="checkpoint(s) written by `trans3dhead train` (last.pt / best.pt)"
    )
    p.add_argument("target", help="file to write (must not exist)")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights")
    p.add_argument(
        "--live",
        action="store_true",
        help="a run trained with train.ema_decay: take its live weights ('train_model') instead of their "
        "moving average (the checkpoint's 'model')",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a read-out setting of the written config (repeatable): model.camera_focal=F, "
        "model.landmarks=flame|branch",
    )
    p.set_defaults(func=slim)


def slim(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from trans3dhead.checkpoint import slim_checkpoint
    from trans3dhead.outputs import check_output_file

    target = Path(args.target)
    if target.exists():
        raise InputError(f"{target} exists already: choose another file")
    check_output_file(target, option="TARGET")
    slim_checkpoint(
        args.source,
        target,
        dtype=torch.float32 if args.fp32 else torch.float16,
        overrides=args.set,
        live=args.live,
    )
    size = target.stat().st_size / 2**20
    print(f"wrote {target} ({size:.1f} MiB)")
    return 0

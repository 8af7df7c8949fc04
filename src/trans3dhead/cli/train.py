"""``trans3dhead train --config FILE --data DIR --out RUN [key=value ...]`` and ``--resume RUN``."""

from __future__ import annotations

import argparse
import sys

from trans3dhead.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train Trans3DHead or DAD-3DNet on a DAD-3DHeads-format dataset")
    p.add_argument("--config", help="YAML config (configs/...); default: the paper's Trans3DHead")
    p.add_argument("--data", help="dataset root (sets data.root)")
    p.add_argument("--out", help="run folder to create (config, checkpoints, logs, curves)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its last checkpoint")
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="drop unreadable items (each logged, counted in train_log.csv) instead of stopping",
    )
    p.add_argument(
        "overrides", nargs="*", help="config overrides, e.g. train.epochs=10 model.backbone=resnet18"
    )
    p.set_defaults(func=train)


def train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trans3dhead.config import load_config
    from trans3dhead.engine.distributed import init_distributed, shutdown_distributed
    from trans3dhead.engine.fit import fit
    from trans3dhead.outputs import check_output_dir

    dist = init_distributed()
    if args.resume:
        if args.config or args.overrides or args.out:
            raise InputError(
                "--resume RUN continues RUN with its saved config: drop --config/--out/overrides"
            )
        run_dir, resume, config = check_output_dir(args.resume, option="--resume"), True, None
        if not (run_dir / "last.pt").is_file():
            raise FileNotFoundError(f"{run_dir}/last.pt: no checkpoint to resume from")
    else:
        if not args.out:
            raise InputError("--out RUN is required (or --resume RUN)")
        run_dir, resume = check_output_dir(args.out), False
        if (run_dir / "last.pt").exists():
            raise InputError(
                f"{run_dir} already holds a run (last.pt): use --resume {run_dir} or another --out"
            )
        overrides = list(args.overrides) + ([f"data.root={args.data}"] if args.data else [])
        overrides += ["data.skip_bad=true"] if args.skip_bad else []
        config = load_config(args.config, overrides)
    if config is None:
        from trans3dhead.checkpoint import checkpoint_config, load_checkpoint
        from trans3dhead.config import config_from_dict

        last = run_dir / "last.pt"
        config = config_from_dict(checkpoint_config(load_checkpoint(last), last), source=f"{last} (config)")
    bar = tqdm(
        total=config.train.epochs,
        desc="epochs",
        unit="epoch",
        file=sys.stderr,
        disable=not dist.is_main or None,
    )
    step_bar = tqdm(desc="train", unit="step", file=sys.stderr, leave=False, disable=not dist.is_main or None)

    def on_step(stats) -> None:
        step_bar.update(stats.steps)  # called at log points only (train.log_every)
        step_bar.set_postfix(epoch=stats.epoch + 1, loss=f"{stats.loss:.4g}", it_s=f"{stats.items_per_s:.1f}")

    def on_epoch(epoch: int, metrics: dict) -> None:
        bar.update(epoch - bar.n)
        bar.set_postfix(
            {
                k: f"{v:.4g}"
                for k, v in metrics.items()
                if k in ("nme_flame", "nme_branch", "pose_error", config.train.select_metric)
            }
        )

    try:
        result = fit(config, run_dir, resume=resume, on_step=on_step, on_epoch=on_epoch, dist=dist)
    finally:
        step_bar.close()
        bar.close()
        shutdown_distributed(dist)
    if dist.is_main:
        print(f"run: {result.run_dir}  epochs: {result.epochs_done}  steps: {result.step}")
        if result.stopped_early:
            print(f"stopped early: no better {config.train.select_metric} for the last epochs")
        if result.best:
            best = result.best
            print(f"best val {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
    return 0

"""``trans3dhead data check DIR [--split S]``: validate a DAD-3DHeads-format dataset.
``trans3dhead data cache ROOT --split S --size PX --out CACHE``: decode and crop a split once (training)."""

from __future__ import annotations

import argparse
import sys

from trans3dhead.cli._common import add_asset_args
from trans3dhead.frames import CROP_STYLES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset tools (check, cache)")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    c = data_sub.add_parser("check", help="validate a DAD-3DHeads-format dataset; exit 1 if any error")
    c.add_argument("root", help="dataset root (holding train/, val/, test/)")
    c.add_argument("--split", action="append", help="split to check (repeatable; default: every split found)")
    c.add_argument("--strict", action="store_true", help="count warnings as errors")
    add_asset_args(c)
    c.set_defaults(func=data_check)
    k = data_sub.add_parser(
        "cache",
        help="decode and crop a split once into memory-mapped uint8 arrays (train with data.cache=CACHE)",
    )
    k.add_argument("root", help="dataset root (holding <split>/<split>.json)")
    k.add_argument("--split", default="train", help="split to cache (default: train)")
    k.add_argument("--size", type=int, help="crop side in pixels (default: the config's model.input_size)")
    k.add_argument("--out", required=True, help="cache folder to create, or to finish after an interruption")
    k.add_argument(
        "--config", help="the training config: its flame.file / flame.aux, model.crop and model.input_size"
    )
    add_asset_args(k)
    k.add_argument("--crop", choices=CROP_STYLES, help="crop style (default: the config's)")
    k.add_argument("--workers", type=int, default=0, help="decoding processes (default: 0, in this one)")
    k.add_argument("--skip-bad", action="store_true", help="leave out unreadable items instead of stopping")
    k.set_defaults(func=data_cache)


def data_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trans3dhead.data.check import check_split, find_splits, summarise, unindexed_folders

    splits = args.split or find_splits(args.root)
    others = [] if args.split else unindexed_folders(args.root)
    if not splits and not others:
        print(
            f"trans3dhead data check: error: {args.root}: no split folders with <split>/<split>.json",
            file=sys.stderr,
        )
        return 2
    num_vertices = None
    if args.flame or args.aux:
        from trans3dhead.flame import load_assets

        num_vertices = load_assets(args.flame, args.aux).model.num_vertices
    for problem in others:
        print(problem)
    total_errors, total_warnings = summarise(others)
    for split in splits:

        def bar(entries, split=split):
            return tqdm(entries, desc=f"check {split}", unit="item", file=sys.stderr, disable=None)

        problems = check_split(args.root, split, num_vertices=num_vertices, progress=bar)
        for problem in problems:
            print(problem)
        errors, warnings = summarise(problems)
        total_errors, total_warnings = total_errors + errors, total_warnings + warnings
        print(f"{split}: {errors} errors, {warnings} warnings")
    failed = total_errors + (total_warnings if args.strict else 0)
    verdict = "FAILED" if failed else "OK"
    print(f"{verdict}: {total_errors} errors, {total_warnings} warnings in {len(splits)} splits")
    return 1 if failed else 0


def data_cache(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trans3dhead.config import load_config
    from trans3dhead.data.cache import write_cache
    from trans3dhead.errors import InputError
    from trans3dhead.models.build import build_assets

    config = load_config(args.config, [])
    if args.workers < 0:
        raise InputError(f"--workers must be >= 0, got {args.workers}")
    if args.flame or args.aux:  # the command line's files replace the config's
        config.flame.file, config.flame.aux = args.flame, args.aux
    assets = build_assets(config.flame)

    def bar(items):
        return tqdm(items, desc=f"cache {args.split}", unit="item", file=sys.stderr, disable=None)

    summary = write_cache(
        root=args.root,
        split=args.split,
        out=args.out,
        size=config.model.input_size if args.size is None else args.size,
        assets=assets,
        crop_style=args.crop or config.model.crop,
        workers=args.workers,
        skip_bad=args.skip_bad,
        progress=bar,
    )
    left_out = f", {len(summary.skipped)} bad items left out" if summary.skipped else ""
    print(f"{summary.path}: {summary.items} items ({summary.written} written now{left_out})")
    return 0

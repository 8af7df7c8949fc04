"""``trans3dhead data check DIR [--split S]``: validate a DAD-3DHeads-format dataset."""

from __future__ import annotations

import argparse
import sys

from trans3dhead.cli._common import add_asset_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset tools (check)")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    c = data_sub.add_parser("check", help="validate a DAD-3DHeads-format dataset; exit 1 if any error")
    c.add_argument("root", help="dataset root (holding train/, val/, test/)")
    c.add_argument("--split", action="append", help="split to check (repeatable; default: every split found)")
    c.add_argument("--strict", action="store_true", help="count warnings as errors")
    add_asset_args(c)
    c.set_defaults(func=data_check)


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

"""``trans3dhead flame-info`` and ``trans3dhead flame-export``: the FLAME-format model files.

Before issue 15 these were ``model-info`` and ``model-export`` ("model" now names the network only).  The
old names still work, with the same options and output, and a one-line note on stderr (stdout may be
parsed); they are not listed in ``trans3dhead --help``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from trans3dhead.cli._common import add_asset_args

Command = Callable[[argparse.Namespace], int]


def _info_args(p: argparse.ArgumentParser) -> None:
    add_asset_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output directory")
    p.add_argument("--vertices", type=int, default=5000, help="approximate vertex count (default 5000)")
    p.add_argument("--shape", type=int, default=300, help="shape components (default 300)")
    p.add_argument("--expression", type=int, default=100, help="expression components (default 100)")
    p.add_argument("--seed", type=int, default=0)


def register(sub: argparse._SubParsersAction) -> None:
    commands: list[tuple[str, str, str, Callable[[argparse.ArgumentParser], None], Command]] = [
        (
            "flame-info",
            "model-info",
            "print the sizes of a FLAME-format model file (default: the embedded one)",
            _info_args,
            flame_info,
        ),
        (
            "flame-export",
            "model-export",
            "write the embedded head model in the FLAME / DAD-3DHeads file layout",
            _export_args,
            flame_export,
        ),
    ]
    for name, _old, help_text, add_args, func in commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(func=func)
    for name, old, help_text, add_args, func in commands:
        # no help=: the old name is not listed among the commands
        p = sub.add_parser(old, description=f"{help_text} (renamed: trans3dhead {name})")
        add_args(p)
        p.set_defaults(func=_renamed(old, name, func))


def _renamed(old: str, new: str, func: Command) -> Command:
    def run(args: argparse.Namespace) -> int:
        print(f"trans3dhead: note: '{old}' is now '{new}' (the old name still works)", file=sys.stderr)
        return func(args)

    return run


def flame_info(args: argparse.Namespace) -> int:
    from trans3dhead.flame import load_assets

    info = load_assets(args.flame, args.aux).describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        print(f"{key:<{width}}  {value}")
    return 0


def flame_export(args: argparse.Namespace) -> int:
    from trans3dhead.flame.files import write_embedded_model
    from trans3dhead.outputs import check_output_dir, undo_on_failure

    check_output_dir(args.out, option="OUT")
    with undo_on_failure(args.out):
        model_path, aux_dir = write_embedded_model(
            args.out,
            num_vertices_target=args.vertices,
            num_shape=args.shape,
            num_expression=args.expression,
            seed=args.seed,
        )
    print(f"flame: {model_path}\naux:   {aux_dir}")
    print(f"use with: --flame {model_path} --aux {aux_dir}")
    return 0

"""Command-line interface: ``trans3dhead <command> ...``; one thin function per sub-command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

__all__ = ["main", "build_parser"]

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def _command(
    name: str,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        _COMMANDS[name] = fn
        return fn

    return register


def _add_asset_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--flame", help="FLAME model file (.pkl or .npz); default $TRANS3DHEAD_FLAME or embedded"
    )
    parser.add_argument("--aux", help="DAD-3DHeads auxiliary directory; default $TRANS3DHEAD_FLAME_AUX")


@_command("model-info")
def _model_info(args: argparse.Namespace) -> int:
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


@_command("model-export")
def _model_export(args: argparse.Namespace) -> int:
    from trans3dhead.flame.files import write_embedded_model

    model_path, aux_dir = write_embedded_model(
        args.out,
        num_vertices_target=args.vertices,
        num_shape=args.shape,
        num_expression=args.expression,
        seed=args.seed,
    )
    print(f"model: {model_path}\naux:   {aux_dir}")
    print(f"use with: --flame {model_path} --aux {aux_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trans3dhead", description="3D dense head alignment (Trans3DHead, DAD-3DNet)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "model-info", help="print the sizes of a FLAME-format model (default: the embedded one)"
    )
    _add_asset_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser(
        "model-export", help="write the embedded head model in the FLAME / DAD-3DHeads file layout"
    )
    p.add_argument("out", help="output directory")
    p.add_argument("--vertices", type=int, default=5000, help="approximate vertex count (default 5000)")
    p.add_argument("--shape", type=int, default=300, help="shape components (default 300)")
    p.add_argument("--expression", type=int, default=100, help="expression components (default 100)")
    p.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    from trans3dhead.flame.assets import AssetError

    try:
        return _COMMANDS[args.command](args)
    except (AssetError, FileNotFoundError, ValueError) as exc:
        print(f"trans3dhead {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

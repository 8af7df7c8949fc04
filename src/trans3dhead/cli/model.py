"""``trans3dhead model-info`` and ``trans3dhead model-export``."""

from __future__ import annotations

import argparse
import json

from trans3dhead.cli._common import add_asset_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model-info", help="print the sizes of a FLAME-format model (default: the embedded one)"
    )
    add_asset_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=model_info)

    p = sub.add_parser(
        "model-export", help="write the embedded head model in the FLAME / DAD-3DHeads file layout"
    )
    p.add_argument("out", help="output directory")
    p.add_argument("--vertices", type=int, default=5000, help="approximate vertex count (default 5000)")
    p.add_argument("--shape", type=int, default=300, help="shape components (default 300)")
    p.add_argument("--expression", type=int, default=100, help="expression components (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=model_export)


def model_info(args: argparse.Namespace) -> int:
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


def model_export(args: argparse.Namespace) -> int:
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
    print(f"model: {model_path}\naux:   {aux_dir}")
    print(f"use with: --flame {model_path} --aux {aux_dir}")
    return 0

"""``trans3dhead summary --config FILE [--json] [key=value ...]``: parameters and FLOPs per part."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary", help="parameters per part (backbone, branches, heads) and FLOPs of a config"
    )
    p.add_argument("--config", help="YAML config (default: the built-in Trans3DHead defaults)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. model.backbone=resnet18")
    p.set_defaults(func=summary)


def summary(args: argparse.Namespace) -> int:
    from trans3dhead.config import load_config
    from trans3dhead.models.build import build_assets, build_model
    from trans3dhead.models.summary import summarize

    config = load_config(args.config, args.overrides)
    assets = build_assets(config.flame)
    model = build_model(config, assets)
    result = summarize(model, input_size=config.model.input_size, arch=config.model.arch)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(
            f"{config.model.arch} / {config.model.backbone} at {config.model.input_size} px "
            f"(FLAME: {assets.model.source}, {model.flame.num_params} parameters)\n"
        )
        print(result.table())
    return 0

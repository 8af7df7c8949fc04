"""``trans3dhead score`` (DAD-3DHeads benchmark on files) and ``trans3dhead make-gt`` (its GT file)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trans3dhead.cli._common import add_asset_args

_Z5_CHOICES = ("reference", "knn", "reference_cdist")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score a submission file against a GT file (DAD-3DHeads benchmark)",
        description="Score a submission in the official DAD-3DHeads format against a GT file; writes "
        "OUT/metrics.json and OUT/metrics.md.  Missing or invalid predictions are listed, counted, and "
        "left out of the means of the metrics that need them.",
    )
    p.add_argument("--gt", required=True, help="GT file (JSON list, see `trans3dhead make-gt`)")
    p.add_argument("--submission", required=True, help="submission file (JSON object keyed by item id)")
    p.add_argument("--out", required=True, help="output directory for metrics.json / metrics.md")
    add_asset_args(p)
    p.add_argument(
        "--z5",
        choices=_Z5_CHOICES,
        default="reference",
        help="Z5 neighbour protocol: the benchmark's (default), true 5 nearest neighbours, or the "
        "benchmark's literal float32 torch.cdist computation (slow; for bit-level comparisons)",
    )
    p.add_argument(
        "--per-item", action="store_true", help="also write every item's metrics into metrics.json"
    )
    p.set_defaults(func=score)

    p = sub.add_parser(
        "make-gt",
        help="write the benchmark GT file of a DAD-3DHeads-format split",
        description="Build the GT file (id, bbox, vertices, matrices, image height, attributes) from "
        "DATA/SPLIT/SPLIT.json, its annotations and the PNG headers of its images.",
    )
    p.add_argument("--data", required=True, help="dataset root (holding SPLIT/) or the split directory")
    p.add_argument("--split", default="val", help="split name (default val)")
    p.add_argument("--out", required=True, help="GT file to write (.json)")
    p.add_argument("--no-attributes", action="store_true", help="leave the metadata attributes out")
    p.set_defaults(func=make_gt)


def score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trans3dhead.flame import load_assets
    from trans3dhead.metrics import (
        BenchmarkOptions,
        BenchmarkTopology,
        read_gt_file,
        read_submission,
        score_predictions,
        write_report,
    )
    from trans3dhead.outputs import check_output_dir

    check_output_dir(args.out)
    options = BenchmarkOptions(z5_variant=args.z5)
    gt_items = read_gt_file(args.gt)
    predictions = read_submission(args.submission)
    assets = load_assets(args.flame, args.aux)
    topology = BenchmarkTopology.from_assets(assets)
    result = score_predictions(
        gt_items,
        predictions,
        topology=topology,
        options=options,
        progress=lambda items: tqdm(items, desc="scoring", unit="item", disable=None),
    )
    sources = {"gt": str(args.gt), "submission": str(args.submission), "flame": assets.model.source}
    json_path, md_path = write_report(result, args.out, sources=sources, per_item=args.per_item)
    for key in result.metric_keys:
        summary = result.overall[key]
        mean = "-" if summary.mean is None else f"{summary.mean:.6f}"
        print(f"{key:<18} {mean:>12}   ({summary.scored}/{summary.total} items)")
    if result.problems:
        print(f"{len(result.problems)} problem(s) with the predictions: see {md_path}", file=sys.stderr)
    print(f"wrote {json_path} and {md_path}")
    return 0


def _split_dir(data: str, split: str) -> Path:
    root = Path(data)
    if (root / split).is_dir():
        return root / split
    if (root / f"{split}.json").is_file():
        return root
    raise FileNotFoundError(f"--data {root}: neither {root / split}/ nor {root / f'{split}.json'} exists")


def make_gt(args: argparse.Namespace) -> int:
    from trans3dhead.metrics import build_gt_entries, write_gt_file
    from trans3dhead.outputs import check_output_file

    check_output_file(args.out)
    entries = build_gt_entries(
        _split_dir(args.data, args.split), split=args.split, with_attributes=not args.no_attributes
    )
    path = write_gt_file(args.out, entries)
    print(f"wrote {len(entries)} GT entries to {path}")
    return 0

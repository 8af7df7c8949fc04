"""``trans3dhead import dad3dnet FILE.trcd --out FILE.pt``: the released DAD-3DNet as a checkpoint."""

from __future__ import annotations

import argparse

from trans3dhead.cli._common import add_asset_args

_EPILOG = """\
dad_3dheads.trcd is the trained DAD-3DNet the DAD-3DHeads authors publish (their predictor.py downloads it
into ~/.dad_checkpoints/); it comes under their licence terms (docs/inference.md).  The file is read on the
CPU and never run; every tensor is renamed and shape-checked, and nothing is written unless all fit.  Then:
  trans3dhead predict --checkpoint FILE.pt photo.jpg --out out/ --full-image   # as their demo.py
  trans3dhead predict --checkpoint FILE.pt photos/ video.mp4 --out out/        # detector: many heads"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import published weights as a trans3dhead checkpoint (dad3dnet: DAD-3DHeads' dad_3dheads.trcd)",
        description="Convert a model published elsewhere into a trans3dhead checkpoint that predict, eval, "
        "export and HeadAligner.from_checkpoint use unchanged.",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    d = kinds.add_parser(
        "dad3dnet",
        help="the DAD-3DHeads authors' TorchScript DAD-3DNet (dad_3dheads.trcd)",
        description="Import the released DAD-3DNet (TorchScript, PinataFarms/DAD-3DHeads) with its "
        "architecture (ResNet-50 v1, reference BiFPN fusion), pre-processing (longest side 256, zero "
        "padding) and landmark decoding (landmark head, clipped to the crop).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument(
        "file", metavar="FILE.trcd", help="the TorchScript file (e.g. ~/.dad_checkpoints/dad_3dheads.trcd)"
    )
    d.add_argument("--out", required=True, metavar="FILE.pt", help="checkpoint to write")
    add_asset_args(d)
    d.set_defaults(func=import_dad3dnet)


def import_dad3dnet(args: argparse.Namespace) -> int:
    from trans3dhead.models.dad3dnet_import import import_dad3dnet as run

    summary = run(args.file, args.out, flame=args.flame, aux=args.aux)
    print(
        f"imported {summary.tensors} tensors ({summary.parameters:,} parameters) from {summary.source} "
        f"(sha256 {summary.sha256[:12]}...) into {summary.out}"
    )
    if summary.prefix:
        print(f"  the file's tensors sat under '{summary.prefix}' (stripped)")
    if summary.defaulted:
        print(f"  {len(summary.defaulted)} BatchNorm batch counters absent from the file were set to 0")
    if summary.flame is None:
        print(
            "  no --flame/--aux given: predict/eval take FLAME from their --flame/--aux or "
            "$TRANS3DHEAD_FLAME(_AUX), else the embedded stand-in (then meshes and FLAME landmarks are not "
            "the released model's)"
        )
    else:
        print(f"  FLAME: {summary.flame}, aux: {summary.aux}")
    return 0

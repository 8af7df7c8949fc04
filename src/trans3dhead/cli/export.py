"""``trans3dhead export --checkpoint FILE --format onnx --out FILE [--batch N]``: the network (crop ->
parameters, landmarks, FLAME mesh) as an ONNX graph with a dynamic (or fixed) batch axis, checked
against PyTorch."""

from __future__ import annotations

import argparse

from trans3dhead.cli._common import add_asset_args
from trans3dhead.errors import InputError

#: Largest |ONNX Runtime - PyTorch| / max(1, |PyTorch|) per output accepted by the check after export.
TOLERANCE = 1e-4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX (dynamic batch) and check it against PyTorch",
        description="Trace the model with its FLAME layer into ONNX (TorchScript exporter).  When "
        "onnxruntime is installed the file is run on a random batch of 2 crops and compared with eager "
        f"PyTorch; a difference above {TOLERANCE:g} (relative to the output's largest magnitude, at least "
        "1) is an error.",
    )
    p.add_argument("--checkpoint", required=True, help="trained checkpoint")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="export format (onnx)")
    p.add_argument("--out", required=True, help="file to write (.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (13-20, default 17)")
    p.add_argument(
        "--batch",
        type=int,
        help="fix the graph's batch size (e.g. 1 for one face at a time on a CPU: the shapes become "
        "constants and ONNX Runtime runs it faster); default: a dynamic batch axis",
    )
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime comparison")
    add_asset_args(p)
    p.set_defaults(func=export)


def export(args: argparse.Namespace) -> int:
    import importlib.util

    import torch

    from trans3dhead.inference.export import export_onnx
    from trans3dhead.models.build import model_from_checkpoint
    from trans3dhead.outputs import check_output_file

    check_output_file(args.out)
    model, _, _ = model_from_checkpoint(args.checkpoint, flame=args.flame, aux=args.aux, device="cpu")
    path = export_onnx(model, args.out, opset=args.opset, batch=args.batch)
    size, batch = model.flame.image_size, args.batch or "B"
    print(f"wrote {path} (opset {args.opset}, input ({batch}, 3, {size}, {size}))")
    if args.no_check or importlib.util.find_spec("onnxruntime") is None:
        return 0
    from trans3dhead.inference.onnx_runtime import OnnxBackend, max_abs_differences

    crops = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    backend = OnnxBackend(path=path, providers=["CPUExecutionProvider"])
    diffs = max_abs_differences(model, backend, crops, relative=True)
    worst = max(diffs, key=diffs.get)
    print(f"onnxruntime vs PyTorch, largest relative difference: {diffs[worst]:.2e} ({worst})")
    if diffs[worst] > TOLERANCE:
        raise InputError(f"{path}: ONNX Runtime differs from PyTorch by {diffs[worst]:.3g} on {worst!r}")
    return 0

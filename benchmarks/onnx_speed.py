"""ONNX Runtime vs eager PyTorch throughput of the exported network (crop -> parameters, landmarks, mesh).

    .venv/bin/python benchmarks/onnx_speed.py [--checkpoint FILE | --config YAML | --arch trans3dhead
        --backbone resnet50 --size 256] [--batches 1 8] [--repeats 5] [--threads 2] [--optimization all]
        [--json OUT.json]

Without ``--checkpoint`` a randomly initialised model is built from ``--config`` (default: the paper's
Trans3DHead) with ``--arch`` / ``--backbone`` / ``--size`` applied when given, and the embedded FLAME
model (the speed does not depend on the weights).  Both runtimes use the same number of intra-op
threads, float32, batch sizes ``--batches``; eager runs under ``torch.inference_mode``.  The model is
exported once (dynamic batch) and each ONNX Runtime graph optimisation level given in ``--optimization``
gets its own session.  Prints images/s side by side with the speed-up and the largest output
difference, and writes JSON with ``--json``.  The goal set in issue 7 is a speed-up of at least 1.5x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from trans3dhead.inference.export import ExportableHead, export_onnx
from trans3dhead.inference.onnx_runtime import GRAPH_OPTIMIZATIONS, OnnxBackend, max_abs_differences


def _model(args: argparse.Namespace) -> tuple[torch.nn.Module, str]:
    """The model and a one-line description of it."""
    if args.checkpoint:
        from trans3dhead.models.build import model_from_checkpoint

        model, config, _ = model_from_checkpoint(args.checkpoint, device="cpu")
        return (
            model,
            f"{args.checkpoint}: {config.model.arch} {config.model.backbone} {config.model.input_size}px",
        )
    from trans3dhead.config import load_config
    from trans3dhead.models.build import build_assets, build_model

    overrides = ["model.pretrained=null"]
    for key, value in (("arch", args.arch), ("backbone", args.backbone), ("input_size", args.size)):
        if value is not None:
            overrides.append(f"model.{key}={value}")
    config = load_config(args.config, overrides)
    torch.manual_seed(0)
    m = config.model
    about = (
        f"{m.arch} {m.backbone} {m.input_size}px d_model {m.d_model} ffn {m.dim_feedforward} (random weights)"
    )
    return build_model(config, build_assets(config.flame)).eval(), about


def _seconds(run, repeats: int) -> float:
    run()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint")
    parser.add_argument("--config", help="model config YAML (default: the paper's Trans3DHead, ResNet-50)")
    parser.add_argument("--arch", choices=("trans3dhead", "dad3dnet"))
    parser.add_argument("--backbone")
    parser.add_argument("--size", type=int)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--optimization", nargs="+", default=["all"], choices=sorted(GRAPH_OPTIMIZATIONS))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, about = _model(args)
    size = model.flame.image_size
    eager = ExportableHead(model).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = export_onnx(model, Path(tmp) / "model.onnx")
        print(f"export: {time.perf_counter() - start:.1f} s, {path.stat().st_size / 2**20:.1f} MiB")
        sessions = {
            level: OnnxBackend(
                path=path, threads=args.threads, optimization=level, providers=["CPUExecutionProvider"]
            )
            for level in args.optimization
        }
        for batch in args.batches:
            crops = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
            array = crops.numpy()
            with torch.inference_mode():
                t_eager = _seconds(lambda c=crops: eager(c), args.repeats)
            for level, backend in sessions.items():
                t_onnx = _seconds(lambda b=backend, a=array: b.run(a), args.repeats)
                diff = max(max_abs_differences(model, backend, crops).values())
                rows.append(
                    {
                        "batch": batch,
                        "optimization": level,
                        "eager_img_s": batch / t_eager,
                        "onnx_img_s": batch / t_onnx,
                        "speedup": t_eager / t_onnx,
                        "max_abs_diff": diff,
                    }
                )
    print(f"\n{about}, {args.threads} thread(s), torch {torch.__version__}")
    print(
        f"{'batch':>5} {'ort opt':>8} {'eager img/s':>12} {'onnx img/s':>11} {'speed-up':>9} "
        f"{'max |diff|':>11}"
    )
    for r in rows:
        print(
            f"{r['batch']:>5} {r['optimization']:>8} {r['eager_img_s']:>12.2f} {r['onnx_img_s']:>11.2f} "
            f"{r['speedup']:>8.2f}x {r['max_abs_diff']:>11.2e}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"model": about, "threads": args.threads, "rows": rows}, indent=2)
        )
    best = max(r["speedup"] for r in rows)
    print(f"\nbest speed-up {best:.2f}x (goal >= 1.5x){'' if best >= 1.5 else ': goal not met'}")


if __name__ == "__main__":
    main()

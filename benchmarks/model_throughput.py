"""Inference throughput of Trans3DHead and DAD-3DNet, side by side in one run, and where the time goes.

    .venv/bin/python benchmarks/model_throughput.py [--backbone resnet50] [--size 256] [--batches 1 32]
        [--repeats 3] [--threads 2] [--json OUT.json] [key=value overrides for Trans3DHead ...]

Both models use the same backbone, input size and FLAME layer (the embedded model, 413 parameters), eval
mode, ``torch.no_grad``.  Prints images/s per model and batch size, the Trans3DHead / DAD-3DNet ratio, and a
per-part profile (backbone, transformer branches, FLAME, DAD-3DNet's BiFPN and heads) measured by timing the
parts' forward calls with hooks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

import torch
from torch import nn

from trans3dhead.config import load_config
from trans3dhead.models.build import build_assets, build_model


def _images_per_s(model: nn.Module, batch: int, size: int, repeats: int) -> float:
    images = torch.rand(batch, 3, size, size)
    with torch.no_grad():
        model(images)  # warm-up
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            samples.append(time.perf_counter() - start)
    return batch / statistics.median(samples)


def _profile(model: nn.Module, batch: int, size: int) -> dict[str, float]:
    """Seconds spent in each top-level part during one forward pass (hooks on the model's children)."""
    spent: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}
    handles = []
    for name, child in model.named_children():
        handles.append(
            child.register_forward_pre_hook(lambda m, a, n=name: starts.__setitem__(n, time.perf_counter()))
        )
        handles.append(
            child.register_forward_hook(
                lambda m, a, o, n=name: spent.__setitem__(n, spent[n] + time.perf_counter() - starts[n])
            )
        )
    stage_time = 0.0
    backbone = getattr(model, "backbone", None)
    original = getattr(backbone, "forward_stage", None)
    if original is not None:  # DAD-3DNet runs the backbone stage by stage: time those calls too

        def timed(stride, x):
            nonlocal stage_time
            start = time.perf_counter()
            out = original(stride, x)
            stage_time += time.perf_counter() - start
            return out

        backbone.forward_stage = timed
    images = torch.rand(batch, 3, size, size)
    with torch.no_grad():
        model(images)
        spent.clear()
        stage_time = 0.0
        start = time.perf_counter()
        model(images)
        total = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    if original is not None:
        backbone.forward_stage = original
        if "backbone" not in spent:  # its forward never ran (DAD-3DNet): the stages are the backbone time
            spent["backbone"] = stage_time
    spent["other"] = total - sum(spent.values())
    return {k: round(v, 4) for k, v in spent.items() if v > 0} | {"total": round(total, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    parser.add_argument("overrides", nargs="*", help="extra config overrides applied to Trans3DHead only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    common = [f"model.backbone={args.backbone}", f"model.input_size={args.size}"]
    configs = {
        "trans3dhead": load_config(None, [*common, *args.overrides]),
        "dad3dnet": load_config(None, [*common, "model.arch=dad3dnet"]),
    }
    assets = build_assets(configs["trans3dhead"].flame)
    models = {name: build_model(cfg, assets).eval() for name, cfg in configs.items()}
    figures: dict = {
        "backbone": args.backbone,
        "size": args.size,
        "threads": args.threads,
        "trans3dhead_overrides": args.overrides,
        "parameters": {},
        "images_per_s": {},
        "profile": {},
    }
    for name, model in models.items():
        figures["parameters"][name] = sum(p.numel() for p in model.parameters())
    for batch in args.batches:
        for name, model in models.items():
            figures["images_per_s"].setdefault(name, {})[batch] = round(
                _images_per_s(model, batch, args.size, args.repeats), 2
            )
        ratio = figures["images_per_s"]["trans3dhead"][batch] / figures["images_per_s"]["dad3dnet"][batch]
        figures.setdefault("ratio", {})[batch] = round(ratio, 3)
        print(
            f"batch {batch:>3}: Trans3DHead {figures['images_per_s']['trans3dhead'][batch]:8.2f} img/s   "
            f"DAD-3DNet {figures['images_per_s']['dad3dnet'][batch]:8.2f} img/s   ratio {ratio:.2f}x",
            flush=True,
        )
    profile_batch = max(args.batches)
    for name, model in models.items():
        figures["profile"][name] = _profile(model, profile_batch, args.size)
        parts = ", ".join(f"{k} {v:.3f}s" for k, v in figures["profile"][name].items())
        print(f"profile {name} (batch {profile_batch}): {parts}")
    print("parameters: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in figures["parameters"].items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()

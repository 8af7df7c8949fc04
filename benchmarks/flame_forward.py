"""FLAME forward (and forward + backward) time on the embedded head model.

    .venv/bin/python benchmarks/flame_forward.py [--batch 32] [--repeats 20] [--json OUT.json]

Prints milliseconds per call (median of ``--repeats`` after warm-up) and the model sizes.  Pass
``--flame FILE --aux DIR`` to time the real FLAME model instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from trans3dhead.flame import FlameLayer, load_assets


def _time(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--flame")
    parser.add_argument("--aux")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    start = time.perf_counter()
    assets = load_assets(args.flame, args.aux)
    load_s = time.perf_counter() - start
    layer = FlameLayer(assets=assets)
    params = torch.zeros(args.batch, layer.num_params)
    params[:, layer.layout.slices["rotation"]] = torch.tensor([1.0, 0, 0, 0, -1.0, 0])
    params += 0.1 * torch.randn_like(params)

    def forward() -> None:
        with torch.no_grad():
            layer(params)

    grad_params = params.clone().requires_grad_(True)

    def forward_backward() -> None:
        out = layer(grad_params)
        (out.projected.square().mean() + out.vertices.square().mean()).backward()

    figures = {
        "model": assets.model.source,
        "vertices": assets.model.num_vertices,
        "parameters": layer.num_params,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 3),
        "forward_ms": round(_time(forward, args.repeats), 2),
        "forward_backward_ms": round(_time(forward_backward, args.repeats), 2),
    }
    figures["forward_heads_per_s"] = round(args.batch / figures["forward_ms"] * 1e3, 1)
    for key, value in figures.items():
        print(f"{key:>22}: {value}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()

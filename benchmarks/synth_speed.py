"""Synthetic-data generation speed (``trans3dhead synth``) and where the time goes.

    .venv/bin/python benchmarks/synth_speed.py [--count 200] [--size 256] [--workers 2] [--json OUT.json]

1. Throughput: generates ``--count`` training items with ``--workers`` processes into a temporary folder
   and prints images per second, both over the whole run (with the workers' start-up) and in steady state
   (first to last finished item).
2. Profile: ``--profile`` items generated in this process, single-threaded, under cProfile; prints
   milliseconds per item spent in each stage (LBS, background, render, occluders, degradation, PNG
   encoding, JSON encoding, file writes).  cProfile adds some overhead to Python-heavy stages.

Pass ``--flame FILE --aux DIR`` to use the real FLAME model instead of the embedded one.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time

import torch

from trans3dhead.data.synthetic import (
    DatasetStore,
    HeadSynthesizer,
    SceneOptions,
    generate_dataset,
    generate_item,
)
from trans3dhead.flame import load_assets

# stage name -> (file suffix, function name, calling function or None) as cProfile reports them
STAGES = {
    "LBS (FLAME layer)": ("layer.py", "shaped_vertices", None),
    "background": ("scene.py", "random_background", None),
    "render (raster + shade + visibility)": ("renderer.py", "render_mesh", None),
    "vertex normals": ("shading.py", "vertex_normals", None),
    "occluders": ("scene.py", "draw_occluders", None),
    "lq degradation": ("scene.py", "degrade", None),
    "PNG encode": ("~", "imencode", "write_item"),
    "JSON encode": ("encoding.py", "annotation_text", None),
    "file writes": ("encoding.py", "atomic_write", None),
    "attributes": ("item.py", "attributes", None),
}


def _stage_seconds(stats: dict, suffix: str, func: str, caller: str | None) -> float:
    total = 0.0
    for (file, _, name), (_, _, _, cumulative, callers) in stats.items():
        if not (file.endswith(suffix) and (name == func or (file == "~" and func in name))):
            continue
        if caller is None:
            total += cumulative
        else:
            total += sum(v[3] for (_, _, who), v in callers.items() if who == caller)
    return total


def throughput(assets, options: SceneOptions, count: int, workers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        finished = []
        for _ in generate_dataset(
            tmp, assets=assets, counts={"train": count}, seed=seed, options=options, workers=workers
        ):
            finished.append(time.perf_counter())
        total = time.perf_counter() - start
    steady = (count - 1) / (finished[-1] - finished[0]) if count > 1 else float("nan")
    return {
        "images": count,
        "workers": workers,
        "seconds": total,
        "img_per_s": count / total,
        "steady_img_per_s": steady,
    }


def profile(assets, options: SceneOptions, count: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store, synth = DatasetStore(tmp), HeadSynthesizer(assets=assets, options=options)
        store.prepare_split("train")
        generate_item(synth, store, seed=seed, split="train", index=10**6)  # warm-up (numba, caches)
        start = time.perf_counter()
        for i in range(count):
            generate_item(synth, store, seed=seed, split="train", index=i)
        plain = (time.perf_counter() - start) / count * 1e3
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(count):
            generate_item(synth, store, seed=seed, split="train", index=count + i)
        profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = sum(v[3] for (f, _, n), v in stats.items() if n == "generate_item") / count * 1e3
    stages = {name: _stage_seconds(stats, *spec) / count * 1e3 for name, spec in STAGES.items()}
    return {"items": count, "ms_per_item": plain, "profiled_ms_per_item": total, "stages_ms": stages}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", type=int, default=40, help="items to profile in-process (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flame")
    parser.add_argument("--aux")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the CLI does: one core per generating process
    assets = load_assets(args.flame, args.aux)
    options = SceneOptions(size=args.size)
    info = assets.describe()
    print(f"model: {info['vertices']} vertices, {info['faces']} faces; images {args.size} px")
    result = {"size": args.size, "vertices": info["vertices"], "faces": info["faces"]}
    if args.profile:
        prof = profile(assets, options, args.profile, args.seed)
        result["profile"] = prof
        print(
            f"in-process, 1 thread: {prof['ms_per_item']:.1f} ms/item ({1e3 / prof['ms_per_item']:.1f} img/s)"
        )
        print(f"profiled ({prof['profiled_ms_per_item']:.1f} ms/item under cProfile):")
        for name, ms in prof["stages_ms"].items():
            print(f"  {name:<38} {ms:6.2f} ms  {100 * ms / prof['profiled_ms_per_item']:5.1f}%")
    run = throughput(assets, options, args.count, args.workers, args.seed)
    result["throughput"] = run
    print(
        f"{run['images']} images with {run['workers']} workers: {run['seconds']:.1f} s, "
        f"{run['img_per_s']:.1f} img/s overall, {run['steady_img_per_s']:.1f} img/s steady state"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()

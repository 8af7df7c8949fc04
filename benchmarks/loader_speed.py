"""Training loader speed: decoding PNG files against reading the crop cache (``trans3dhead data cache``).

    .venv/bin/python benchmarks/loader_speed.py [--data ROOT | --count 192 --image-size 512] [--size 256]
        [--batch 32] [--workers 0] [--out DIR]

Without ``--data`` it first generates ``--count`` synthetic training items at ``--image-size`` px
(``trans3dhead synth``'s generator) in a temporary folder; then it writes the cache of the train split at
``--size`` px and times, with ``--workers`` loader processes (0: in this process, one core):

- files: :class:`DAD3DHeadsDataset` for training (random box, then the default augmentation or none):
  read, decode, crop, warp, photometric, targets, per item;
- cache: :class:`CachedDataset` for training: memory-mapped reads and each item's random numbers;
- cache + batched augmentation here: the same, plus the augmentation that a GPU run does on the GPU
  (``batch_to_device``: the random box always, the rest when augmenting) done on this CPU, to show what
  it costs where there is no GPU.

Each with the default augmentation (``Augmentation()``) and without (``data.augment: false``, as the
paper configs train).

Images per second over the batches after the first (worker start-up excluded).  Writes ``loader.json``
and ``loader.md`` under ``--out`` when given.  Timings on a shared machine vary from run to run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from trans3dhead.config import FlameConfig
from trans3dhead.data.cache import CachedDataset, write_cache
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
from trans3dhead.data.device_augment import batch_to_device
from trans3dhead.data.synthetic import SceneOptions, generate_dataset
from trans3dhead.data.transforms import Augmentation
from trans3dhead.engine.sampler import EpochSampler
from trans3dhead.flame import FlameAssets
from trans3dhead.models.build import build_assets


def synth_dataset(root: Path, *, assets: FlameAssets, count: int, image_size: int, workers: int = 1) -> Path:
    """A synthetic DAD-3DHeads-format train split of ``count`` items (resumes an interrupted one)."""
    options = SceneOptions(size=image_size)
    for _ in generate_dataset(root, assets=assets, counts={"train": count}, options=options, workers=workers):
        pass
    return root


def build_cache(root: Path, out: Path, *, assets: FlameAssets, size: int, crop: str, workers: int) -> dict:
    """Write the train split's cache; returns its items and the items written per second."""
    start = time.perf_counter()
    summary = write_cache(
        root=root, split="train", out=out, size=size, assets=assets, crop_style=crop, workers=workers
    )
    seconds = time.perf_counter() - start
    return {"items": summary.items, "written": summary.written, "items_per_s": summary.written / seconds}


def loader(dataset, *, batch: int, workers: int, pin: bool = False) -> DataLoader:
    """A training loader as :func:`trans3dhead.engine.fit` builds it (epoch-tagged shuffled indices)."""
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=EpochSampler(len(dataset), shuffle=True, tag_epoch=True),
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=workers > 0,
        pin_memory=pin,
    )


def endless(batches: DataLoader) -> Iterator:
    """The loader's batches epoch after epoch."""
    epoch = 0
    while True:
        batches.sampler.set_epoch(epoch)
        yield from batches
        epoch += 1


def images_per_s(batches: DataLoader, *, count: int, device: torch.device | None = None) -> float:
    """Images per second over ``count`` batches after a first one; with ``device``, each batch also goes
    through :func:`batch_to_device` (the cache's augmentation)."""
    stream = endless(batches)
    next(stream)
    images, start = 0, time.perf_counter()
    for _ in range(count):
        batch = next(stream)
        if device is not None:
            batch_to_device(batch, device)
        images += len(batch.item_ids)
    return images / (time.perf_counter() - start)


def measure(root: Path, cache: Path, *, assets: FlameAssets, size: int, batch: int, workers: int, count: int):
    """Images/s of each loader, with the default augmentation and without (the paper configs')."""
    figures = {}
    for name, aug in (("augmented", Augmentation()), ("plain", None)):
        files = DAD3DHeadsDataset(
            root=root, split="train", assets=assets, input_size=size, train=True, augmentation=aug
        )
        cached = CachedDataset(cache, train=True, augmentation=aug, input_size=size, assets=assets)
        figures[name] = {
            "files": images_per_s(loader(files, batch=batch, workers=workers), count=count),
            "cache": images_per_s(loader(cached, batch=batch, workers=workers), count=count),
            "cache_plus_cpu_augment": images_per_s(
                loader(cached, batch=batch, workers=workers), count=count, device=torch.device("cpu")
            ),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", help="a DAD-3DHeads-format root with a train split (default: synthesise one)"
    )
    parser.add_argument("--count", type=int, default=192, help="synthetic items (without --data)")
    parser.add_argument("--image-size", type=int, default=512, help="synthetic image side (without --data)")
    parser.add_argument("--size", type=int, default=256, help="crop side (the network input)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=5, help="timed batches (after one untimed)")
    parser.add_argument("--workers", type=int, default=0, help="loader processes (0: this process)")
    parser.add_argument("--vertices", type=int, default=5000, help="the embedded head model's vertex count")
    parser.add_argument("--out", help="write loader.json and loader.md here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    assets = build_assets(FlameConfig(embedded_vertices=args.vertices))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "data"
        if not args.data:
            start = time.perf_counter()
            synth_dataset(root, assets=assets, count=args.count, image_size=args.image_size)
            seconds = time.perf_counter() - start
            print(f"synthesised {args.count} items at {args.image_size} px in {seconds:.1f} s")
        written = build_cache(
            root, Path(tmp) / "cache", assets=assets, size=args.size, crop="centred", workers=0
        )
        print(
            f"cache: {written['items']} items at {args.size} px, {written['items_per_s']:.1f} items/s written"
        )
        figures = measure(
            root,
            Path(tmp) / "cache",
            assets=assets,
            size=args.size,
            batch=args.batch,
            workers=args.workers,
            count=args.batches,
        )
    result = {
        "size": args.size,
        "batch": args.batch,
        "workers": args.workers,
        "data": args.data or f"synthetic, {args.count} items at {args.image_size} px (PNG)",
        "cache_write_items_per_s": round(written["items_per_s"], 1),
        "images_per_s": {k: {n: round(v, 1) for n, v in f.items()} for k, f in figures.items()},
    }
    a, p = figures["augmented"], figures["plain"]
    table = [
        f"| loader ({args.workers or 'no'} workers, batch {args.batch}, {args.size} px) "
        "| augmented | plain (the paper configs) |",
        "|---|---:|---:|",
        f"| files: decode PNG, crop, (augment,) targets | {a['files']:.1f} | {p['files']:.1f} |",
        f"| cache: memory-mapped crops + random numbers | {a['cache']:.1f} | {p['cache']:.1f} |",
        "| cache + the batched augmentation on this CPU "
        f"| {a['cache_plus_cpu_augment']:.1f} | {p['cache_plus_cpu_augment']:.1f} |",
    ]
    print("\n".join(table))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "loader.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "loader.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()

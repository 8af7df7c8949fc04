"""Trans3DHead and DAD-3DNet side by side on one device: inference and training images per second.

    python benchmarks/gpu_throughput.py --device cuda --out OUT [--work /tmp/gt] [--graphs] [--data ROOT]
    python benchmarks/gpu_throughput.py --device cpu --tiny --out /tmp/gt --backend eager   # smoke test

Sizes: the paper's by default (``configs/trans3dhead_r50.yaml`` and ``configs/dad3dnet_r50.yaml``,
ResNet-50, 256 px, random weights); ``--tiny`` shrinks everything (ResNet-18, 64 px, small transformer,
batches 1 and 4, a few iterations) to check the script on a CPU.

1. Inference (eval, no_grad): each model at each ``--batches`` size, eager and ``torch.compile`` (and
   with ``--graphs`` CUDA graphs through ``torch.compile(mode="reduce-overhead")``), fp32 and bf16
   (autocast).  Images/s and milliseconds per batch; the first compiled call's time is reported too.
2. Training (``train_one_epoch``: the training step of ``trans3dhead train``; bf16 autocast by default,
   fused Adam and channels-last on CUDA, a host sync only at the end of the timed steps): images/s
   without data loading (one batch already on the device), with the file loader (decode, crop, targets in
   ``--workers`` processes) and with the cache loader (``trans3dhead data cache``; augmentation on the
   device).  Without ``--data`` a synthetic train split is generated under ``--work`` (default ``--out``)
   first; it is kept and reused by the next run, as is the cache.

Timing: ``--warmup`` untimed calls, then ``--iters`` timed ones between two ``torch.cuda.synchronize``.
Results go to ``--out``/gpu_throughput.json and .md after every measurement (a run stopped early keeps
what it measured); a cell that fails records its error and the run goes on.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

import torch

from trans3dhead.config import Config, load_config
from trans3dhead.data.cache import CachedDataset
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset
from trans3dhead.engine.fit import build_augmentation
from trans3dhead.engine.loop import build_optimizer, train_one_epoch
from trans3dhead.errors import one_line
from trans3dhead.models.build import build_assets, build_criterion, build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loader_speed import build_cache, endless, loader, synth_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARCHS = {"trans3dhead": "Trans3DHead", "dad3dnet": "DAD-3DNet"}
MODES = ["eager", "compiled", "graphs"]
SOURCES = ["synthetic", "files", "cache"]
TINY = [
    "model.backbone=resnet18",
    "model.input_size=64",
    "model.d_model=32",
    "model.nhead=4",
    "model.dim_feedforward=64",
    "flame.embedded_vertices=1500",
]


def configs(tiny: bool) -> dict[str, Config]:
    """The paper configs with random weights (``--tiny``: shrunk)."""
    common = ["model.pretrained=none", *(TINY if tiny else [])]
    return {arch: load_config(str(REPO / "configs" / f"{arch}_r50.yaml"), common) for arch in ARCHS}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_call(fn: Callable[[], object], *, warmup: int, iters: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iters


def autocast(precision: str, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


def prepared(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def inference_cell(model, *, batch: int, size: int, mode: str, precision: str, args) -> dict:
    """Images/s of one (model, batch, mode, precision); compiled modes report their first call's time."""
    device = torch.device(args.device)
    images = torch.rand(batch, 3, size, size, device=device)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    run = model
    if mode != "eager":
        torch._dynamo.reset()  # a fresh compile for each cell (and no recompilation limit to reach)
    if mode == "compiled":
        run = torch.compile(model, backend=args.backend, dynamic=False)
    elif mode == "graphs":
        run = torch.compile(model, backend=args.backend, mode="reduce-overhead", dynamic=False)

    def call():
        with torch.no_grad(), autocast(precision, device):
            return run(images)

    first = 0.0
    if mode != "eager":
        start = time.perf_counter()
        call()
        sync(device)
        first = time.perf_counter() - start
    seconds = seconds_per_call(call, warmup=args.warmup, iters=args.iters, device=device)
    return {"images_per_s": batch / seconds, "ms_per_batch": 1e3 * seconds, "first_call_s": first}


def training_cell(config: Config, assets, batches, *, args) -> dict:
    """Images/s of the training step over ``--train-iters`` batches from ``batches`` (an iterator)."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = prepared(build_model(config, assets), device)
    criterion = build_criterion(config, model.flame)
    optimizer = build_optimizer(model, config.train)

    def steps(count: int) -> None:
        train_one_epoch(
            model=model,
            criterion=criterion,
            batches=itertools.islice(batches, count),
            optimizer=optimizer,
            epoch=0,
            step=0,
            device=device,
            amp=args.train_amp,
            report_at=lambda s: False,  # one report, at the end: a single host sync
            channels_last=device.type == "cuda",
        )

    try:
        steps(args.warmup)
        sync(device)
        start = time.perf_counter()
        steps(args.train_iters)
        sync(device)
        seconds = time.perf_counter() - start
    finally:
        getattr(batches, "close", lambda: None)()  # ends the loader's workers
    return {
        "images_per_s": args.train_batch * args.train_iters / seconds,
        "ms_per_step": 1e3 * seconds / args.train_iters,
    }


class Results:
    """The figures so far, written to ``--out`` after each measurement."""

    def __init__(self, out: Path, meta: dict) -> None:
        self.out, self.data = out, {"meta": meta, "inference": [], "training": []}
        out.mkdir(parents=True, exist_ok=True)

    def add(self, section: str, row: dict) -> None:
        self.data[section].append(row)
        (self.out / "gpu_throughput.json").write_text(json.dumps(self.data, indent=2) + "\n")
        (self.out / "gpu_throughput.md").write_text(self.markdown() + "\n")

    def markdown(self) -> str:
        m = self.data["meta"]
        lines = [
            f"Device: {m['device_name']}; torch {m['torch']}; {m['date']}; sizes: {m['sizes']}.",
            "",
            "Inference, images/s (ms per batch):",
            "",
            "| model | batch | mode | fp32 | bf16 |",
            "|---|---:|---|---:|---:|",
        ]
        cells = {(r["model"], r["batch"], r["mode"], r["precision"]): r for r in self.data["inference"]}
        order = sorted(
            dict.fromkeys(k[:3] for k in cells),
            key=lambda k: (list(ARCHS).index(k[0]), k[1], MODES.index(k[2])),
        )
        for model, batch, mode in order:
            shown = [_cell(cells.get((model, batch, mode, p))) for p in ("fp32", "bf16")]
            lines.append(f"| {ARCHS[model]} | {batch} | {mode} | {shown[0]} | {shown[1]} |")
        lines += [
            "",
            _ratios(cells),
            "",
            f"Training, images/s (batch {m['train_batch']}, {m['train_amp']}):",
            "",
        ]
        lines += ["| model | no data loading | file loader | cache loader |", "|---|---:|---:|---:|"]
        train = {(r["model"], r["source"]): r for r in self.data["training"]}
        for model in dict.fromkeys(k[0] for k in train):
            shown = [_cell(train.get((model, s)), ms=False) for s in SOURCES]
            lines.append(f"| {ARCHS[model]} | {' | '.join(shown)} |")
        return "\n".join(lines)


def _cell(row: dict | None, *, ms: bool = True) -> str:
    if row is None:
        return "-"
    if "error" in row:
        return f"error: {row['error'][:60]}"
    return f"{row['images_per_s']:,.1f}" + (f" ({row['ms_per_batch']:.2f} ms)" if ms else "")


def _ratios(cells: dict) -> str:
    """Trans3DHead / DAD-3DNet images/s in each (batch, mode, precision) both measured."""
    parts = []
    for (model, batch, mode, precision), row in cells.items():
        other = cells.get(("dad3dnet", batch, mode, precision))
        if model == "trans3dhead" and other and "images_per_s" in row and "images_per_s" in other:
            parts.append(
                f"batch {batch} {mode} {precision}: {row['images_per_s'] / other['images_per_s']:.2f}x"
            )
    return "Trans3DHead / DAD-3DNet: " + ("; ".join(parts) if parts else "-")


def guarded(results: Results, section: str, key: dict, measure: Callable[[], dict]) -> None:
    """Measure one cell; record its figures or its error, print a line, go on."""
    try:
        row = {**key, **measure()}
    except Exception as exc:  # a benchmark run must survive one mode's failure (e.g. a compiler error)
        row = {**key, "error": one_line(exc)}
    results.add(section, row)
    shown = row.get("error") or f"{row['images_per_s']:,.1f} img/s"
    print(" ".join(f"{k}={v}" for k, v in key.items()), "->", shown, flush=True)


def training_sources(config: Config, assets, args) -> dict[str, Callable[[], object]]:
    """Batch iterators (built lazily) for each training source: synthetic, files, cache."""
    size, device, work = config.model.input_size, torch.device(args.device), Path(args.work or args.out)
    root = Path(args.data) if args.data else work / "data"
    if not args.data:
        synth_dataset(
            root, assets=assets, count=args.synth_count, image_size=args.synth_size, workers=args.workers or 1
        )
    cache = work / f"cache_{size}"
    written = build_cache(root, cache, assets=assets, size=size, crop=config.model.crop, workers=args.workers)
    print(f"cache {cache}: {written['items']} items ({written['written']} written now)", flush=True)
    pin = device.type == "cuda"
    augmentation = build_augmentation(config)
    files = DAD3DHeadsDataset(
        root=root, split="train", assets=assets, input_size=size, train=True, augmentation=augmentation
    )
    cached = CachedDataset(cache, train=True, augmentation=augmentation, input_size=size, assets=assets)

    def synthetic():
        from trans3dhead.data.device_augment import batch_to_device

        batch = next(endless(loader(files, batch=args.train_batch, workers=0)))
        images, targets = batch_to_device(batch, device)
        batch.images, batch.targets = images, targets
        return itertools.repeat(batch)

    return {
        "synthetic": synthetic,
        "files": lambda: endless(loader(files, batch=args.train_batch, workers=args.workers, pin=pin)),
        "cache": lambda: endless(loader(cached, batch=args.train_batch, workers=args.workers, pin=pin)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and few iterations (a smoke test)")
    parser.add_argument("--out", required=True, help="folder for gpu_throughput.json and .md")
    parser.add_argument("--work", help="folder for the synthetic data and the cache (default: --out)")
    parser.add_argument(
        "--sections", nargs="+", default=["inference", "training"], choices=["inference", "training"]
    )
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument(
        "--batches", type=int, nargs="+", help="inference batch sizes (default 1 32; tiny 1 4)"
    )
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=MODES)
    parser.add_argument("--graphs", action="store_true", help="add the CUDA-graph mode (reduce-overhead)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--backend", default="inductor", help="torch.compile backend (eager: tracing only)")
    parser.add_argument("--warmup", type=int, help="untimed calls / steps first (default 10; tiny 1)")
    parser.add_argument("--iters", type=int, help="timed inference calls (default 50; tiny 2)")
    parser.add_argument("--train-batch", type=int, help="training batch (default 128; tiny 4)")
    parser.add_argument("--train-iters", type=int, help="timed training steps (default 30; tiny 2)")
    parser.add_argument("--train-amp", default=None, choices=["off", "bf16"], help="default bf16 (tiny: off)")
    parser.add_argument(
        "--sources",
        nargs="+",
        default=SOURCES,
        choices=SOURCES,
    )
    parser.add_argument("--data", help="DAD-3DHeads-format root with a train split (default: synthesise one)")
    parser.add_argument("--synth-count", type=int, help="synthetic items (default 1024; tiny 8)")
    parser.add_argument("--synth-size", type=int, help="synthetic image side (default 512; tiny 96)")
    parser.add_argument("--workers", type=int, help="loader processes (default 12 on CUDA, else 0)")
    args = parser.parse_args()
    defaults = {
        "batches": ([1, 4], [1, 32]),
        "warmup": (1, 10),
        "iters": (2, 50),
        "train_batch": (4, 128),
        "train_iters": (2, 30),
        "train_amp": ("off", "bf16"),
        "synth_count": (8, 1024),
        "synth_size": (96, 512),
    }
    for name, (tiny, paper) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, tiny if args.tiny else paper)
    if args.workers is None:
        args.workers = 12 if args.device.startswith("cuda") else 0
    if args.graphs and "graphs" not in args.modes:
        args.modes.append("graphs")
    device = torch.device(args.device)
    all_configs = {arch: cfg for arch, cfg in configs(args.tiny).items() if arch in args.archs}
    assets = build_assets(next(iter(all_configs.values())).flame)
    out = Path(args.out)
    size = next(iter(all_configs.values())).model.input_size
    meta = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sizes": "tiny (ResNet-18, 64 px)" if args.tiny else f"paper (ResNet-50, {size} px)",
        "backend": args.backend,
        "warmup": args.warmup,
        "iters": args.iters,
        "train_batch": args.train_batch,
        "train_iters": args.train_iters,
        "train_amp": args.train_amp,
        "workers": args.workers,
    }
    results = Results(out, meta)
    print(f"{meta['device_name']} ({device}), torch {meta['torch']}, {meta['sizes']}", flush=True)
    if "inference" in args.sections:
        models = {arch: prepared(build_model(c, assets), device).eval() for arch, c in all_configs.items()}
        # the cheap, most wanted cells first (a run stopped by a time limit keeps them): eager, then
        # compiled; both models one after the other in each setting
        for mode, precision, batch, arch in itertools.product(
            args.modes, args.precisions, args.batches, models
        ):
            key = {"model": arch, "batch": batch, "mode": mode, "precision": precision}
            guarded(
                results,
                "inference",
                key,
                lambda m=models[arch], b=batch, mo=mode, p=precision: inference_cell(
                    m, batch=b, size=size, mode=mo, precision=p, args=args
                ),
            )
        del models
        torch._dynamo.reset()
    if "training" in args.sections:
        for arch, config in all_configs.items():
            sources = training_sources(config, assets, args)
            for source in args.sources:
                key = {"model": arch, "source": source, "batch": args.train_batch}
                guarded(
                    results,
                    "training",
                    key,
                    lambda s=sources[source], c=config: training_cell(c, assets, s(), args=args),
                )
    print()
    print(results.markdown())


if __name__ == "__main__":
    main()

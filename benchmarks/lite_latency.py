"""Per-face latency of the lite Trans3DHead, the small Trans3DHead and a 3DDFA_V2-sized network (issue 16).

    .venv/bin/python benchmarks/lite_latency.py [--threads 2 1] [--runs 200] [--rounds 4]
        [--configs configs/cpu/trans3dhead_lite.yaml configs/cpu/trans3dhead_lite_96.yaml ...]
        [--markdown OUT.md] [--json OUT.json]

Batch 1, float32, random weights (the speed does not depend on them), the embedded FLAME model.  For each
Trans3DHead config, side by side in one run:

* ``ort full``: ONNX Runtime on the graph ``trans3dhead export --batch 1`` writes (crop -> the FLAME
  parameters, the 68 branch landmarks and the FLAME layer: the full mesh, its projection and the FLAME
  landmarks), its batch fixed at 1; ``ort full, dynamic batch``: the same from ``trans3dhead export``;
* ``ort network``: the same network without the FLAME layer (crop -> parameters + 68 landmarks), the
  counterpart of 3DDFA_V2's 62 outputs, whose dense mesh is decoded outside its network;
* ``ort FLAME``: the FLAME layer alone (413 parameters -> mesh, projection, landmarks);
* ``eager``: PyTorch's full forward pass under ``torch.inference_mode``.

The reference is MobileNet-v1 (Howard et al. 2017) at width 0.5, 120 px input, global average pooling
and one linear layer to 62 outputs: the size of 3DDFA_V2's released network (0.85M parameters), built
here from that description with random weights.

Each ``--threads`` value sets ONNX Runtime's intra-op threads and ``torch.set_num_threads``.  Every model
gets ``--runs`` timed calls after warm-up, split into ``--rounds`` rounds taken in turn across the models,
so that load changes on a shared machine hit every model alike; the table gives the median and the 90th
percentile of all timed calls, and the fastest call (what the model costs when nothing else interrupts
it: the figure to compare on a busy machine).  ``x reference`` is the median over the reference's.  Run
it with ``OMP_NUM_THREADS`` equal to the largest thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from trans3dhead.config import load_config
from trans3dhead.inference.export import export_onnx
from trans3dhead.models.build import build_assets, build_model

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (
    "configs/cpu/trans3dhead_lite.yaml",
    "configs/cpu/trans3dhead_lite_96.yaml",
    "configs/cpu/trans3dhead_mnv2_160.yaml",
)
#: MobileNet-v1's separable blocks: (output channels at width 1, stride of the depthwise convolution).
_MOBILENET_V1 = (
    *((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)),
    *[(512, 1)] * 5,
    *((1024, 2), (1024, 1)),
)
_WARMUP = 10


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def mobilenet_v1(*, width: float = 0.5, outputs: int = 62) -> nn.Sequential:
    """MobileNet-v1: a 3x3 stride-2 stem, 13 depthwise-separable blocks, average pool, one linear layer."""
    channels = int(32 * width)
    layers = _conv_bn_relu(3, channels, 3, 2)
    for out, stride in _MOBILENET_V1:
        out = int(out * width)
        layers += _conv_bn_relu(channels, channels, 3, stride, groups=channels)  # depthwise
        layers += _conv_bn_relu(channels, out, 1, 1)  # pointwise
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, outputs))


class _Network(nn.Module):
    """Crop -> (params (B, K), landmarks (B, N, 2)): the model without its FLAME layer."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        memory, pos = self.model.encode(images)
        params = self.model.param_branch(memory, pos)  # (B, K)
        landmarks = self.model.landmark_branch(memory, pos)[-1]  # (L, B, N, 2) -> (B, N, 2)
        return params, landmarks


class _Flame(nn.Module):
    """params (B, K) -> the FLAME outputs the exported graph has."""

    def __init__(self, flame: nn.Module) -> None:
        super().__init__()
        self.flame = flame

    def forward(self, params: Tensor) -> tuple[Tensor, ...]:
        f = self.flame(params)
        return f.vertices, f.posed_vertices, f.rotation, f.projected, f.landmarks_3d, f.landmarks_2d


def _export(module: nn.Module, example: Tensor, path: Path) -> Path:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about frozen shape checks, dynamo=False
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=17, input_names=["x"])
    return path


@dataclass
class Subject:
    """One thing to time: a name, what it is, its parameters and its callables per thread count."""

    model: str
    part: str
    params: int
    make: Callable[[int], Callable[[], object]]
    samples: dict[int, list[float]] = field(default_factory=dict)


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ort(path: Path, array: np.ndarray) -> Callable[[int], Callable[[], object]]:
    def make(threads: int) -> Callable[[], object]:
        session = _session(path, threads)
        name = session.get_inputs()[0].name
        return lambda: session.run(None, {name: array})

    return make


def _eager(module: nn.Module, example: Tensor) -> Callable[[int], Callable[[], object]]:
    def make(threads: int) -> Callable[[], object]:
        def run() -> object:
            torch.set_num_threads(threads)
            with torch.inference_mode():
                return module(example)

        return run

    return make


def _subjects(configs: list[str], folder: Path) -> tuple[list[Subject], dict[str, str]]:
    subjects, about = [], {}
    for config_path in configs:
        config = load_config(REPO / config_path, ["model.pretrained=null"])
        torch.manual_seed(0)
        model = build_model(config, build_assets(config.flame)).eval()
        name, size, m = Path(config_path).stem, config.model.input_size, config.model
        params = sum(p.numel() for p in model.parameters())
        about[name] = (
            f"{m.backbone} {size} px, d_model {m.d_model}, FFN {m.dim_feedforward}, {m.decoder_layers} "
            f"decoder layers, {model.param_branch.query_pos.shape[0]} 3DMM queries, "
            f"K = {model.flame.num_params}"
        )
        crop = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        fixed = export_onnx(model, folder / f"{name}_batch1.onnx", batch=1)  # `export --batch 1`
        full = export_onnx(model, folder / f"{name}.onnx")
        network = _export(_Network(model), crop, folder / f"{name}_network.onnx")
        with torch.no_grad():
            predicted = model(crop).params
        flame = _export(_Flame(model.flame), predicted, folder / f"{name}_flame.onnx")
        subjects += [
            Subject(name, "ort full", params, _ort(fixed, crop.numpy())),
            Subject(name, "ort full, dynamic batch", params, _ort(full, crop.numpy())),
            Subject(name, "ort network", params, _ort(network, crop.numpy())),
            Subject(name, "ort FLAME", 0, _ort(flame, predicted.numpy())),
            Subject(name, "eager full", params, _eager(model, crop)),
        ]
    torch.manual_seed(0)
    reference = mobilenet_v1().eval()
    name = "3ddfa_v2_size_reference"
    about[name] = "MobileNet-v1 width 0.5, 120 px, 62 outputs (random weights)"
    crop = torch.rand(1, 3, 120, 120, generator=torch.Generator().manual_seed(0))
    path = _export(reference, crop, folder / f"{name}.onnx")
    params = sum(p.numel() for p in reference.parameters())
    subjects += [
        Subject(name, "ort network", params, _ort(path, crop.numpy())),
        Subject(name, "eager full", params, _eager(reference, crop)),
    ]
    return subjects, about


def measure(subjects: list[Subject], threads: list[int], runs: int, rounds: int) -> None:
    per_round = max(1, runs // rounds)
    for count in threads:
        calls = {id(s): s.make(count) for s in subjects}
        for s in subjects:
            for _ in range(_WARMUP):
                calls[id(s)]()
            s.samples[count] = []
        for _ in range(rounds):
            for s in subjects:
                call, samples = calls[id(s)], s.samples[count]
                for _ in range(per_round):
                    start = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - start)


def _row(s: Subject, count: int) -> dict:
    ms = np.asarray(s.samples[count]) * 1e3
    return {
        "model": s.model,
        "part": s.part,
        "threads": count,
        "params": s.params,
        "median_ms": float(statistics.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "min_ms": float(ms.min()),
        "runs": len(ms),
    }


def markdown(rows: list[dict], about: dict[str, str], context: dict) -> str:
    lines = [
        f"Batch 1, ms per face (median / p90 of {rows[0]['runs']} calls); {context['machine']}; "
        f"load average {context['load_before']} before, {context['load_after']} after; "
        f"torch {context['torch']}, onnxruntime {context['onnxruntime']}, {context['date']}.",
        "",
    ]
    lines += [f"- `{name}`: {text}" for name, text in about.items()]
    header = "| model | params | threads | part | median ms | p90 ms | min ms | x reference |"
    lines += ["", header, "|---" * 8 + "|"]
    reference = {
        r["threads"]: r["median_ms"]
        for r in rows
        if r["model"] == "3ddfa_v2_size_reference" and r["part"] == "ort network"
    }
    for r in rows:
        ratio = r["median_ms"] / reference[r["threads"]] if r["part"].startswith("ort") else None
        params = f"{r['params'] / 1e6:.2f}M" if r["params"] else "-"
        lines.append(
            f"| {r['model']} | {params} | {r['threads']} | {r['part']} | {r['median_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['min_ms']:.2f} | {'-' if ratio is None else f'{ratio:.1f}x'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--runs", type=int, default=200, help="timed calls per model and thread count")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--markdown", type=Path, help="write the table here")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()

    import onnxruntime as ort

    context = {
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})",
        "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        subjects, about = _subjects(args.configs, Path(tmp))
        measure(subjects, args.threads, args.runs, args.rounds)
    context["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    rows = [_row(s, count) for count in args.threads for s in subjects]
    text = markdown(rows, about, context)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"context": context, "about": about, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

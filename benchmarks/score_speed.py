"""Speed of DAD-3DHeads scoring at the test set's size (2,746 items) on a FLAME-sized model.

Synthetic GT items and noisy predictions (nested lists, as a parsed submission holds them) are scored
with :func:`trans3dhead.metrics.score_predictions`; the script prints items per second and a JSON line.
The issue's target: all 2,746 items in at most 60 s on 2 CPU cores.  ``--io`` also times writing the GT
and submission files and reading them back (what ``trans3dhead score`` adds on top).

    .venv/bin/python benchmarks/score_speed.py [--items 2746] [--model embedded|synthetic] [--io]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from trans3dhead.metrics import (
    BenchmarkOptions,
    BenchmarkTopology,
    read_gt_file,
    read_submission,
    score_predictions,
    write_gt_file,
    write_submission,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the metric tests' GT samples
from gt_samples import perturbed_prediction, synthetic_gt_item  # noqa: E402


def synthetic_topology(
    rng: np.random.Generator, vertices: int = 5023
) -> tuple[np.ndarray, BenchmarkTopology]:
    """A head-sized point cloud with FLAME's subset sizes (3669 head, 2094 face, 68 landmarks)."""
    directions = rng.normal(size=(vertices, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    template = (directions * np.array([0.08, 0.11, 0.10])).astype(np.float32)
    front = np.argsort(-template[:, 2])  # the face subset: the most frontal vertices
    topology = BenchmarkTopology(
        num_vertices=vertices,
        landmark_corners=front[rng.integers(0, 2094, size=(68, 3))],
        landmark_bary=rng.dirichlet(np.ones(3), size=68),
        head=np.sort(front[:3669]),
        face=np.sort(front[:2094]),
    )
    return template, topology


def embedded_topology() -> tuple[np.ndarray, BenchmarkTopology]:
    from trans3dhead.flame import embedded_assets

    assets = embedded_assets()
    return assets.model.v_template, BenchmarkTopology.from_assets(assets)


def make_data(count: int, template: np.ndarray, topology: BenchmarkTopology, seed: int) -> tuple[list, dict]:
    rng = np.random.default_rng(seed)
    items, predictions = [], {}
    for index in range(count):
        shape = template + rng.normal(scale=0.002, size=template.shape).astype(np.float32)
        attributes = {"pose": ["front", "sided", "atypical"][index % 3], "quality": ["hq", "lq"][index % 2]}
        gt = synthetic_gt_item(shape, item_id=f"{index:05d}", rng=rng, attributes=attributes)
        items.append(gt)
        predictions[gt.item_id] = perturbed_prediction(
            gt, topology, rng=rng, pixel_noise=3.0, vertex_noise=0.02, rotation_noise_deg=8.0
        )
    return items, predictions


def time_io(items: list, predictions: dict) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gt_path = write_gt_file(Path(tmp) / "gt.json", items)
        sub_path = write_submission(Path(tmp) / "submission.json", predictions)
        written = time.perf_counter()
        read_gt_file(gt_path)
        read_submission(sub_path)
        read = time.perf_counter()
        sizes = gt_path.stat().st_size + sub_path.stat().st_size
    return {"write_s": written - start, "read_s": read - written, "file_mb": sizes / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=2746)
    parser.add_argument("--model", choices=("embedded", "synthetic"), default="synthetic")
    parser.add_argument("--z5", choices=("reference", "knn"), default="reference")
    parser.add_argument("--io", action="store_true", help="also time writing and reading the JSON files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    template, topology = embedded_topology() if args.model == "embedded" else synthetic_topology(rng)
    start = time.perf_counter()
    items, predictions = make_data(args.items, template, topology, args.seed)
    generated = time.perf_counter()
    result = score_predictions(
        items, predictions, topology=topology, options=BenchmarkOptions(z5_variant=args.z5)
    )
    seconds = time.perf_counter() - generated
    record = {
        "items": args.items,
        "vertices": topology.num_vertices,
        "head": int(topology.head.size),
        "face": int(topology.face.size),
        "z5": args.z5,
        "generate_s": round(generated - start, 2),
        "score_s": round(seconds, 2),
        "items_per_s": round(args.items / seconds, 1),
        "means": {key: summary.mean for key, summary in result.overall.items()},
    }
    if args.io:
        record.update({key: round(value, 2) for key, value in time_io(items, predictions).items()})
    print(f"scored {args.items} items in {seconds:.1f} s: {args.items / seconds:.1f} items/s")
    print(json.dumps(record))


if __name__ == "__main__":
    main()

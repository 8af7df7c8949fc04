"""How far an orthographic camera can explain the synthetic benchmark's perspective projections.

The models project orthographically (scale, rotation, 2D translation), the synthetic camera is a
pinhole.  For each item this fits the best scaled-orthographic camera to the GT projection of the head
vertices (least-squares affine fit, then the nearest scaled rotation) and reports the angle between the
fitted rotation and the GT rotation: the pose error that supervision through the reprojection alone
cannot get under.  One synthetic dataset per focal range (64 px images; the geometry does not depend on
the image size).

    .venv/bin/python benchmarks/ortho_fit.py --items 300 --focal 0.9 4 --focal 1.5 4 --focal 2 6
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from trans3dhead.data.io import read_annotation, read_metadata
from trans3dhead.data.synthetic import SceneOptions, generate_dataset
from trans3dhead.flame import embedded_assets
from trans3dhead.geometry.camera import gt_project
from trans3dhead.metrics.pose import gt_pose_rotation, pose_angle, pose_error


def orthographic_rotation(points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(V, 3) model points, (V, 2) pixels (y down) -> the rotation (3, 3) of the best scaled-orthographic
    camera: affine least squares, then the nearest pair of orthonormal rows (SVD)."""
    design = np.concatenate([points, np.ones((len(points), 1))], axis=1)  # (V, 4)
    affine, *_ = np.linalg.lstsq(design, pixels, rcond=None)  # (4, 2)
    u, _, vt = np.linalg.svd(affine[:3].T, full_matrices=False)  # (2, 3) = U S V^T
    rows = u @ vt  # nearest (2, 3) with orthonormal rows
    return np.stack([rows[0], rows[1], np.cross(rows[0], rows[1])])


def measure(root: Path, split: str, assets, image_height: int) -> dict[str, np.ndarray]:
    head = assets.aux.subsets.get("head")
    focal, angle, error = [], [], []
    for entry in read_metadata(root, split):
        ann = read_annotation(root / entry["annotation_path"])
        vertices = ann.vertices if head is None else ann.vertices[head]
        pixels = gt_project(
            torch.from_numpy(vertices),
            torch.from_numpy(ann.model_view),
            torch.from_numpy(ann.projection),
            image_height,
        ).numpy()
        fitted = orthographic_rotation(vertices, pixels)
        gt = gt_pose_rotation(ann.model_view)
        focal.append(ann.projection[0, 0] / image_height)
        angle.append(float(pose_angle(fitted, gt)))
        error.append(float(pose_error(fitted, gt)))
    return {"focal": np.array(focal), "angle": np.array(angle), "error": np.array(error)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--focal", type=float, nargs=2, action="append", metavar=("LOW", "HIGH"))
    args = parser.parse_args()
    ranges = args.focal or [[0.9, 4.0]]
    assets = embedded_assets()
    print(
        "| focal range (image sizes) | items | angle mean (deg) | median | 95th pct | max | pose error mean |"
    )
    print("|---|---|---|---|---|---|---|")
    for low, high in ranges:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            options = SceneOptions(size=64, focal_range=(low, high))
            for _ in generate_dataset(root, assets=assets, counts={"train": args.items}, options=options):
                pass
            m = measure(root, "train", assets, image_height=64)
        a = m["angle"]
        print(
            f"| {low:g}-{high:g} | {len(a)} | {a.mean():.2f} | {np.median(a):.2f} | "
            f"{np.percentile(a, 95):.2f} | {a.max():.2f} | {m['error'].mean():.3f} |"
        )
        edges = [low, *[e for e in (1.5, 2.0, 3.0) if low < e < high], high]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            sel = (m["focal"] >= lo) & (m["focal"] < hi + 1e-9)
            if sel.any():
                print(
                    f"|   focal {lo:g}-{hi:g} | {sel.sum()} | {a[sel].mean():.2f} | "
                    f"{np.median(a[sel]):.2f} | "
                    f"{np.percentile(a[sel], 95):.2f} | {a[sel].max():.2f} | {m['error'][sel].mean():.3f} |"
                )


if __name__ == "__main__":
    main()

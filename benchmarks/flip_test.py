"""Flip test: does a model's error average out between a crop and its mirror image?

Runs a checkpoint over an annotated DAD-3DHeads-format split twice: as ``trans3dhead eval`` does, and
*flip-averaged*: each crop is also predicted mirrored (left-right), that prediction is mirrored back
(the rotation conjugated by ``diag(-1, 1, 1)``, the 68 landmarks renumbered left <-> right and their x
reflected across the crop) and averaged with the plain one (rotations: the nearest rotation to their
mean; landmarks of both sources: the mean).  The mesh, and so Chamfer and Z5, stay the plain pass's.

It prints the benchmark metrics of both, per pose subset, and how far apart the two passes are: the mean
angle between the plain rotation and the mirrored-back one, against the plain rotation's mean error.
Two passes with independent errors of equal size would disagree by about 1.4 times that size and their
average would err 0.7 times as much; the less they disagree, the more the errors are *mirror-consistent*
(the model makes the mirrored mistake on the mirrored image) and the less flip averaging can help: what
is wrong then comes from what the image shows, not from noise of the network.

    .venv/bin/python benchmarks/flip_test.py CHECKPOINT DATA_ROOT [--split test] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trans3dhead.geometry import rotation_distance

#: 68-point (iBUG 300-W) landmark of the mirrored face at each index: jaw 0-16, brows 17-26, nose bridge
#: 27-30, nostrils 31-35, eyes 36-47 (each eye's 6 points run clockwise), outer lips 48-59, inner 60-67.
LANDMARK_MIRROR = (
    *range(16, -1, -1),
    *range(26, 16, -1),
    27, 28, 29, 30,
    35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46,
    39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    64, 63, 62, 61, 60, 67, 66, 65,
)  # fmt: skip
MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
METRICS = ("nme_flame", "nme_branch", "pose_error", "pose_angle_deg")


def mirror_rotation(rotation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation of the mirrored head: ``M R M`` with ``M = diag(-1, 1, 1)`` (the FLAME head's
    x axis is its left-right axis, the camera's x the image's)."""
    m = MIRROR.to(rotation)
    return m @ rotation @ m


def mirror_points(points: torch.Tensor, width: float) -> torch.Tensor:
    """(B, 68, 2) landmarks of a mirrored crop of ``width`` (crop pixels, or 1.0 for normalised
    coordinates) -> the same face's landmarks in the unmirrored crop."""
    out = points[:, list(LANDMARK_MIRROR)].clone()
    out[..., 0] = width - out[..., 0]
    return out


def mean_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The rotation nearest (Frobenius) to ``(a + b) / 2``, batched (..., 3, 3)."""
    u, _, vh = torch.linalg.svd((a + b) / 2)
    d = torch.sign(torch.linalg.det(u @ vh))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], dim=-1))
    return u @ fix @ vh


class FlipAveraged(nn.Module):
    """``model`` whose rotation and 2D landmarks are averaged with its mirrored-back prediction on the
    mirrored crop; ``disagreement_deg`` collects, per item, the angle between the two rotations."""

    def __init__(self, model: nn.Module, input_size: int) -> None:
        super().__init__()
        self.model, self.input_size = model, input_size
        self.has_landmark_branch = bool(getattr(model, "has_landmark_branch", False))
        self.disagreement_deg: list[float] = []

    def forward(self, images: torch.Tensor):
        plain, flipped = self.model(images), self.model(torch.flip(images, dims=[3]))
        back = mirror_rotation(flipped.flame.rotation)
        self.disagreement_deg += rotation_distance(plain.flame.rotation, back).tolist()
        landmarks_2d = mirror_points(flipped.flame.landmarks_2d, self.input_size)
        flame = dataclasses.replace(
            plain.flame,
            rotation=mean_rotation(plain.flame.rotation, back),
            landmarks_2d=(plain.flame.landmarks_2d + landmarks_2d) / 2,
        )
        landmarks = plain.landmarks
        if self.has_landmark_branch:
            landmarks = (plain.landmarks + mirror_points(flipped.landmarks, 1.0)) / 2
        return dataclasses.replace(plain, flame=flame, landmarks=landmarks)


def _summary(result) -> dict[str, dict[str, float]]:
    """``all`` and each pose subset -> the metrics of :data:`METRICS` that were scored."""
    rows = {"all": result.overall}
    rows.update({row.value: row.metrics for row in result.attributes if row.attribute == "pose"})
    return {
        name: {key: metrics[key].mean for key in METRICS if key in metrics and metrics[key].mean is not None}
        for name, metrics in rows.items()
    }


def run(checkpoint: Path, root: Path, split: str, batch_size: int = 16) -> dict:
    from torch.utils.data import DataLoader

    from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
    from trans3dhead.engine.evaluate import load_gt_items, predict
    from trans3dhead.metrics.benchmark import score_predictions
    from trans3dhead.metrics.topology import BenchmarkTopology
    from trans3dhead.models.build import model_from_checkpoint

    model, config, assets = model_from_checkpoint(checkpoint)
    size = config.model.input_size
    dataset = DAD3DHeadsDataset(
        root=root,
        split=split,
        assets=assets,
        input_size=size,
        annotations=False,
        crop_style=config.model.crop,
    )
    _, gt_items = load_gt_items(root, split)
    topology = BenchmarkTopology.from_assets(assets)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
    averaged = FlipAveraged(model, size)
    results = {
        name: score_predictions(
            gt_items, predict(net, loader, device=torch.device("cpu"), dense_2d=False), topology=topology
        )
        for name, net in (("plain", model), ("flip-averaged", averaged))
    }
    out: dict = {name: _summary(result) for name, result in results.items()}
    errors = [item.values.get("pose_angle_deg") for item in results["plain"].items]
    out["mean_error_deg"] = float(np.mean([e for e in errors if e is not None]))
    out["mean_disagreement_deg"] = float(np.mean(averaged.disagreement_deg))
    out["items"] = len(averaged.disagreement_deg)
    return out


def markdown(report: dict) -> str:
    subsets = [s for s in ("front", "sided", "atypical") if s in report["plain"]] + ["all"]
    lines = [
        "| prediction | " + " | ".join(f"{s} NME FLAME / branch / pose error" for s in subsets) + " |",
        "|---|" + "---|" * len(subsets),
    ]
    for name in ("plain", "flip-averaged"):
        cells = []
        for s in subsets:
            m = report[name][s]
            branch = f"{m['nme_branch']:.2f}" if "nme_branch" in m else "n/a"
            cells.append(f"{m['nme_flame']:.2f} / {branch} / {m['pose_error']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"{report['items']} items: the plain rotation errs by {report['mean_error_deg']:.2f} degrees on "
        "average; the mirrored crop's rotation, mirrored back, differs from it by "
        f"{report['mean_disagreement_deg']:.2f} degrees"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a trained model's checkpoint (.pt)")
    parser.add_argument("data", type=Path, help="an annotated DAD-3DHeads-format dataset root")
    parser.add_argument("--split", default="test", help="split to run (default test)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    report = run(args.checkpoint, args.data, args.split)
    print(markdown(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

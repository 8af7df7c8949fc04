"""Flip test: does a model's error average out between a crop and its mirror image?

Runs a checkpoint over an annotated DAD-3DHeads-format split twice: as ``trans3dhead eval`` does, and
flip-averaged as ``trans3dhead eval --flip`` does (:mod:`trans3dhead.models.flip`: each crop is also
predicted mirrored, that prediction mapped back and averaged with the plain one in parameter space).

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
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trans3dhead.geometry import rotation_distance
from trans3dhead.geometry.rotation import rotation_6d_to_matrix
from trans3dhead.models.flip import FlipMirror, average_with_mirrored, with_mirrored

METRICS = ("nme_flame", "nme_branch", "pose_error", "pose_angle_deg")


class FlipAveraged(nn.Module):
    """``model`` flip-averaged (:func:`~trans3dhead.models.flip.average_with_mirrored`);
    ``disagreement_deg`` collects, per item, the angle between the plain and the mirrored-back rotation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.flame = model, model.flame
        self.mirror = FlipMirror.from_flame(model.flame)
        self.has_landmark_branch = bool(getattr(model, "has_landmark_branch", False))
        self.disagreement_deg: list[float] = []

    def forward(self, images: torch.Tensor):
        output = self.model(with_mirrored(images))
        batch, rotation = len(images), self.flame.layout.slices["rotation"]
        back = self.mirror.unmirror_params(output.params[batch:], self.flame.layout)[:, rotation]
        plain = output.flame.rotation[:batch]
        self.disagreement_deg += rotation_distance(plain, rotation_6d_to_matrix(back)).tolist()
        return average_with_mirrored(output, flame=self.flame, mirror=self.mirror)


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
    averaged = FlipAveraged(model)
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

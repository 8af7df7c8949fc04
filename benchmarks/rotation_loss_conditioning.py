"""How the two rotation losses read a model's predictions, by how close each head is to a profile view.

The paper's Euler loss (``loss.weights.euler``, :mod:`trans3dhead.losses.euler`) compares (roll, pitch,
yaw) in the benchmark convention, where yaw lies in [-90, 90]; near ``|yaw| = 90`` the decomposition is
ill-conditioned.  This script reads the folder ``trans3dhead eval`` writes (``gt.json``,
``submission.json``) and prints, per band of ``|GT yaw|`` (the benchmark convention's yaw, degrees):

* n, the benchmark pose error and the geodesic angle between the predicted and the GT rotation (deg);
* each item's Euler loss and geodesic loss (``loss.weights.geodesic``), both SmoothL1 in degrees, as the
  training criterion computes them (means over the band);
* the mean and largest norm, over the band's items, of each loss's gradient with respect to the
  predicted rotation matrix: what one item pushes into the network.

    .venv/bin/python benchmarks/rotation_loss_conditioning.py runs/demo_pretrain_stage6/arms/control/test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from trans3dhead.geometry.rotation import matrix_to_euler, rotation_distance
from trans3dhead.losses import euler_loss, geodesic_loss
from trans3dhead.metrics.pose import gt_pose_rotation, pose_error

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pose_breakdown import read_predictions  # noqa: E402

BANDS = ((0.0, 45.0), (45.0, 70.0), (70.0, 80.0), (80.0, 85.0), (85.0, 90.0))


def item_rows(gt: list[dict], predicted: list[np.ndarray]) -> list[dict]:
    """One row per GT item: |GT yaw|, pose error, geodesic angle, both losses and their gradient norms."""
    rows = []
    for entry, r_pred in zip(gt, predicted, strict=True):
        r_gt = gt_pose_rotation(np.asarray(entry["model_view_matrix"], np.float64))
        target = torch.from_numpy(r_gt)[None]
        target_euler = matrix_to_euler(target)
        row = {
            "abs_yaw": abs(float(target_euler[0, 2])),
            "pose_error": float(pose_error(r_pred, r_gt)),
            "angle": float(rotation_distance(torch.from_numpy(r_pred), torch.from_numpy(r_gt))),
        }
        for name, loss, goal in (("euler", euler_loss, target_euler), ("geodesic", geodesic_loss, target)):
            predicted_rotation = torch.from_numpy(r_pred)[None].requires_grad_(True)
            value = loss(predicted_rotation, goal)
            (gradient,) = torch.autograd.grad(value, predicted_rotation)
            row[name] = float(value.detach())
            row[f"{name}_grad"] = float(gradient.norm())
        rows.append(row)
    return rows


def bands(rows: list[dict]) -> list[dict]:
    """Per |yaw| band (the last one closed at 90): count and means, the gradients' mean and max."""
    table = []
    for i, (low, high) in enumerate(BANDS):
        last = i == len(BANDS) - 1
        chosen = [r for r in rows if low <= r["abs_yaw"] < high or (last and r["abs_yaw"] == high)]
        if not chosen:
            continue
        summary: dict = {"band": f"{low:g}-{high:g}", "count": len(chosen)}
        for key in ("pose_error", "angle", "euler", "geodesic"):
            summary[key] = float(np.mean([r[key] for r in chosen]))
        for key in ("euler_grad", "geodesic_grad"):
            values = [r[key] for r in chosen]
            summary[key] = float(np.mean(values))
            summary[f"{key}_max"] = float(np.max(values))
        table.append(summary)
    return table


def markdown(table: list[dict]) -> str:
    lines = [
        "| abs(yaw) (deg) | n | pose error | angle (deg) | Euler loss | geodesic loss "
        "| Euler gradient mean / max | geodesic gradient mean / max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in table:
        lines.append(
            f"| {s['band']} | {s['count']} | {s['pose_error']:.3f} | {s['angle']:.1f} | {s['euler']:.1f} "
            f"| {s['geodesic']:.1f} | {s['euler_grad']:.0f} / {s['euler_grad_max']:.0f} "
            f"| {s['geodesic_grad']:.1f} / {s['geodesic_grad_max']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path, help="a folder `trans3dhead eval` wrote (gt.json, submission)")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    table = bands(item_rows(*read_predictions(args.eval_dir)))
    print(markdown(table))
    if args.json is not None:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

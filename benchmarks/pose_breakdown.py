"""Where a model's pose error comes from, on an evaluated synthetic (or DAD-3DHeads val) split.

Reads the folder ``trans3dhead eval`` writes (``gt.json``: the GT with model-view matrices and
attributes; ``submission.json``: the predicted rotations) and prints, per pose subset and overall:

* the benchmark's pose error ``||I - R_pred R_gt^T||_F`` (mean, median, share above 0.5 = 20 degrees);
* the pose error against the *appearance* rotation ``Q R_gt``, where ``Q`` turns the ray from the camera
  to the head centre onto the optical axis.  A crop-based model sees the head along that ray, not along
  the axis: if its error came from not knowing where the crop sat in the image (the perspective
  ambiguity, docs/synthetic.md), its error against ``Q R_gt`` would be much lower than against ``R_gt``;
* the off-axis angle of the head (degrees) and the pose error that angle alone would cost
  (``||I - Q||_F``: a model that reads the appearance perfectly and ignores the crop position);
* the RMS of the residual rotation ``R_pred R_gt^T`` about the camera's x (pitch), y (yaw) and z (roll)
  axes, in degrees, over the items under 0.5 (the gross errors would swamp it), and its mean (a bias);
* a second table over the front and sided heads (the face in view) by image attribute: quality,
  occlusions, standard light, and ``clipped`` (the head box touches the image border: a head partly
  outside the picture);
* what carries the mean: the share of the summed pose error of the face-in-view and the atypical heads,
  each clipped or not;
* the pose error by the side of the head box in pixels (``sqrt(w h)``), over all heads and over the
  unclipped face-in-view heads;
* the ``--top`` largest errors (item, subset, box side, clipped) and the mean without the largest 1, 2,
  ... of them.

Several folders are pooled (each item once; an item is named ``folder/id`` then, by the folder's last
part where those differ, else by its path):

    .venv/bin/python benchmarks/pose_breakdown.py runs/demo/eval [more eval folders] [--top 5] [--json F]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from trans3dhead.geometry.camera import axis_alignment
from trans3dhead.metrics._jsonio import read_json
from trans3dhead.metrics.pose import gt_pose_rotation, pose_error

GROSS = 0.5  # pose error of a 20.4 degree rotation


def ray_alignment(centre: np.ndarray) -> np.ndarray:
    """(3,) head centre in the image-aligned camera frame (x right, y down, z away) -> the rotation (3, 3)
    taking its direction onto the optical axis (0, 0, 1), about their common normal."""
    return axis_alignment(centre)


def item_rows(gt: list[dict], predicted: list[np.ndarray]) -> list[dict]:
    """One row per GT item: subset, pose error, error against the appearance rotation, off-axis angle,
    the off-axis angle's own pose error and the residual rotation vector (degrees, camera axes)."""
    rows = []
    for entry, r_pred in zip(gt, predicted, strict=True):
        item_id = entry["id"]
        model_view = np.asarray(entry["model_view_matrix"], np.float64)
        r_gt = gt_pose_rotation(model_view)
        centre = model_view[:3, 3] * np.array([1.0, -1.0, -1.0])  # OpenGL -> image-aligned camera frame
        if centre[2] <= 0:
            raise ValueError(f"{item_id}: model_view_matrix puts the head centre {centre} behind the camera")
        q = ray_alignment(centre)
        rows.append(
            {
                "subset": (entry.get("attributes") or {}).get("pose", "all"),
                "error": float(pose_error(r_pred, r_gt)),
                "error_appearance": float(pose_error(r_pred, q @ r_gt)),
                "off_axis_deg": float(np.degrees(np.arccos(centre[2] / np.linalg.norm(centre)))),
                "off_axis_error": float(pose_error(q, np.eye(3))),
                "residual_deg": Rotation.from_matrix(r_pred @ r_gt.T).as_rotvec(degrees=True).tolist(),
            }
        )
    return rows


def summarise(rows: list[dict]) -> dict[str, float]:
    error = np.array([r["error"] for r in rows])
    small = np.array([r["residual_deg"] for r in rows if r["error"] <= GROSS]).reshape(-1, 3)
    rms = np.sqrt((small**2).mean(axis=0)) if len(small) else np.full(3, np.nan)
    bias = small.mean(axis=0) if len(small) else np.full(3, np.nan)
    return {
        "count": len(rows),
        "error": float(error.mean()),
        "median": float(np.median(error)),
        "gross_share": float((error > GROSS).mean()),
        "error_appearance": float(np.mean([r["error_appearance"] for r in rows])),
        "off_axis_deg": float(np.mean([r["off_axis_deg"] for r in rows])),
        "off_axis_error": float(np.mean([r["off_axis_error"] for r in rows])),
        "rms_pitch_yaw_roll_deg": [round(float(v), 3) for v in rms],
        "bias_pitch_yaw_roll_deg": [round(float(v), 3) for v in bias],
    }


ATTRIBUTES = ("quality", "occlusions", "standard light")
FACE_IN_VIEW = ("front", "sided")  # the pose subsets that show the face


def clipped(entry: dict) -> bool:
    """Whether the head box ``[x, y, w, h]`` touches the border of the (square) image."""
    x, y, w, h = entry["bbox"]
    size = entry["image_height"]
    return min(x, y) <= 0.5 or max(x + w, y + h) >= size - 0.5


def clipped_or_none(entry: dict) -> bool | None:
    """:func:`clipped`, or None for an entry without a head box or an image size."""
    return clipped(entry) if "bbox" in entry and "image_height" in entry else None


def _stats(errors: list[float]) -> dict[str, float]:
    """Count, mean, median and share over 0.5 of a group's pose errors."""
    return {
        "count": len(errors),
        "error": float(np.mean(errors)),
        "median": float(np.median(errors)),
        "gross_share": float(np.mean(np.array(errors) > GROSS)),
    }


def read_predictions(eval_dir: Path) -> tuple[list[dict], list[np.ndarray]]:
    """The GT entries of ``eval_dir/gt.json`` and, in their order, the predicted rotations (3, 3) of
    ``eval_dir/submission.json``; a GT item without a prediction is named."""
    gt = read_json(eval_dir / "gt.json", what="GT file (trans3dhead eval's gt.json)")
    submission = read_json(eval_dir / "submission.json", what="submission (trans3dhead eval's output)")
    predicted = []
    for entry in gt:
        if entry["id"] not in submission:
            raise KeyError(f"submission.json has no prediction for {entry['id']!r} (gt.json lists it)")
        predicted.append(np.asarray(submission[entry["id"]]["rotation_matrix"], np.float64))
    return gt, predicted


def read(eval_dir: Path) -> tuple[list[dict], list[dict]]:
    """The GT entries of ``eval_dir/gt.json`` and their :func:`item_rows` (read once for both tables)."""
    gt, predicted = read_predictions(eval_dir)
    return gt, item_rows(gt, predicted)


def breakdown(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Subset name (and ``all``) -> :func:`summarise` of its items."""
    subsets = sorted({r["subset"] for r in rows})
    table = {name: summarise([r for r in rows if r["subset"] == name]) for name in subsets if name != "all"}
    table["all"] = summarise(rows)
    return table


def by_attribute(gt: list[dict], rows: list[dict]) -> dict[str, dict[str, float]]:
    """``attribute=value`` -> (count, mean, median, share over 0.5) over the front and sided items."""
    groups: dict[str, list[float]] = {}
    for entry, row in zip(gt, rows, strict=True):
        if row["subset"] not in FACE_IN_VIEW:
            continue
        attributes = entry.get("attributes") or {}
        keys = [f"{name}={attributes[name]}" for name in ATTRIBUTES if name in attributes]
        edge = clipped_or_none(entry)
        if edge is not None:
            keys.append(f"clipped={str(edge).lower()}")
        for key in keys:
            groups.setdefault(key, []).append(row["error"])
    return {key: _stats(errors) for key, errors in sorted(groups.items())}


BOX_EDGES = (32, 48, 64, 80, 96)  # head-box side bins, pixels


def box_side(entry: dict) -> float:
    """The side of the head box ``[x, y, w, h]`` in pixels: ``sqrt(w h)``."""
    _, _, w, h = entry["bbox"]
    return float(np.sqrt(w * h))


def _group(errors: list[float], total: float) -> dict[str, float]:
    """:func:`_stats` and the group's share of ``total``, the summed pose error of all items."""
    share = float(np.sum(errors) / total) if total > 0 else float("nan")
    return {**_stats(errors), "share_of_sum": share}


def carriers(gt: list[dict], rows: list[dict]) -> dict[str, dict[str, float]]:
    """``face in view`` (front and sided) and ``atypical`` heads, each clipped or not -> count, mean,
    median, share over 0.5 and share of the split's summed pose error."""
    total = float(sum(r["error"] for r in rows))
    groups: dict[str, list[float]] = {}
    for entry, row in zip(gt, rows, strict=True):
        kind = "face in view" if row["subset"] in FACE_IN_VIEW else row["subset"]
        edge = "clipped" if clipped_or_none(entry) else "unclipped"
        groups.setdefault(f"{kind}, {edge}", []).append(row["error"])
    return {key: _group(errors, total) for key, errors in sorted(groups.items())}


def by_box_side(gt: list[dict], rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Bins of the head-box side (``BOX_EDGES``) -> the same figures as :func:`carriers`, over all heads
    (``all``) and over the unclipped face-in-view heads (``face in view, unclipped``)."""
    total = float(sum(r["error"] for r in rows))
    edges = (0,) + BOX_EDGES + (None,)
    names = [f"{lo}-{hi}" if hi is not None else f">= {lo}" for lo, hi in itertools.pairwise(edges)]
    tables: dict[str, dict[str, list[float]]] = {"all": {}, "face in view, unclipped": {}}
    for entry, row in zip(gt, rows, strict=True):
        if "bbox" not in entry:
            continue
        side = box_side(entry)
        name = names[int(np.searchsorted(BOX_EDGES, side, side="right"))]
        tables["all"].setdefault(name, []).append(row["error"])
        if row["subset"] in FACE_IN_VIEW and clipped_or_none(entry) is False:
            tables["face in view, unclipped"].setdefault(name, []).append(row["error"])
    return {
        table: {name: _group(groups[name], total) for name in names if name in groups}
        for table, groups in tables.items()
    }


def largest(gt: list[dict], rows: list[dict], top: int) -> dict[str, list]:
    """The ``top`` largest errors (id, subset, error, box side, clipped) and the mean pose error without
    the largest 0, 1, ..., ``top`` of them."""
    errors = np.array([r["error"] for r in rows])
    order = np.argsort(-errors, kind="stable")[:top]
    items = [
        {
            "id": gt[i]["id"],
            "subset": rows[i]["subset"],
            "error": float(errors[i]),
            "box_side": box_side(gt[i]) if "bbox" in gt[i] else None,
            "clipped": clipped_or_none(gt[i]),
        }
        for i in order
    ]
    ordered = np.sort(errors)[::-1]
    without = [float(ordered[k:].mean()) for k in range(min(top, len(ordered) - 1) + 1)]
    return {"items": items, "mean_without_top": without}


def read_pooled(eval_dirs: list[Path]) -> tuple[list[dict], list[dict]]:
    """:func:`read` of each folder, concatenated; with several folders each item id becomes
    ``folder/id`` (two benchmarks' splits share ids)."""
    if len(eval_dirs) == 1:
        return read(eval_dirs[0])
    paths = [str(d) for d in eval_dirs]
    if len({str(d.resolve()) for d in eval_dirs}) != len(paths):
        raise ValueError(f"an eval folder is given twice: {paths}")
    names = [d.name for d in eval_dirs]
    if len(set(names)) != len(names):
        names = paths
    gt_all: list[dict] = []
    rows_all: list[dict] = []
    for folder, name in zip(eval_dirs, names, strict=True):
        gt, rows = read(folder)
        gt_all += [{**entry, "id": f"{name}/{entry['id']}"} for entry in gt]
        rows_all += rows
    return gt_all, rows_all


def markdown(table: dict[str, dict[str, float]]) -> str:
    lines = [
        "| subset | n | pose error | median | > 0.5 | vs appearance | off-axis (deg) | off-axis alone "
        "| RMS pitch / yaw / roll (deg) | bias pitch / yaw / roll |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in table.items():
        rms = " / ".join(f"{v:.1f}" for v in s["rms_pitch_yaw_roll_deg"])
        bias = " / ".join(f"{v:+.1f}" for v in s["bias_pitch_yaw_roll_deg"])
        lines.append(
            f"| {name} | {s['count']} | {s['error']:.3f} | {s['median']:.3f} | {s['gross_share']:.1%} "
            f"| {s['error_appearance']:.3f} | {s['off_axis_deg']:.2f} | {s['off_axis_error']:.3f} "
            f"| {rms} | {bias} |"
        )
    return "\n".join(lines)


def attribute_markdown(table: dict[str, dict[str, float]]) -> str:
    lines = ["| front and sided heads | n | pose error | median | > 0.5 |", "|---|---|---|---|---|"]
    for key, s in table.items():
        share = f"{s['gross_share']:.1%}"
        lines.append(f"| {key} | {s['count']} | {s['error']:.3f} | {s['median']:.3f} | {share} |")
    return "\n".join(lines)


def group_markdown(title: str, table: dict[str, dict[str, float]]) -> str:
    lines = [f"| {title} | n | pose error | median | > 0.5 | share of the summed error |", "|---" * 6 + "|"]
    for key, s in table.items():
        lines.append(
            f"| {key} | {s['count']} | {s['error']:.3f} | {s['median']:.3f} | {s['gross_share']:.1%} "
            f"| {s['share_of_sum']:.1%} |"
        )
    return "\n".join(lines)


def largest_markdown(top: dict[str, list]) -> str:
    lines = ["| largest errors | subset | pose error | box side (px) | clipped |", "|---|---|---|---|---|"]
    for item in top["items"]:
        side = "-" if item["box_side"] is None else f"{item['box_side']:.0f}"
        edge = "-" if item["clipped"] is None else str(item["clipped"]).lower()
        lines.append(f"| {item['id']} | {item['subset']} | {item['error']:.3f} | {side} | {edge} |")
    without = ", ".join(f"{k}: {v:.3f}" for k, v in enumerate(top["mean_without_top"]))
    return "\n".join(lines) + f"\n\nMean pose error without the largest k (k: mean): {without}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "eval_dirs", type=Path, nargs="+", help="folders by trans3dhead eval (gt.json, submission.json)"
    )
    parser.add_argument("--top", type=int, default=5, help="how many largest errors to list (default 5)")
    parser.add_argument("--json", type=Path, help="also write the tables here")
    args = parser.parse_args()
    if args.top < 0:
        parser.error(f"--top must be 0 or more, got {args.top}")
    gt, rows = read_pooled(args.eval_dirs)
    table, attributes = breakdown(rows), by_attribute(gt, rows)
    carried, sides, top = carriers(gt, rows), by_box_side(gt, rows), largest(gt, rows, args.top)
    parts = [markdown(table), attribute_markdown(attributes), group_markdown("heads", carried)]
    parts += [group_markdown(f"box side (px), {name}", groups) for name, groups in sides.items()]
    parts.append(largest_markdown(top))
    print("\n\n".join(parts))
    if args.json is not None:
        written = {"subsets": table, "attributes": attributes, "carriers": carried, "box_side": sides}
        args.json.write_text(json.dumps({**written, "largest": top}, indent=1) + "\n")


if __name__ == "__main__":
    main()

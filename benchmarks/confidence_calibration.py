"""Calibrate and check the per-head confidence (:mod:`trans3dhead.inference.confidence`) on synthetic data.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/confidence_calibration.py --out runs/confidence
        [--checkpoint FILE] [--items 400] [--seed 3] [--size 128] [--success-nme 10] [--flip]

Renders a synthetic benchmark (``--items`` validation and as many test heads, ``--seed``; seed 3 is neither
the demo's pretraining data, seed 1, nor its own benchmark, seed 0), runs the checkpoint (default: the
shipped demo model) over both splits with the GT head boxes, and for every head takes the disagreement of
its FLAME and branch landmarks (the confidence's input) and its actual landmark error (NME of the FLAME
landmarks, the default ``landmarks``).  The logistic mapping is fitted on the validation split
(:func:`~trans3dhead.inference.confidence.fit_mapping`) and checked on the test split, next to the shipped
:data:`~trans3dhead.inference.confidence.DEFAULT_MAPPING`: Spearman correlations with the error, the
failure flag's precision and recall, and the mean confidence per occlusion and pose subset.  Writes
``confidence.json`` and ``confidence.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from trans3dhead.data.synthetic import SceneOptions, generate_dataset
from trans3dhead.engine.evaluate import evaluate_split
from trans3dhead.inference.confidence import (
    DEFAULT_MAPPING,
    FAILURE_BELOW,
    ConfidenceMapping,
    fit_mapping,
    landmark_disagreement,
)
from trans3dhead.metrics.groundtruth import read_gt_file
from trans3dhead.models.build import model_from_checkpoint

DEMO = Path(__file__).resolve().parents[1] / "src/trans3dhead/pretrained/demo_mnv2_128.pt"
SUBSETS = (("occlusions", "false"), ("occlusions", "true"), ("pose", "front"), ("pose", "sided"))
SUBSETS += (("pose", "atypical"),)


def heads(out: Path, split: str, model, config, assets, *, flip: bool = False) -> dict[str, np.ndarray]:
    """Per head of ``split``: disagreement, NME (FLAME and branch landmarks) and attributes; ``flip``:
    each crop's prediction averaged with its mirror image's (``trans3dhead predict --flip``)."""
    folder = out / f"eval_{split}"
    result = evaluate_split(
        model,
        assets=assets,
        root=out / "data",
        split=split,
        out_dir=folder,
        input_size=config.model.input_size,
        crop_style=config.model.crop,
        camera_focal=config.model.camera_focal,
        flip=flip,
    )
    scores = {item.item_id: item for item in result.items}
    submission = json.loads((folder / "submission.json").read_text())
    rows = []
    for gt in read_gt_file(folder / "gt.json"):
        entry, score = submission[gt.item_id], scores[gt.item_id]
        flame, branch = entry["68_landmarks_2d_flame"], entry["68_landmarks_2d_branch"]
        rows.append(
            (
                landmark_disagreement(flame, branch, gt.bbox),
                score.values["nme_flame"],
                score.values["nme_branch"],
                score.attributes.get("occlusions", "?"),
                score.attributes.get("pose", "?"),
            )
        )
    columns = list(zip(*rows, strict=True))
    return {
        "disagreement": np.array(columns[0]),
        "nme_flame": np.array(columns[1]),
        "nme_branch": np.array(columns[2]),
        "occlusions": np.array(columns[3]),
        "pose": np.array(columns[4]),
    }


def check(data: dict[str, np.ndarray], mapping: ConfidenceMapping, success_nme: float) -> dict:
    """How the confidence of ``mapping`` ranks and flags the heads of one split."""
    confidence = mapping(data["disagreement"])
    failed, wrong = confidence < FAILURE_BELOW, data["nme_flame"] > success_nme
    subsets = {}
    for key, value in SUBSETS:
        mask = data[key] == value
        subsets[f"{key}={value}"] = {
            "n": int(mask.sum()),
            "confidence": float(confidence[mask].mean()),
            "failed": float(failed[mask].mean()),
            "disagreement_median": float(np.median(data["disagreement"][mask])),
            "nme_flame": float(data["nme_flame"][mask].mean()),
        }
    return {
        "n": len(confidence),
        "spearman_disagreement_nme_flame": float(spearmanr(data["disagreement"], data["nme_flame"])[0]),
        "spearman_disagreement_nme_branch": float(spearmanr(data["disagreement"], data["nme_branch"])[0]),
        "spearman_confidence_nme_flame": float(spearmanr(confidence, data["nme_flame"])[0]),
        "mean_confidence": float(confidence.mean()),
        "success_rate": float(1.0 - wrong.mean()),
        "flagged": float(failed.mean()),
        "flag_precision": float(wrong[failed].mean()) if failed.any() else None,
        "flag_recall": float(failed[wrong].mean()) if wrong.any() else None,
        "subsets": subsets,
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Confidence calibration: {report['checkpoint']}",
        "",
        f"Synthetic heads: {report['items']} val + {report['items']} test, {report['size']} px, seed "
        f"{report['seed']}; success = NME FLAME <= {report['success_nme']}; "
        f"{'flip-averaged' if report.get('flip') else 'single view'}.",
        f"Fitted on val: midpoint {report['fitted']['midpoint']:.3f}, spread {report['fitted']['spread']:.3f}"
        f" (shipped: {report['shipped']['midpoint']:.3f}, {report['shipped']['spread']:.3f}).",
        "",
        "| split / mapping | Spearman(d, NME flame) | Spearman(d, NME branch) | Spearman(conf, NME) | "
        "mean conf | success | flagged | flag precision | flag recall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["checks"].items():
        keys = ("spearman_disagreement_nme_flame", "spearman_disagreement_nme_branch")
        keys += ("spearman_confidence_nme_flame", "mean_confidence", "success_rate", "flagged")
        keys += ("flag_precision", "flag_recall")
        lines.append(f"| {name} | " + " | ".join(_num(r[key]) for key in keys) + " |")
    lines += ["", "Per subset (test split, shipped mapping):", ""]
    lines += ["| subset | n | mean confidence | flagged | median d | NME flame |", "|---" * 6 + "|"]
    for name, s in report["checks"]["test / shipped"]["subsets"].items():
        lines.append(
            f"| {name} | {s['n']} | {s['confidence']:.3f} | {s['failed']:.3f} | "
            f"{s['disagreement_median']:.2f} | {s['nme_flame']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--checkpoint", type=Path, default=DEMO)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--success-nme", type=float, default=10.0)
    parser.add_argument("--flip", action="store_true", help="predict flip-averaged, as predict --flip")
    args = parser.parse_args()

    model, config, assets = model_from_checkpoint(args.checkpoint, device="cpu")
    counts = {"val": args.items, "test": args.items}
    for _ in generate_dataset(
        args.out / "data", assets=assets, counts=counts, seed=args.seed, options=SceneOptions(size=args.size)
    ):
        pass
    with torch.inference_mode():
        data = {split: heads(args.out, split, model, config, assets, flip=args.flip) for split in counts}
    fitted = fit_mapping(data["val"]["disagreement"], data["val"]["nme_flame"], success_nme=args.success_nme)
    checks = {
        f"{split} / {name}": check(data[split], mapping, args.success_nme)
        for split in counts
        for name, mapping in (("fitted", fitted), ("shipped", DEFAULT_MAPPING))
    }
    report = {
        "checkpoint": str(args.checkpoint),
        "items": args.items,
        "seed": args.seed,
        "size": args.size,
        "success_nme": args.success_nme,
        "flip": args.flip,
        "fitted": {"midpoint": fitted.midpoint, "spread": fitted.spread},
        "shipped": {"midpoint": DEFAULT_MAPPING.midpoint, "spread": DEFAULT_MAPPING.spread},
        "checks": checks,
    }
    (args.out / "confidence.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (args.out / "confidence.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

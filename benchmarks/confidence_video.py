"""Per-head confidence on synthetic video: back-of-the-head and occluded frames against clean ones.

    .venv/bin/python benchmarks/confidence_video.py --out /tmp/cv [--checkpoint FILE] [--sequences 3]
        [--frames 60] [--seed 11] [--occluders 2]

Renders ``--sequences`` synthetic videos whose head turns to the back (yaw amplitude 170 degrees) with
``--occluders`` occluder passes each, at the checkpoint's head model (default: the shipped demo model),
128 px, focal 2-6 image sizes; runs the checkpoint on every frame with the GT head box and prints the mean
confidence per pose attribute and for front / side frames with at least 30% of the face hidden against
those with none hidden (``hidden_fraction`` of the frame's metadata).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from trans3dhead.data.io import read_image
from trans3dhead.data.synthetic import SceneOptions
from trans3dhead.data.synthetic.motion import MotionOptions
from trans3dhead.data.synthetic.video import VideoOptions, generate_video_dataset, sequence_name
from trans3dhead.demo import SHIPPED_MODEL
from trans3dhead.inference import HeadAligner
from trans3dhead.models.build import model_from_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the rendered videos")
    parser.add_argument("--checkpoint", default=str(SHIPPED_MODEL))
    parser.add_argument("--sequences", type=int, default=3)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--occluders", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, _, assets = model_from_checkpoint(args.checkpoint)
    video = VideoOptions(frames=args.frames, occluder_passes=args.occluders, motion=MotionOptions(yaw=170.0))
    scene = SceneOptions(size=128, focal_range=(2.0, 6.0))
    list(
        generate_video_dataset(
            args.out, assets=assets, count=args.sequences, seed=args.seed, scene=scene, video=video
        )
    )
    aligner = HeadAligner.from_checkpoint(args.checkpoint, "cpu")
    pose, hidden, confidence = [], [], []
    for k in range(args.sequences):
        name = sequence_name(k)
        for entry in json.loads((args.out / name / f"{name}.json").read_text()):
            (head,) = aligner.predict(read_image(args.out / entry["img_path"]), [entry["bbox"]])
            pose.append(entry["attributes"]["pose"])
            hidden.append(entry["hidden_fraction"])
            confidence.append(head.confidence)
    pose, hidden, confidence = np.array(pose), np.array(hidden), np.array(confidence)
    print(f"{args.checkpoint}: {len(confidence)} frames")
    for value in ("front", "sided", "atypical"):
        chosen = pose == value
        if chosen.any():
            print(
                f"pose {value:8s} frames {chosen.sum():4d}  mean confidence {confidence[chosen].mean():.3f}"
            )
    visible = pose != "atypical"
    for label, chosen in (
        ("no face hidden", visible & (hidden == 0)),
        (">= 30% hidden", visible & (hidden >= 0.3)),
    ):
        if chosen.any():
            print(
                f"front/side, {label:14s} frames {chosen.sum():4d}  "
                f"mean confidence {confidence[chosen].mean():.3f}"
            )


if __name__ == "__main__":
    main()

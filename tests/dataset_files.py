"""Hand-built dataset files shared by several tests: a DAD-3DHeads-format split (``write_split``) and an
AFLW2000-3D item (``write_aflw_item``)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import scipy.io

HEIGHT, WIDTH = 120, 160


def camera(focal: float = 600.0) -> tuple[np.ndarray, np.ndarray]:
    """Camera 1 m in front of the head (head faces +z, the camera); P maps straight to y-up pixels."""
    mv = np.eye(4)
    mv[2, 3] = -1.0
    cx, cy_up = WIDTH / 2, HEIGHT / 2
    proj = np.array([[focal, 0, -cx, 0], [0, focal, -cy_up, 0], [0, 0, -1.01, -0.02], [0, 0, -1, 0]])
    return mv, proj


def write_split(root, split, assets, items=3, corrupt=None):
    (root / split / "images").mkdir(parents=True)
    (root / split / "annotations").mkdir(parents=True)
    mv, proj = camera()
    entries = []
    for i in range(items):
        item = f"{split}_{i:03d}"
        image = np.full((HEIGHT, WIDTH, 3), 40 * i, np.uint8)
        cv2.imwrite(str(root / split / "images" / f"{item}.png"), image)
        ann = {
            "vertices": assets.model.v_template.tolist(),
            "model_view_matrix": mv.tolist(),
            "projection_matrix": proj.tolist(),
        }
        (root / split / "annotations" / f"{item}.json").write_text(json.dumps(ann))
        entries.append(
            {
                "item_id": item,
                "annotation_path": f"{split}/annotations/{item}.json",
                "img_path": f"{split}/images/{item}.png",
                "bbox": [50.0, 30.0, 60.0, 60.0],
                "attributes": {"pose": "front", "quality": "hq"},
            }
        )
    (root / split / f"{split}.json").write_text(json.dumps(entries))
    return entries


def write_aflw_item(root, name, pitch, yaw, roll, *, landmarks=None):
    cv2.imwrite(str(root / f"{name}.jpg"), np.full((100, 120, 3), 128, np.uint8))
    if landmarks is None:
        rng = np.random.default_rng(0)
        landmarks = np.stack([rng.uniform(40, 80, 68), rng.uniform(30, 70, 68), rng.uniform(0, 10, 68)])
    pose = np.array([[np.radians(pitch), np.radians(yaw), np.radians(roll), 0, 0, 0, 1e-3]])
    scipy.io.savemat(root / f"{name}.mat", {"Pose_Para": pose, "pt3d_68": landmarks})

"""AFLW2000-3D reader for head-pose evaluation.

The folder holds ``<name>.jpg`` + ``<name>.mat`` pairs; the ``.mat`` has ``Pose_Para`` (1, 7) =
``[pitch, yaw, roll, tx, ty, tz, scale]`` (radians, 3DDFA convention) and ``pt3d_68`` (3, 68) landmarks
in image pixels.

Angle conversion.  3DDFA builds ``R = (Rz(roll) @ Ry(yaw) @ Rx(pitch)).T`` (standard right-handed
elementary rotations) mapping the 3DMM frame (x to the subject's left, y up, z out of the face, as FLAME)
to a y-up camera frame.  This project's rotation maps the same model frame to the image frame
(x right, y down, z away from the viewer), so ``R_ours = diag(1, -1, -1) @ R`` and the GT
(roll, pitch, yaw) are :func:`~trans3dhead.geometry.rotation.matrix_to_euler` of that matrix: the
comparison with a prediction is made in one convention, with no sign guessing.

The crop is the box of the 68 landmarks extended by :data:`LANDMARK_BOX_EXTENSION` (the landmarks cover
brows to chin; a head box, as DAD-3DHeads' ``bbox``, also covers forehead and hair), then resized and
padded as for DAD-3DHeads.  The usual protocol keeps the images whose GT pitch, yaw and roll (the
dataset's own values) lie within [-99, 99] degrees (``filter_range=True``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch
from torch.utils.data import Dataset

from trans3dhead.data.io import DataError, read_image
from trans3dhead.errors import one_line
from trans3dhead.frames import FLIP_YZ
from trans3dhead.geometry.crop import CropTransform
from trans3dhead.geometry.rotation import matrix_to_euler

__all__ = ["AflwSample", "AFLW2000Dataset", "pose_para_to_matrix", "LANDMARK_BOX_EXTENSION"]

logger = logging.getLogger(__name__)

#: (left, top, right, bottom) extension of the 68-landmark box, in fractions of its width / height.
LANDMARK_BOX_EXTENSION = (0.25, 0.6, 0.25, 0.15)
_RANGE_DEG = 99.0


def pose_para_to_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """3DDFA angles (radians) -> rotation in this project's convention (model frame -> image frame)."""
    cx, sx, cy, sy, cz, sz = (
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
        np.cos(roll),
        np.sin(roll),
    )
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return FLIP_YZ @ (rz @ ry @ rx).T


@dataclass
class AflwSample:
    """image (3, S, S) float32 in [0, 1]; euler (roll, pitch, yaw) degrees in the project convention;
    landmarks (68, 2) GT in original pixels; dataset_angles (pitch, yaw, roll) degrees as stored."""

    image: np.ndarray
    item_id: str
    crop: CropTransform
    euler: np.ndarray
    landmarks: np.ndarray
    dataset_angles: np.ndarray


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy's MAT reader fails in many ways on damaged files
        raise DataError(f"{path}: not a readable .mat file ({one_line(exc)})") from exc
    for key in ("Pose_Para", "pt3d_68"):
        if key not in mat:
            raise DataError(f"{path}: missing field '{key}'")
    try:
        pose = np.asarray(mat["Pose_Para"], dtype=np.float64).ravel()
        points = np.asarray(mat["pt3d_68"], dtype=np.float64)
    except (ValueError, TypeError):
        raise DataError(f"{path}: fields 'Pose_Para' and 'pt3d_68' must be numeric arrays") from None
    if pose.shape[0] < 3:
        raise DataError(f"{path}: field 'Pose_Para' has {pose.shape[0]} values, expected 7")
    if points.shape != (3, 68) and points.shape != (2, 68):
        raise DataError(f"{path}: field 'pt3d_68' has shape {points.shape}, expected 3x68")
    if not (np.isfinite(pose[:3]).all() and np.isfinite(points).all()):
        raise DataError(f"{path}: non-finite values in 'Pose_Para' or 'pt3d_68'")
    return pose, points[:2].T


class AFLW2000Dataset(Dataset):
    """AFLW2000-3D images with GT head pose in the project's Euler convention.

    Args:
        root: folder of ``*.jpg`` + ``*.mat`` pairs.
        input_size: network input side.
        filter_range: keep only images whose dataset angles all lie within [-99, 99] degrees.
        crop_style: the crop, one of :data:`~trans3dhead.geometry.crop.CROP_STYLES` (``model.crop``).
    """

    def __init__(
        self,
        *,
        root: str | Path,
        input_size: int = 256,
        filter_range: bool = True,
        crop_style: str = "centred",
    ) -> None:
        self.root, self.input_size, self.crop_style = Path(root), input_size, crop_style
        if not self.root.is_dir():
            raise DataError(f"{self.root}: AFLW2000-3D folder not found")
        images = sorted(self.root.glob("*.jpg"))
        if not images:
            raise DataError(f"{self.root}: no *.jpg images")
        self.items: list[tuple[Path, Path, np.ndarray, np.ndarray]] = []
        dropped = 0
        for image in images:
            mat = image.with_suffix(".mat")
            if not mat.is_file():
                raise DataError(f"{mat}: missing annotation for {image.name}")
            pose, landmarks = _read_mat(mat)
            if filter_range and np.any(np.abs(np.degrees(pose[:3])) > _RANGE_DEG):
                dropped += 1
                continue
            self.items.append((image, mat, pose, landmarks))
        self.num_filtered = dropped
        if not self.items:
            raise DataError(
                f"{self.root}: all {dropped} images lie beyond [-99, 99] degrees (--all-angles keeps them)"
            )
        logger.info("AFLW2000-3D: %d images, %d outside [-99, 99] degrees dropped", len(self.items), dropped)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> AflwSample:
        image_path, _mat, pose, landmarks = self.items[index]
        image = read_image(image_path)
        lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
        bbox = [lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]
        try:
            crop = CropTransform.from_bbox(
                bbox,
                image.shape[:2],
                size=self.input_size,
                extension=LANDMARK_BOX_EXTENSION,
                style=self.crop_style,
            )
        except ValueError as exc:
            raise DataError(f"{image_path.with_suffix('.mat')}: field 'pt3d_68': {exc}") from exc
        rotation = pose_para_to_matrix(*pose[:3])
        return AflwSample(
            image=np.ascontiguousarray(
                (crop.warp_image(image).astype(np.float32) / 255.0).transpose(2, 0, 1)
            ),
            item_id=image_path.stem,
            crop=crop,
            euler=matrix_to_euler(torch.from_numpy(rotation)).numpy().astype(np.float32),
            landmarks=landmarks.astype(np.float32),
            dataset_angles=np.degrees(pose[:3]).astype(np.float32),
        )

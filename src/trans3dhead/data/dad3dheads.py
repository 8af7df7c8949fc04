"""DAD-3DHeads-format dataset reader -> model-ready samples (``docs/conventions.md`` sections 5, 6 and 8).

Layout::

    <root>/<split>/<split>.json                 metadata list: item_id, annotation_path, img_path, bbox,
                                                attributes
    <root>/<split>/images/<id>.png
    <root>/<split>/annotations/<id>.json        vertices, model_view_matrix, projection_matrix
                                                (no annotations for test)

``img_path`` and ``annotation_path`` are relative to the dataset root (paths relative to the split folder
are accepted too).  The same reader serves the real dataset and the synthetic one from ``trans3dhead synth``.

Per item: the head box is extended (randomly in training, fixed in evaluation), clipped, resized to the
input size and padded; targets are the 68 GT landmarks (embedding of ``vertices`` projected with the GT
camera), every projected vertex in crop pixels, the zero-rotation ``vertices``, the rotation
``(diag(1,-1,-1,1) @ MV)[:3,:3]``, its Euler angles and the presence mask (landmark inside the crop box).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trans3dhead.data.io import DataError, read_annotation, read_image, read_split_index
from trans3dhead.data.transforms import Augmentation, apply_affine, in_plane_rotation, photometric, warp
from trans3dhead.flame.assets import FlameAssets
from trans3dhead.frames import gt_rotation_from_model_view
from trans3dhead.geometry.crop import FIXED_EVAL_EXTENSION, CropTransform, random_extension
from trans3dhead.geometry.rotation import matrix_to_euler
from trans3dhead.types import Batch, DeviceAugment, HeadTargets

__all__ = ["Sample", "DAD3DHeadsDataset", "collate", "gt_targets", "resolve_path"]

logger = logging.getLogger(__name__)


@dataclass
class Sample:
    """One model-ready item.  ``image`` (3, S, S) float32 in [0, 1] (uint8 for a cached training item);
    ``targets`` (numpy, see :class:`trans3dhead.types.HeadTargets` for shapes without the batch dim) or
    None without annotation; ``augment``: a cached training item's augmentation still to apply on the
    device (``matrix``, ``box``, ``photometric`` of :class:`trans3dhead.types.DeviceAugment`), else None."""

    image: np.ndarray
    item_id: str
    crop: CropTransform
    attributes: dict[str, Any]
    targets: dict[str, np.ndarray] | None
    augment: dict[str, np.ndarray] | None = None


def resolve_path(root: Path, split: str, relative: str, *, field: str, source: Path) -> Path:
    """A metadata path relative to the dataset root, or failing that to the split folder."""
    for base in (root, root / split):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise DataError(f"{source}: field '{field}' names a missing file: {relative}")


def gt_targets(
    *,
    assets: FlameAssets,
    vertices: np.ndarray,
    model_view: np.ndarray,
    projection: np.ndarray,
    image_height: int,
    crop: CropTransform,
    matrix: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Targets of one item in the crop frame (``matrix``: optional (2, 3) augmentation after the crop)."""
    homo = np.concatenate([vertices, np.ones_like(vertices[:, :1])], axis=1)
    world = homo @ model_view.T  # (V, 4) camera/world space
    points = np.concatenate([world[:, :3], assets.landmarks(world[:, :3])], axis=0)  # vertices then 68
    clip = np.concatenate([points, np.ones_like(points[:, :1])], axis=1) @ projection.T
    xy = clip[:, :2] / clip[:, 3:4]
    image_xy = np.stack([xy[:, 0], image_height - xy[:, 1]], axis=1)  # y flip: P maps to y-up pixels
    x0, y0, x1, y1 = crop.box
    lmk_image = image_xy[-assets.aux.num_landmarks :]
    presence = (
        (lmk_image[:, 0] > x0) & (lmk_image[:, 0] < x1) & (lmk_image[:, 1] > y0) & (lmk_image[:, 1] < y1)
    )
    crop_xy = crop.points_to_crop(image_xy)
    rotation = gt_rotation_from_model_view(model_view)
    if matrix is not None:
        crop_xy = apply_affine(matrix, crop_xy)
        rotation = in_plane_rotation(matrix) @ rotation
        inside = (crop_xy[-assets.aux.num_landmarks :] > 0) & (
            crop_xy[-assets.aux.num_landmarks :] < crop.size
        )
        presence &= inside.all(axis=1)
    euler = matrix_to_euler(torch.from_numpy(rotation)).numpy()
    size = float(crop.size)
    return {
        "landmarks": (crop_xy[-assets.aux.num_landmarks :] / size).astype(np.float32),
        "presence": presence,
        "vertices": vertices.astype(np.float32),
        "projected": crop_xy[: -assets.aux.num_landmarks].astype(np.float32),
        "rotation": rotation.astype(np.float32),
        "euler": euler.astype(np.float32),
    }


class DAD3DHeadsDataset(Dataset):
    """A DAD-3DHeads-format split.

    Args:
        root: dataset root (holding ``train/``, ``val/``, ``test/``).
        split: split name.
        assets: FLAME assets (68-landmark embedding; vertex count checked against annotations).
        input_size: side of the square network input.
        train: random bbox extension (``0.1 * U(0,1) + 0.05`` per side) instead of the fixed one.
        augmentation: optional random augmentations (training only).
        annotations: read targets; False for splits without annotations (the test split).
        skip_bad: return None for a bad item (logged) instead of raising; :func:`collate` drops it.  Bad
            entries of the split's index file (and every copy of a duplicated item id) are dropped (logged)
            when the dataset is built; :attr:`skipped_entries` counts the reasons (one per bad entry, one per
            duplicated id).
        seed: base seed of the per-item random streams (item index and ``epoch`` are mixed in).
        crop_style: the crop, one of :data:`~trans3dhead.geometry.crop.CROP_STYLES` (``model.crop``).
    """

    def __init__(
        self,
        *,
        root: str | Path,
        split: str,
        assets: FlameAssets,
        input_size: int = 256,
        train: bool = False,
        augmentation: Augmentation | None = None,
        annotations: bool = True,
        skip_bad: bool = False,
        seed: int = 0,
        crop_style: str = "centred",
    ) -> None:
        self.root, self.split = Path(root), split
        self.crop_style = crop_style
        self.assets, self.input_size, self.train = assets, input_size, train
        self.augmentation, self.annotations, self.skip_bad, self.seed = (
            augmentation,
            annotations,
            skip_bad,
            seed,
        )
        self.epoch = 0
        self.metadata_path = self.root / split / f"{split}.json"
        index = read_split_index(self.root, split, need_annotation=annotations, skip_bad=skip_bad)
        self.entries, self.skipped_entries = index.entries, len(index.skipped)

    def __len__(self) -> int:
        return len(self.entries)

    def set_epoch(self, epoch: int) -> None:
        """Change the random streams (call once per epoch for fresh augmentations); an ``(epoch, index)``
        key, as :class:`~trans3dhead.engine.sampler.EpochSampler` yields with ``tag_epoch``, overrides it
        (loader workers that live across epochs never see this call)."""
        self.epoch = epoch

    def __getitem__(self, key: int | tuple[int, int]) -> Sample | None:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        try:
            return self._load(index, epoch)
        except DataError as exc:
            if not self.skip_bad:
                raise
            logger.warning("skipping bad item %s: %s", self.entries[index]["item_id"], exc)
            return None

    def load_uint8(self, index: int) -> Sample:
        """The item's evaluation crop as uint8 (S, S, 3), before the float conversion, and its targets
        (what :mod:`trans3dhead.data.cache` stores); bad items raise :class:`DataError`."""
        if self.train:
            raise ValueError("load_uint8 gives the evaluation crop: use a dataset with train=False")
        return self._load(index, self.epoch, uint8=True)

    def _load(self, index: int, epoch: int, *, uint8: bool = False) -> Sample:
        entry = self.entries[index]
        rng = np.random.default_rng([self.seed, epoch, index])
        image_path = resolve_path(
            self.root, self.split, entry["img_path"], field="img_path", source=self.metadata_path
        )
        image = read_image(image_path)
        extension = random_extension(rng) if self.train else FIXED_EVAL_EXTENSION
        try:
            crop = CropTransform.from_bbox(
                entry["bbox"],
                image.shape[:2],
                size=self.input_size,
                extension=extension,
                style=self.crop_style,
            )
        except ValueError as exc:
            raise DataError(f"{self.metadata_path}: item {entry['item_id']}: field 'bbox': {exc}") from exc
        pixels, matrix = crop.warp_image(image), None  # uint8 (S, S, 3)
        if not uint8:
            pixels = pixels.astype(np.float32) / 255.0
            if self.train and self.augmentation is not None:
                matrix = self.augmentation.sample_matrix(rng, self.input_size)
                pixels = photometric(warp(pixels, matrix, self.input_size), self.augmentation, rng)
            pixels = np.ascontiguousarray(pixels.transpose(2, 0, 1))
        targets = None
        if self.annotations:
            path = resolve_path(
                self.root,
                self.split,
                entry["annotation_path"],
                field="annotation_path",
                source=self.metadata_path,
            )
            ann = read_annotation(path, num_vertices=self.assets.model.num_vertices)
            with np.errstate(all="ignore"):  # overflow: reported just below
                targets = gt_targets(
                    assets=self.assets,
                    vertices=ann.vertices,
                    model_view=ann.model_view,
                    projection=ann.projection,
                    image_height=image.shape[0],
                    crop=crop,
                    matrix=matrix,
                )
            bad = [
                key
                for key, value in targets.items()
                if value.dtype.kind == "f" and not np.isfinite(value).all()
            ]
            if bad:
                raise DataError(f"{path}: the camera gives non-finite targets {bad} (values beyond float32)")
        return Sample(
            image=pixels,
            item_id=entry["item_id"],
            crop=crop,
            attributes=dict(entry["attributes"]),
            targets=targets,
        )


def collate(samples: list[Sample | None]) -> Batch | None:
    """Stack samples into a :class:`Batch`, dropping the Nones of ``skip_bad`` (counted in
    ``Batch.num_skipped``).  Returns None when every item of the batch was bad."""
    kept = [s for s in samples if s is not None]
    if not kept:
        return None
    targets = None
    if all(s.targets is not None for s in kept):
        targets = HeadTargets(
            **{key: torch.from_numpy(np.stack([s.targets[key] for s in kept])) for key in kept[0].targets}
        )
    augment = None
    if all(s.augment is not None for s in kept):
        augment = DeviceAugment(
            **{key: torch.from_numpy(np.stack([s.augment[key] for s in kept])) for key in kept[0].augment}
        )
    return Batch(
        images=torch.from_numpy(np.stack([s.image for s in kept])),
        targets=targets,
        item_ids=[s.item_id for s in kept],
        crops=[s.crop for s in kept],
        attributes=[s.attributes for s in kept],
        num_skipped=len(samples) - len(kept),
        augment=augment,
    )

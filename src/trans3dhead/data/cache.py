"""A decoded, cropped copy of a split: each image once, as uint8, in memory-mapped arrays.

Decoding a JPEG/PNG, cropping it and projecting 5,000 vertices costs a CPU core milliseconds per item;
a GPU trains on hundreds of items in that time.  ``trans3dhead data cache ROOT --split train --size PX
--out CACHE`` does that work once: every item's *evaluation* crop (the fixed box extension) and its
targets go into ``.npy`` files that the training loader memory-maps, so that loading an item is a copy.
The training randomness (box extension, similarity, photometric) is then drawn per item by
:class:`CachedDataset` from the same per-item stream as the file loader, and applied to the whole batch
on the device (:mod:`trans3dhead.data.device_augment`).

Layout of CACHE::

    manifest.json       format, version, settings (split, size, crop, FLAME fingerprint), item ids and
                        attributes, rows kept; written last: a cache without it is incomplete
    images.npy          (n, S, S, 3) uint8, the evaluation crops
    landmarks.npy ...   the evaluation crop's targets (:class:`~trans3dhead.types.HeadTargets` keys)
    box.npy image_hw.npy
                        the evaluation crop's box and the image size: with the head box (manifest),
                        what the training augmentation needs to redo the random box extension
    progress.json       while writing: items done (a killed run resumes there)

Without ``--skip-bad`` a bad item stops the writer with the file loader's error; with it, the item is left
out (listed in the manifest).  Rows keep the split's order and item index, so the random streams agree
with the file loader's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from trans3dhead import jsonio
from trans3dhead.atomic import atomic_write
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, Sample
from trans3dhead.data.io import DataError
from trans3dhead.data.synthetic.store import model_fingerprint
from trans3dhead.data.transforms import Augmentation, photometric_params
from trans3dhead.errors import InputError
from trans3dhead.flame.assets import FlameAssets
from trans3dhead.geometry.crop import CROP_STYLES, CropTransform, random_extension

__all__ = ["CACHE_FORMAT", "CacheSummary", "CachedDataset", "write_cache"]

logger = logging.getLogger(__name__)

CACHE_FORMAT, CACHE_VERSION = "trans3dhead-crop-cache", 1
MANIFEST, PROGRESS = "manifest.json", "progress.json"
TARGET_KEYS = ("landmarks", "presence", "vertices", "projected", "rotation", "euler")
FLUSH_EVERY = 256  # items between progress records


def _array_specs(count: int, size: int, num_landmarks: int, num_vertices: int) -> dict[str, tuple]:
    """Every array of the cache: name -> (shape, dtype)."""
    return {
        "images": ((count, size, size, 3), np.uint8),
        "landmarks": ((count, num_landmarks, 2), np.float32),
        "presence": ((count, num_landmarks), np.bool_),
        "vertices": ((count, num_vertices, 3), np.float32),
        "projected": ((count, num_vertices, 2), np.float32),
        "rotation": ((count, 3, 3), np.float32),
        "euler": ((count, 3), np.float32),
        "box": ((count, 4), np.float64),
        "image_hw": ((count, 2), np.int64),
    }


@dataclass(frozen=True)
class CacheSummary:
    """What :func:`write_cache` did: the cache folder, items stored, items left out, items written now."""

    path: Path
    items: int
    skipped: list[str]
    written: int


class _EvalCrops(Dataset):
    """The split's evaluation crops as uint8 for the writer's loader workers; a bad item comes back as
    its error text (re-raised in the main process as a one-line :class:`DataError`)."""

    def __init__(self, dataset: DAD3DHeadsDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Sample | str]:
        try:
            return index, self.dataset.load_uint8(index)
        except DataError as exc:
            return index, str(exc)


def _first(items: list) -> Any:
    return items[0]


def write_cache(
    *,
    root: str | Path,
    split: str,
    out: str | Path,
    size: int,
    assets: FlameAssets,
    crop_style: str = "centred",
    workers: int = 0,
    skip_bad: bool = False,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> CacheSummary:
    """Write (or finish) the cache of ``root``/``split`` at ``size`` px into ``out`` (see module doc).

    Raises:
        InputError: bad arguments, ``out`` is a file, holds something else, or a cache (complete or
            not) made with other settings.
        DataError: the split cannot be read, or an item is bad (without ``skip_bad``).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InputError(f"--size must be a positive number of pixels, got {size!r}")
    if crop_style not in CROP_STYLES:
        raise InputError(f"crop style must be one of {CROP_STYLES}, got {crop_style!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder")
    dataset = DAD3DHeadsDataset(
        root=root, split=split, assets=assets, input_size=size, skip_bad=skip_bad, crop_style=crop_style
    )
    if not len(dataset):
        raise DataError(f"{dataset.metadata_path}: no items to cache")
    settings = {
        "split": split,
        "size": size,
        "crop_style": crop_style,
        "skip_bad": skip_bad,
        "model": model_fingerprint(assets),
        "item_ids": [e["item_id"] for e in dataset.entries],
    }
    start, skipped = _prepare(out, settings)
    if start is None:
        logger.info("%s: already a complete cache of %s", out, split)
        manifest = _read_json(out / MANIFEST)
        return CacheSummary(out, len(manifest["rows"]), manifest["skipped"], 0)
    specs = _array_specs(len(dataset), size, assets.aux.num_landmarks, assets.model.num_vertices)
    arrays = {
        name: _open_array(out / f"{name}.npy", *spec, create=start == 0) for name, spec in specs.items()
    }
    loader = DataLoader(
        _EvalCrops(dataset),
        batch_size=1,
        sampler=range(start, len(dataset)),
        num_workers=workers,
        collate_fn=_first,
    )
    items = progress(loader) if progress is not None else loader
    done = start
    for index, sample in items:
        if isinstance(sample, str):
            if not skip_bad:
                raise DataError(sample)
            logger.warning("skipping bad item %s: %s", dataset.entries[index]["item_id"], sample)
            skipped.append(dataset.entries[index]["item_id"])
        else:
            _store(arrays, index, sample)
        done = index + 1
        if done % FLUSH_EVERY == 0:
            _record_progress(out, arrays, settings, done, skipped)
    _record_progress(out, arrays, settings, done, skipped)
    _finish(out, settings, dataset, skipped)
    return CacheSummary(out, len(dataset) - len(skipped), skipped, len(dataset) - start)


def _store(arrays: dict[str, np.memmap], index: int, sample: Sample) -> None:
    arrays["images"][index] = sample.image
    for key in TARGET_KEYS:
        arrays[key][index] = sample.targets[key]
    crop = sample.crop
    arrays["box"][index] = crop.box
    arrays["image_hw"][index] = crop.image_hw


def _open_array(path: Path, shape: tuple, dtype, *, create: bool) -> np.memmap:
    if create:
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    try:
        array = np.load(path, mmap_mode="r+")
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); remove the folder and start again") from None
    if array.shape != shape or array.dtype != dtype:
        raise InputError(f"{path}: a partial cache array of another shape; remove the folder and start again")
    return array


def _read_json(path: Path) -> Any:
    try:
        return jsonio.read_file(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); remove the folder and start again") from None


def _prepare(out: Path, settings: dict[str, Any]) -> tuple[int | None, list[str]]:
    """Items already done (None: the cache is complete) and items skipped so far; refuses a folder that
    holds anything else or a cache made with other settings."""
    for name, what in ((MANIFEST, "a cache"), (PROGRESS, "a partial cache")):
        if (out / name).is_file():
            record = _read_json(out / name)
            previous = record.get("settings", {})
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            if record.get("format") != CACHE_FORMAT or changed:
                raise InputError(
                    f"--out {out} holds {what} made with other settings ({', '.join(changed) or 'format'}); "
                    "choose another folder or remove it"
                )
            if name == MANIFEST:
                return None, record["skipped"]
            logger.info("%s: resuming, %d of %d items done", out, record["done"], len(settings["item_ids"]))
            return record["done"], list(record["skipped"])
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out} is a folder that holds other files; choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    _record_progress(out, {}, settings, 0, [])  # from here on the folder is this cache's
    return 0, []


def _record_progress(out: Path, arrays: dict, settings: dict, done: int, skipped: list[str]) -> None:
    for array in arrays.values():
        array.flush()  # the rows first, then the record that says they are there
    record = {"format": CACHE_FORMAT, "settings": settings, "done": done, "skipped": skipped}
    atomic_write(out / PROGRESS, json.dumps(record) + "\n")


def _finish(out: Path, settings: dict, dataset: DAD3DHeadsDataset, skipped: list[str]) -> None:
    left_out = set(skipped)
    manifest = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "settings": settings,
        "root": str(dataset.root),
        "rows": [i for i, e in enumerate(dataset.entries) if e["item_id"] not in left_out],
        "attributes": [e["attributes"] for e in dataset.entries],
        "bbox": [list(map(float, e["bbox"])) for e in dataset.entries],
        "skipped": skipped,
    }
    atomic_write(out / MANIFEST, json.dumps(manifest) + "\n")
    (out / PROGRESS).unlink(missing_ok=True)


class CachedDataset(Dataset):
    """Items of a cache written by :func:`write_cache`.

    ``train=False``: the same :class:`Sample` as :class:`DAD3DHeadsDataset` with ``train=False`` gives
    for the item (image, targets, crop, attributes), read instead of decoded.  ``train=True``: the
    cached crop as uint8 with its targets, and in ``Sample.augment`` the random box extension and (with
    ``augmentation``) similarity and photometric factors, drawn as the file loader draws them; the
    training step applies them on the device (:func:`~trans3dhead.data.device_augment.batch_to_device`).

    ``input_size``, ``crop_style``, ``split`` and ``assets``, when given, are checked against the cache
    (a :class:`DataError` that says what differs).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        train: bool = False,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        input_size: int | None = None,
        crop_style: str | None = None,
        split: str | None = None,
        assets: FlameAssets | None = None,
    ) -> None:
        self.path = self.metadata_path = Path(path)
        self.train, self.augmentation, self.seed, self.epoch = train, augmentation, seed, 0
        manifest = self._manifest()
        settings = manifest["settings"]
        self.size, self.crop_style = int(settings["size"]), settings["crop_style"]
        self.split = settings["split"]
        self.item_ids, self.rows = settings["item_ids"], list(manifest["rows"])
        self.attributes, self.bbox = manifest["attributes"], manifest["bbox"]
        expected = {
            "size": input_size,
            "crop_style": crop_style,
            "split": split,
            "model": None if assets is None else model_fingerprint(assets),
        }
        for key, want in expected.items():
            if want is not None and settings[key] != want:
                raise DataError(
                    f"{self.path}: the cache was made with {key}={settings[key]!r}, this run needs "
                    f"{want!r}; write a cache for it (trans3dhead data cache)"
                )
        self._arrays: dict[str, np.ndarray] | None = None

    def _manifest(self) -> dict[str, Any]:
        path = self.path / MANIFEST
        if not path.is_file():
            partial = (self.path / PROGRESS).is_file()
            why = "incomplete (run trans3dhead data cache again to finish it)" if partial else "not a cache"
            raise DataError(f"{self.path}: {why}; no {MANIFEST}")
        try:
            manifest = jsonio.read_file(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable ({exc})") from None
        if manifest.get("format") != CACHE_FORMAT or manifest.get("version") != CACHE_VERSION:
            raise DataError(f"{path}: not a version-{CACHE_VERSION} {CACHE_FORMAT} manifest")
        return manifest

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}  # loader workers map the files themselves

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {
                name: np.load(self.path / f"{name}.npy", mmap_mode="r")
                for name in (*TARGET_KEYS, "images", "box", "image_hw")
            }
        return self._arrays

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """As :meth:`DAD3DHeadsDataset.set_epoch` (``(epoch, index)`` keys override it)."""
        self.epoch = epoch

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        arrays, row = self._open(), self.rows[index]
        crop = CropTransform(
            box=tuple(arrays["box"][row].tolist()),
            image_hw=tuple(arrays["image_hw"][row].tolist()),
            size=self.size,
            style=self.crop_style,
        )
        targets = {key: np.array(arrays[key][row]) for key in TARGET_KEYS}
        image = arrays["images"][row]  # (S, S, 3) uint8
        if not self.train:  # as the file loader converts its crop
            image = image.astype(np.float32) / 255.0
        sample = Sample(
            image=np.ascontiguousarray(image.transpose(2, 0, 1)),
            item_id=self.item_ids[row],
            crop=crop,
            attributes=dict(self.attributes[row]),
            targets=targets,
        )
        if self.train:
            rng = np.random.default_rng([self.seed, epoch, row])  # row = the item's index in the split
            sample.augment = self._draw(rng, crop, self.bbox[row])
        return sample

    def _draw(
        self, rng: np.random.Generator, cached: CropTransform, bbox: list[float]
    ) -> dict[str, np.ndarray]:
        """The item's random training crop, similarity and photometric factors, in the file loader's order
        (:meth:`DAD3DHeadsDataset._load`), as device-augmentation parameters."""
        crop = CropTransform.from_bbox(
            bbox, cached.image_hw, size=self.size, extension=random_extension(rng), style=self.crop_style
        )
        # the training crop's map composed with the inverse of the cached crop's: cached -> training px
        matrix = _compose(crop.affine_matrix(), _invert(cached.affine_matrix()))
        x0, y0, x1, y1 = crop.box
        corners = cached.points_to_crop(np.array([[x0, y0], [x1, y1]], dtype=np.float64))
        params = {"box": corners.reshape(4).astype(np.float32)}
        if self.augmentation is not None:
            matrix = _compose(self.augmentation.sample_matrix(rng, self.size), matrix)
            brightness, contrast, saturation, sigma, noise = photometric_params(self.augmentation, rng)
            photo = (brightness, contrast, saturation, sigma, self.augmentation.noise_std if noise else 0.0)
            params["photometric"] = np.asarray(photo, dtype=np.float32)
        return {**params, "matrix": matrix.astype(np.float32)}


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affines: ``outer`` after ``inner``."""
    return outer[:, :2] @ inner + np.concatenate([np.zeros((2, 2)), outer[:, 2:]], axis=1)


def _invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -linear @ matrix[:, 2:]], axis=1)

"""The on-disk side of ``trans3dhead synth``: DAD-3DHeads layout, atomic item writes, resume, manifest.

Layout (the real dataset's, SPEC section 3, plus a hidden bookkeeping folder)::

    OUT/<split>/images/<item_id>.png
    OUT/<split>/annotations/<item_id>.json
    OUT/<split>/<split>.json                 metadata list, written once the split is complete
    OUT/.synth/manifest.json                 generation settings and a fingerprint of the head model
    OUT/.synth/<split>/<item_id>.json        the item's metadata entry: its "done" marker

An item is written image first, then annotation, then its entry record, each to a temporary file renamed
into place; an item is complete when all three exist.  A killed run therefore leaves at most
half-finished items without a record, which the next run regenerates (temporary files are removed), and
the split file -- built only from complete items -- never lists an item whose files are missing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from trans3dhead.data.synthetic.encoding import atomic_write, dump_json
from trans3dhead.flame import FlameAssets

__all__ = ["DatasetStore", "ItemPaths", "item_id", "model_fingerprint", "BOOKKEEPING_DIR"]

BOOKKEEPING_DIR = ".synth"
# zlib level 1 with the RLE strategy: about twice as fast as the default level 3 and as small here.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def item_id(split: str, index: int) -> str:
    """Item ids: ``<split>_<index>`` with at least six digits (``train_000042``)."""
    return f"{split}_{index:06d}"


def model_fingerprint(assets: FlameAssets) -> dict[str, Any]:
    """Sizes and a content hash of the head model, to refuse resuming with a different model."""
    model = assets.model
    digest = hashlib.sha256()
    for array in (model.v_template, model.faces, model.shapedirs, assets.aux.landmark_faces):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "vertices": model.num_vertices,
        "shape": model.num_shape,
        "expression": model.num_expression,
        "sha256": digest.hexdigest()[:16],
    }


@dataclass(frozen=True)
class ItemPaths:
    image: Path
    annotation: Path
    record: Path


class DatasetStore:
    """Paths, atomic writes and completion state of a synthetic dataset rooted at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def paths(self, split: str, item: str) -> ItemPaths:
        return ItemPaths(
            image=self.root / split / "images" / f"{item}.png",
            annotation=self.root / split / "annotations" / f"{item}.json",
            record=self.root / BOOKKEEPING_DIR / split / f"{item}.json",
        )

    def is_complete(self, split: str, item: str) -> bool:
        p = self.paths(split, item)
        return p.record.is_file() and p.image.is_file() and p.annotation.is_file()

    def prepare_root(self, settings: dict[str, Any]) -> None:
        """Create the root or check that it holds a synthetic dataset made with the same ``settings``.

        Raises:
            ValueError: the root is a file, holds a dataset this generator did not make, or was made
                with different settings (the message lists them).
        """
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"OUT {self.root} is a file, not a directory")
        manifest = self.root / BOOKKEEPING_DIR / "manifest.json"
        if manifest.is_file():
            previous = json.loads(manifest.read_text(encoding="utf-8"))
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            if changed:
                details = ", ".join(f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed)
                raise ValueError(
                    f"OUT {self.root} was generated with other settings ({details}); resume with the same "
                    "settings or choose a new directory"
                )
            return
        if self.root.is_dir():
            foreign = [p.name for p in self.root.iterdir() if (p / f"{p.name}.json").is_file()]
            if foreign:
                raise ValueError(
                    f"OUT {self.root} already holds a dataset not made by trans3dhead synth "
                    f"(splits {sorted(foreign)}, no {BOOKKEEPING_DIR}/manifest.json); choose a new directory"
                )
        manifest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(manifest, json.dumps(settings, indent=2) + "\n")

    def prepare_split(self, split: str) -> None:
        """Create the split's folders and remove temporary files left by a killed run."""
        folders = (
            self.root / split / "images",
            self.root / split / "annotations",
            self.root / BOOKKEEPING_DIR / split,
        )
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    def write_item(self, split: str, item: str, *, image: np.ndarray, annotation: str, entry: dict) -> None:
        """Write one item's image (RGB uint8), annotation text and entry record, in that order."""
        p = self.paths(split, item)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, png = cv2.imencode(".png", bgr, PNG_PARAMS)
        if not ok:
            raise RuntimeError(f"{p.image}: PNG encoding failed")
        atomic_write(p.image, png.tobytes())
        atomic_write(p.annotation, annotation)
        atomic_write(p.record, dump_json(entry))

    def read_entry(self, split: str, item: str) -> dict[str, Any]:
        return json.loads(self.paths(split, item).record.read_text(encoding="utf-8"))

    def write_split(self, split: str, entries: list[dict[str, Any]]) -> Path:
        """Write ``<split>/<split>.json`` (one entry per line) atomically."""
        path = self.root / split / f"{split}.json"
        body = ",\n".join(dump_json(e) for e in entries)
        atomic_write(path, "[\n" + body + "\n]\n" if entries else "[]\n")
        return path

    @staticmethod
    def entry(split: str, item: str, *, bbox: list[float], attributes: dict[str, str]) -> dict[str, Any]:
        """A metadata entry with paths relative to the dataset root (as the real dataset's)."""
        return {
            "item_id": item,
            "annotation_path": f"{split}/annotations/{item}.json",
            "img_path": f"{split}/images/{item}.png",
            "bbox": bbox,
            "attributes": attributes,
        }

"""Shared set-up for the training tests: a tiny FLAME model and a tiny DAD-3DHeads-format dataset."""

from __future__ import annotations

from pathlib import Path

from dataset_files import write_split
from tiny_flame import make_tiny_flame

from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.files import write_aux_dir, write_model_npz

#: Sizes only (no switch, no recipe): what the every-config test may shrink.
TINY_SIZES = [
    "model.input_size=64",
    "model.d_model=32",
    "model.nhead=4",
    "model.dim_feedforward=64",
    "data.batch_size=2",
    "data.workers=0",
]
TINY_MODEL = [
    "model.backbone=resnet18",
    *TINY_SIZES,
    "train.lr=1e-3",
    "train.backbone_lr_mult=1.0",
    "train.log_every=1",
]


def make_training_setup(root: Path, *, train_items: int = 6, val_items: int = 2) -> list[str]:
    """Write a tiny FLAME model and dataset under ``root``; return the config overrides that use them."""
    model_raw, aux_raw = make_tiny_flame()
    model = FlameModelData.from_arrays(model_raw, source="tiny")
    assets = FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="tiny"))
    data = root / "data"
    write_split(data, "train", assets, items=train_items)
    write_split(data, "val", assets, items=val_items)
    return [
        *TINY_MODEL,
        f"flame.file={write_model_npz(model_raw, root / 'flame' / 'model.npz')}",
        f"flame.aux={write_aux_dir(aux_raw, root / 'flame' / 'aux')}",
        f"data.root={data}",
    ]

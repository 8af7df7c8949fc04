"""Shared set-up for the inference tests: a tiny untrained checkpoint, test photos, image files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image
from tiny_flame import make_tiny_flame
from train_helpers import TINY_MODEL

from trans3dhead.config import config_to_dict, load_config
from trans3dhead.engine.checkpoint import save_checkpoint
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.models.build import build_assets, build_model


def make_checkpoint(root: Path, *, overrides: tuple[str, ...] = ()) -> Path:
    """A freshly initialised tiny model (64 px, resnet18, tiny FLAME) saved like ``fit`` saves it."""
    model_raw, aux_raw = make_tiny_flame()
    flame = [
        f"flame.file={write_model_npz(model_raw, root / 'flame' / 'model.npz')}",
        f"flame.aux={write_aux_dir(aux_raw, root / 'flame' / 'aux')}",
    ]
    config = load_config(None, [*TINY_MODEL, "model.pretrained=null", *flame, *overrides])
    torch.manual_seed(0)
    model = build_model(config, build_assets(config.flame))
    payload = {"model": model.state_dict(), "config": config_to_dict(config), "epoch": 0, "step": 0}
    return save_checkpoint(root / "tiny.pt", payload)


def grace_hopper_path() -> Path:
    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def astronaut_path() -> Path:
    """scikit-image's astronaut.png, or a pytest skip that says why."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image is not installed: its public-domain astronaut.png is unavailable")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png"
    if not path.is_file():
        pytest.skip(f"{path} is missing from this scikit-image installation")
    return path


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path

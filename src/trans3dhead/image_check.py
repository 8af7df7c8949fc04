"""The check every public image input passes: an (H, W, 3) uint8 RGB numpy array.

A bottom module (numpy only): `viz` and `inference` both use it without importing each other.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.errors import InputError

__all__ = ["check_image"]


def check_image(image: object, *, name: str = "image") -> np.ndarray:
    """An (H, W, 3) uint8 RGB numpy array, or a ValueError that says what was given instead."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name} must be a numpy array (H, W, 3) uint8 RGB, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"{name} must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"{name} is empty: shape {image.shape}")
    return image

"""Input checks shared by the renderer's public functions.

Each check converts its argument to the canonical dtype the numba kernels are compiled for (so every
kernel has a single cached signature) and raises ``ValueError`` naming the offending argument.
Letters: V vertices, F faces, H/W image height/width, C attribute channels.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_IMAGE_SIZE",
    "check_screen_vertices",
    "check_faces",
    "check_image_size",
    "check_vertex_attribute",
    "check_background",
    "check_number",
]

MAX_IMAGE_SIZE = 1 << 15
"""Largest accepted image height or width (keeps the fixed-point edge functions inside int64)."""


def check_screen_vertices(screen_vertices: np.ndarray, *, name: str = "screen_vertices") -> np.ndarray:
    """(V, 3) finite float array -> float64 copy-free view where possible."""
    array = np.asarray(screen_vertices)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (V, 3), got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{name} must be finite; vertex {bad} is {array[bad].tolist()}")
    return array


def check_faces(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(F, 3) integer vertex indices in [0, V) -> contiguous int64 array."""
    array = np.asarray(faces)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"faces must be an integer array, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= num_vertices:
            bad = low if low < 0 else high
            raise ValueError(f"faces index vertex {bad}, outside [0, {num_vertices}) for V = {num_vertices}")
    return array


def check_image_size(height: int, width: int) -> tuple[int, int]:
    """Positive integer image size, at most :data:`MAX_IMAGE_SIZE` each."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an int, got {value!r}")
        if not 1 <= value <= MAX_IMAGE_SIZE:
            raise ValueError(f"{name} must be in [1, {MAX_IMAGE_SIZE}], got {value}")
    return int(height), int(width)


def check_vertex_attribute(
    values: np.ndarray,
    num_vertices: int,
    *,
    name: str,
    channels: int | None = None,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """(V, C) finite attribute array (C fixed when ``channels`` is given) -> contiguous float64."""
    array = np.asarray(values)
    expected = f"({num_vertices}, {channels if channels is not None else 'C'})"
    wrong_channels = channels is not None and array.ndim == 2 and array.shape[1] != channels
    if array.ndim != 2 or array.shape[0] != num_vertices or wrong_channels:
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    if value_range is not None and array.size:
        low, high = float(array.min()), float(array.max())
        if low < value_range[0] or high > value_range[1]:
            raise ValueError(f"{name} must lie in {list(value_range)}, got values in [{low:g}, {high:g}]")
    return array


def check_number(value: float, name: str, *, minimum: float, exclusive: bool = False) -> float:
    """A finite real number ``>= minimum`` (``> minimum`` when ``exclusive``) -> float."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not real or not np.isfinite(value) or value < minimum or (exclusive and value == minimum):
        bound = f"> {minimum}" if exclusive else f">= {minimum}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def check_background(background: np.ndarray | tuple | None, height: int, width: int) -> np.ndarray:
    """None (black), an RGB colour (3,) or an image (H, W, 3) in [0, 1] -> float32 array broadcastable
    to (H, W, 3)."""
    if background is None:
        return np.zeros(3, dtype=np.float32)
    array = np.asarray(background, dtype=np.float32)
    if array.shape not in ((3,), (height, width, 3)):
        raise ValueError(f"background must have shape (3,) or ({height}, {width}, 3), got {array.shape}")
    if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
        raise ValueError("background must be finite and lie in [0, 1]")
    return array

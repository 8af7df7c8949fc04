"""Argument checking shared by the metric functions: plain arrays in, clear errors out."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array"]


def as_array(
    value: Any, name: str, *, trailing: tuple[int | None, ...], dtype: Any = np.float32
) -> np.ndarray:
    """``value`` (numpy array, torch tensor, nested lists) as an array of ``dtype`` whose last dimensions
    match ``trailing`` (None = any size); raises ValueError naming ``name`` otherwise."""
    if hasattr(value, "detach"):  # a torch tensor, possibly on GPU or requiring grad
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array ({exc})") from None
    shape = array.shape[array.ndim - len(trailing) :] if array.ndim >= len(trailing) else None
    if shape is None or any(
        want is not None and want != got for want, got in zip(trailing, shape, strict=True)
    ):
        want = "(..., " + ", ".join("*" if t is None else str(t) for t in trailing) + ")"
        raise ValueError(f"{name} must have shape {want}, got {array.shape}")
    return array

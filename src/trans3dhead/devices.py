"""Torch devices named by the user (``--device``): checked before anything is loaded onto them."""

from __future__ import annotations

import torch

from trans3dhead.errors import InputError

__all__ = ["default_device", "resolve_device"]


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch.device (None: CUDA when available); an InputError for unknown or absent ones."""
    if device is None:
        return default_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for CUDA, but torch sees no CUDA device")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r}: torch sees only {torch.cuda.device_count()} CUDA device(s)")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {device!r} asked for MPS, but torch sees no MPS device")
    return resolved

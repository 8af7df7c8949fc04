"""Training augmentations applied consistently to the image and every target.

Geometric augmentation is a similarity in crop space (in-plane rotation about the crop centre, scale,
shift): the image is warped, 2D targets are mapped with the same matrix, and the GT head rotation is
pre-multiplied by the same in-plane rotation (the image frame is x right, y down, z away from the viewer,
so an image rotation by ``A`` turns ``R`` into ``blockdiag(A, 1) @ R``).  Photometric augmentation
(brightness, contrast, saturation, blur, noise) changes only the image.  No horizontal flip: mirroring
would need a left/right landmark permutation and a mirrored FLAME identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from trans3dhead.errors import InputError

__all__ = ["Augmentation", "similarity_matrix", "apply_affine", "photometric", "photometric_params"]


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random training augmentations (all off when zero).

    rotate_deg: in-plane rotation drawn from U(-rotate_deg, rotate_deg).
    scale: (low, high) zoom factor range.
    shift: translation drawn from U(-shift, shift) * crop size, per axis.
    color: brightness / contrast / saturation jitter strength (fraction).
    blur_prob: probability of a Gaussian blur (sigma in [0.5, 1.5] px).
    noise_std: std of additive Gaussian noise on [0, 1] pixels, applied with probability 0.2.
    """

    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.05
    color: float = 0.2
    blur_prob: float = 0.1
    noise_std: float = 0.02

    def __post_init__(self) -> None:
        low, high = self.scale
        if not 0 < low <= high:
            raise InputError(f"augmentation scale range must satisfy 0 < low <= high, got {self.scale}")
        for name in ("rotate_deg", "shift", "color", "blur_prob", "noise_std"):
            if getattr(self, name) < 0:
                raise InputError(f"augmentation {name} must be >= 0, got {getattr(self, name)}")

    def sample_matrix(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """A random (2, 3) similarity in crop pixels."""
        angle = rng.uniform(-self.rotate_deg, self.rotate_deg)
        scale = rng.uniform(*self.scale)
        shift = rng.uniform(-self.shift, self.shift, size=2) * size
        return similarity_matrix(angle_deg=angle, scale=scale, shift=shift, center=(size / 2, size / 2))


def similarity_matrix(
    *, angle_deg: float, scale: float, shift: tuple[float, float] | np.ndarray, center: tuple[float, float]
) -> np.ndarray:
    """(2, 3) matrix of ``u' = scale * A (u - c) + c + shift`` with A the rotation by ``angle_deg``
    (counter-clockwise in x-right / y-up terms, i.e. clockwise as seen in a y-down image)."""
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = np.asarray(center, dtype=np.float64)
    return np.concatenate([rot, (c - rot @ c + np.asarray(shift, dtype=np.float64))[:, None]], axis=1)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 2) with a (2, 3) affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def in_plane_rotation(matrix: np.ndarray) -> np.ndarray:
    """The 3x3 rotation ``blockdiag(A, 1)`` of the rotation part of a similarity matrix."""
    linear = matrix[:, :2] / math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    out = np.eye(3)
    out[:2, :2] = linear
    return out


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp a crop (size, size, C) with a (2, 3) matrix; outside pixels are zero."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def photometric_params(
    aug: Augmentation, rng: np.random.Generator
) -> tuple[float, float, float, float, bool]:
    """Draw the random photometric factors: (brightness, contrast, saturation, blur sigma (0: none), whether
    to add noise).  Draws from ``rng`` in :func:`photometric`'s order (the noise field itself comes after)."""
    brightness = contrast = saturation = 1.0
    if aug.color > 0:
        brightness = 1 + rng.uniform(-aug.color, aug.color)
        contrast = 1 + rng.uniform(-aug.color, aug.color)
        saturation = 1 + rng.uniform(-aug.color, aug.color)
    sigma = 0.0
    if aug.blur_prob > 0 and rng.uniform() < aug.blur_prob:
        sigma = float(rng.uniform(0.5, 1.5))
    noise = bool(aug.noise_std > 0 and rng.uniform() < 0.2)
    return brightness, contrast, saturation, sigma, noise


def photometric(image: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Random brightness / contrast / saturation, blur and noise on a float [0, 1] (H, W, 3) image."""
    out = image.astype(np.float32, copy=True)
    brightness, contrast, saturation, sigma, noise = photometric_params(aug, rng)
    if aug.color > 0:
        grey = out.mean(axis=2, keepdims=True)
        out = grey + saturation * (out - grey)
        out = (out - out.mean()) * contrast + out.mean()
        out = out * brightness
    if sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma)
    if noise:
        out = out + rng.normal(0.0, aug.noise_std, size=out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)

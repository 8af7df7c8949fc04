"""The square crop fed to the networks: bbox extension, isotropic resize, centred zero padding.

One affine map, ``u = k * (x - offset) + pad`` (x original pixels, u crop pixels, per axis), is used for
points, images and camera parameters alike, so they always agree.  Integer coordinates are pixel centres
in both frames (as in OpenCV).  See ``docs/conventions.md``.

Two styles (:data:`CROP_STYLES`): "centred" (this project's: a bilinear warp with the map above and a
centred, fractional padding) and "reference" (the DAD-3DNet reference predictor's: the box, rounded out
to whole pixels, is resized with ``cv2.resize`` to ``round(k * side)`` pixels and pasted into a zero
canvas at ``pad = floor((size - resized) / 2)``; points map back with the same ``k`` and integer ``pad``,
as that predictor does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np
import torch
from torch import Tensor

from trans3dhead.frames import CROP_STYLES
from trans3dhead.geometry.camera import scale_translation_to_image

__all__ = ["CropTransform", "CROP_STYLES", "FIXED_EVAL_EXTENSION", "random_extension"]


# Expected value of the training extension 0.1 * U(0, 1) + 0.05 for every side (``docs/conventions.md``
# section 6).
FIXED_EVAL_EXTENSION: tuple[float, float, float, float] = (0.1, 0.1, 0.1, 0.1)
ANTIALIAS_BELOW = 0.5  # resampling factors below this are low-pass filtered first

PointsT = TypeVar("PointsT", np.ndarray, Tensor)


def random_extension(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Training-time bbox extension: four independent fractions ``0.1 * U(0, 1) + 0.05`` (l, t, r, b)."""
    left, top, right, bottom = (0.1 * rng.uniform(size=4) + 0.05).tolist()
    return left, top, right, bottom


def _check_image_hw(image_hw: Sequence[int]) -> tuple[int, int]:
    if len(image_hw) != 2 or any(int(v) != v or v <= 0 for v in image_hw):
        raise ValueError(f"image_hw must be two positive integers (height, width), got {image_hw}")
    return int(image_hw[0]), int(image_hw[1])


def _antialias_sigma(factor: float) -> float:
    """Gaussian sigma (source pixels) before resampling by ``factor``; 0 when no filtering is needed."""
    return 0.5 * (1.0 / factor - 1.0) if factor < ANTIALIAS_BELOW else 0.0


def _warp(image: np.ndarray, matrix: np.ndarray, out_hw: tuple[int, int], sigma: float) -> np.ndarray:
    """Bilinear ``cv2.warpAffine`` (dst-from-src ``matrix``) with optional Gaussian pre-filter.

    Only the source region that the output sees (plus the filter support) is filtered: cropping by an
    integer shift keeps the mapping exact.
    """
    if sigma > 0:
        inverse = cv2.invertAffineTransform(matrix)
        h, w = out_hw
        corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [-0.5, h - 0.5, 1], [w - 0.5, h - 0.5, 1]])
        src = corners @ inverse.T  # (4, 2) source-frame corners of the output
        margin = int(math.ceil(4 * sigma)) + 2
        x0 = max(int(math.floor(src[:, 0].min())) - margin, 0)
        y0 = max(int(math.floor(src[:, 1].min())) - margin, 0)
        x1 = min(int(math.ceil(src[:, 0].max())) + margin + 1, image.shape[1])
        y1 = min(int(math.ceil(src[:, 1].max())) + margin + 1, image.shape[0])
        if x1 <= x0 or y1 <= y0:
            return np.zeros((*out_hw, *image.shape[2:]), dtype=image.dtype)
        image = cv2.GaussianBlur(np.ascontiguousarray(image[y0:y1, x0:x1]), (0, 0), sigma)
        matrix = matrix.copy()
        matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], dtype=np.float64)
    out = cv2.warpAffine(
        np.ascontiguousarray(image),
        matrix,
        (out_hw[1], out_hw[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.reshape(*out_hw, *image.shape[2:])  # cv2 drops a trailing channel axis of size 1


def _check_image(image: np.ndarray, hw: tuple[int, int], name: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(f"{name} must be an HxW or HxWxC numpy array, got {getattr(image, 'shape', image)}")
    if image.shape[:2] != hw:
        raise ValueError(f"{name} has size {image.shape[:2]}, expected (height, width) = {hw}")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ValueError(f"{name} dtype must be uint8, uint16, float32 or float64, got {image.dtype}")


@dataclass(frozen=True)
class CropTransform:
    """A crop box of the original image resized (longest side -> ``size``) and padded to size x size.

    Attributes:
        box: (x0, y0, x1, y1) crop box in original-image coordinates, already extended and clipped.
        image_hw: (height, width) of the original image.
        size: side of the square crop in pixels.

        style: one of :data:`CROP_STYLES` (see the module docstring).

    Derived: ``k = size / max(x1 - x0, y1 - y0)``, ``offset = (x0, y0)`` and the padding
    ``pad = ((size - k (x1 - x0)) / 2, (size - k (y1 - y0)) / 2)`` (centred style) or
    ``pad = floor((size - resized_wh) / 2)`` (reference style); a point maps as
    ``u = k * (x - offset) + pad``.
    """

    box: tuple[float, float, float, float]
    image_hw: tuple[int, int]
    size: int = 256
    style: str = "centred"

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
            raise ValueError(f"box must be finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {self.box}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0:
            raise ValueError(f"size must be a positive integer, got {self.size}")
        if self.style not in CROP_STYLES:
            raise ValueError(f"style must be one of {CROP_STYLES}, got {self.style!r}")
        image_hw = _check_image_hw(self.image_hw)
        if self.style == "reference":  # whole pixels, as an array slice of the image
            x0, y0 = float(max(math.floor(x0), 0)), float(max(math.floor(y0), 0))
            x1, y1 = float(min(math.ceil(x1), image_hw[1])), float(min(math.ceil(y1), image_hw[0]))
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f"box {self.box} lies outside the {image_hw[0]}x{image_hw[1]} image")
        object.__setattr__(self, "box", (x0, y0, x1, y1))
        object.__setattr__(self, "image_hw", image_hw)

    @classmethod
    def from_bbox(
        cls,
        bbox_xywh: Sequence[float],
        image_hw: Sequence[int],
        *,
        size: int = 256,
        extension: Sequence[float] = FIXED_EVAL_EXTENSION,
        style: str = "centred",
    ) -> CropTransform:
        """Extend a head box by fractions of its size, clip it to the image and build the crop.

        Args:
            bbox_xywh: (x, y, w, h) head box in original pixels (the dataset's ``bbox``).
            image_hw: (height, width) of the image.
            size: crop side.
            extension: (left, top, right, bottom) fractions of w (left/right) or h (top/bottom) added
                on each side; :func:`random_extension` for training, :data:`FIXED_EVAL_EXTENSION` for
                evaluation.
            style: one of :data:`CROP_STYLES`.
        """
        height, width = _check_image_hw(image_hw)
        values = np.asarray(bbox_xywh, dtype=np.float64).ravel() if np.ndim(bbox_xywh) == 1 else None
        if values is None or values.shape != (4,) or not np.all(np.isfinite(values)):
            raise ValueError(f"bbox must be 4 finite numbers (x, y, w, h), got bbox={bbox_xywh}")
        x, y, w, h = values.tolist()
        if w <= 0 or h <= 0:
            raise ValueError(f"bbox must have positive width and height, got bbox={bbox_xywh}")
        ext = np.asarray(extension, dtype=np.float64)
        if ext.shape != (4,) or not np.all(np.isfinite(ext)) or np.any(ext <= -0.5):
            raise ValueError(f"extension must be 4 finite fractions > -0.5 (l, t, r, b), got {extension}")
        left, top, right, bottom = ext.tolist()
        x0, x1 = max(x - left * w, 0.0), min(x + w + right * w, float(width))
        y0, y1 = max(y - top * h, 0.0), min(y + h + bottom * h, float(height))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"bbox={bbox_xywh} (extended) lies outside the {height}x{width} image")
        return cls(box=(x0, y0, x1, y1), image_hw=(height, width), size=size, style=style)

    @classmethod
    def full_image(cls, image_hw: Sequence[int], size: int = 256, style: str = "centred") -> CropTransform:
        """The whole image, resized and padded to size x size."""
        height, width = _check_image_hw(image_hw)
        box = (0.0, 0.0, float(width), float(height))
        return cls(box=box, image_hw=(height, width), size=size, style=style)

    @property
    def offset(self) -> tuple[float, float]:
        """(x0, y0): original-image point that maps to crop point ``pad``."""
        return self.box[0], self.box[1]

    @property
    def k(self) -> float:
        """Isotropic scale, crop pixels per original pixel."""
        return self.size / max(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def resized_wh(self) -> tuple[int, int]:
        """Reference style: (width, height) of the resized box, ``round(k * side)`` in [1, size] (Python's
        round, half to even, as the reference's albumentations ``py3round``)."""
        k = self.k
        sides = (self.box[2] - self.box[0], self.box[3] - self.box[1])
        width, height = (min(max(round(k * side), 1), self.size) for side in sides)
        return width, height

    @property
    def pad(self) -> tuple[float, float]:
        """(pad_x, pad_y): padding in crop pixels (0 along the longest side); centred and fractional, or
        in the reference style ``floor((size - resized) / 2)``."""
        if self.style == "reference":
            width, height = self.resized_wh
            return float((self.size - width) // 2), float((self.size - height) // 2)
        k = self.k
        return (
            0.5 * (self.size - k * (self.box[2] - self.box[0])),
            0.5 * (self.size - k * (self.box[3] - self.box[1])),
        )

    def affine_matrix(self) -> np.ndarray:
        """(2, 3) float64 matrix mapping original pixels to crop pixels: ``u = A @ [x, y, 1]``."""
        k, (px, py), (ox, oy) = self.k, self.pad, self.offset
        return np.array([[k, 0.0, px - k * ox], [0.0, k, py - k * oy]], dtype=np.float64)

    def _map_points(self, points: PointsT, forward: bool) -> PointsT:
        k, pad, offset = self.k, self.pad, self.offset
        if isinstance(points, Tensor):
            pts = points if points.is_floating_point() else points.to(torch.get_default_dtype())
            pad_t, off_t = (torch.tensor(v, dtype=pts.dtype, device=pts.device) for v in (pad, offset))
        else:
            pts = np.asarray(points)
            pts = pts if np.issubdtype(pts.dtype, np.floating) else pts.astype(np.float64)
            pad_t, off_t = (np.asarray(v, dtype=pts.dtype) for v in (pad, offset))
        if pts.ndim < 1 or pts.shape[-1] != 2:
            raise ValueError(f"points must have shape (..., 2), got {tuple(pts.shape)}")
        return (pts - off_t) * k + pad_t if forward else (pts - pad_t) / k + off_t

    def points_to_crop(self, points: PointsT) -> PointsT:
        """Original-image points (..., 2) -> crop pixels (..., 2); numpy or torch in, the same type out."""
        return self._map_points(points, forward=True)

    def points_to_image(self, points: PointsT) -> PointsT:
        """Crop pixels (..., 2) -> original-image points (..., 2); the exact inverse of points_to_crop."""
        return self._map_points(points, forward=False)

    def landmarks_to_image(self, landmarks: np.ndarray) -> np.ndarray:
        """Regressed landmarks (..., 2) in normalised crop coordinates (``[0, 1]`` across the crop) ->
        original-image pixels (..., 2) float64.

        The one mapping of a landmark branch's output to the image (evaluation and prediction both use
        it): scaled to crop pixels in float64, clipped to the crop for the "reference" style (as the
        DAD-3DNet reference predictor does), then :meth:`points_to_image`.
        """
        crop_pixels = np.asarray(landmarks, dtype=np.float64) * self.size
        if self.style == "reference":
            crop_pixels = crop_pixels.clip(0.0, self.size)
        return self.points_to_image(crop_pixels)

    def warp_image(self, image: np.ndarray) -> np.ndarray:
        """Original image (H, W) or (H, W, C) -> crop (size, size[, C]), same dtype, zeros outside.

        Bilinear resampling with :meth:`affine_matrix`, so a feature at original point x appears at
        ``points_to_crop(x)`` (to OpenCV's 1/32-pixel interpolation grid).  When shrinking by more than
        2x (k < 0.5) the source is Gaussian-filtered first (sigma = (1/k - 1) / 2 source pixels).
        Reference style: ``cv2.resize`` (bilinear, no pre-filter) of the box to :attr:`resized_wh`, pasted
        at :attr:`pad` into a zero canvas, as the DAD-3DNet reference predictor.
        """
        _check_image(image, self.image_hw, "image")
        if self.style == "reference":
            return self._resize_and_pad(image)
        return _warp(image, self.affine_matrix(), (self.size, self.size), _antialias_sigma(self.k))

    def _resize_and_pad(self, image: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = (int(v) for v in self.box)
        width, height = self.resized_wh
        region = np.ascontiguousarray(image[y0:y1, x0:x1])
        resized = cv2.resize(region, (width, height), interpolation=cv2.INTER_LINEAR)
        resized = resized.reshape(height, width, *image.shape[2:])  # cv2 drops a channel axis of size 1
        out = np.zeros((self.size, self.size, *image.shape[2:]), dtype=image.dtype)
        pad_x, pad_y = (int(v) for v in self.pad)
        out[pad_y : pad_y + height, pad_x : pad_x + width] = resized
        return out

    def unwarp_image(self, crop_image: np.ndarray, image_hw: Sequence[int] | None = None) -> np.ndarray:
        """Crop (size, size[, C]) -> original frame (H, W[, C]) for overlays; zeros outside the crop.

        Args:
            crop_image: image in crop pixels.
            image_hw: output canvas (height, width); defaults to the transform's ``image_hw``.
        """
        _check_image(crop_image, (self.size, self.size), "crop_image")
        out_hw = self.image_hw if image_hw is None else _check_image_hw(image_hw)
        inverse = cv2.invertAffineTransform(self.affine_matrix())
        return _warp(crop_image, inverse, out_hw, _antialias_sigma(1.0 / self.k))

    def ortho_params_to_image(self, scale: Tensor, translation: Tensor) -> tuple[Tensor, Tensor]:
        """Crop-space (scale (..., 1) or (...), translation (..., 3)) -> original-image parameters.

        ``ortho_project`` with the returned parameters (and ``image_size=self.size``) gives
        original-image pixels; see :func:`~trans3dhead.geometry.camera.scale_translation_to_image`.
        """
        return scale_translation_to_image(
            scale, translation, k=self.k, pad=self.pad, offset=self.offset, image_size=self.size
        )

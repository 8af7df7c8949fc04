"""Orthogonal Procrustes with scaling, MATLAB ``procrustes`` semantics (as the Chamfer metric uses it).

Finds ``y -> b * y @ T + c`` (T orthogonal; a reflection is allowed unless forbidden) that maps source
points Y onto target points X with the least sum of squared errors.  Letters: K points, D dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trans3dhead.metrics._checks import as_array

__all__ = ["DegenerateError", "ProcrustesFit", "SimilarityTransform", "procrustes"]


class DegenerateError(ValueError):
    """The points of one side all coincide (or are not finite): no similarity transform is defined."""


@dataclass(frozen=True, eq=False)
class SimilarityTransform:
    """``y -> scale * y @ rotation + translation`` on row vectors (``rotation`` may include a reflection)."""

    scale: np.floating
    rotation: np.ndarray  # (D, D)
    translation: np.ndarray  # (D,)

    def apply(self, points: Any) -> np.ndarray:
        """(..., D) -> (..., D), computed in the dtype of the points and the transform (float32 stays)."""
        points = np.asarray(points)
        return self.scale * (points @ self.rotation) + self.translation


@dataclass(frozen=True, eq=False)
class ProcrustesFit:
    """A fitted transform and MATLAB's standardised residual ``d`` (0 = perfect fit, at most 1)."""

    transform: SimilarityTransform
    residual: float


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    dtype = np.result_type(*arrays)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def procrustes(
    target: Any, source: Any, *, scaling: bool = True, reflection: bool | None = None
) -> ProcrustesFit:
    """Fit the similarity transform that maps ``source`` onto ``target``.

    Computed in the inputs' floating dtype (float32 inputs give float32 arithmetic, as in the benchmark).

    Args:
        target: (K, D) points X to match.
        source: (K, D) points Y to transform.
        scaling: fit the scale b (else b = 1).
        reflection: None lets the best fit decide ("best"), True forces a reflection, False forbids one.

    Raises:
        ValueError: shapes differ.
        DegenerateError: all points of ``target`` or of ``source`` coincide.
    """
    x = as_array(target, "target", trailing=(None, None), dtype=None)
    y = as_array(source, "source", trailing=(None, None), dtype=None)
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"target and source must both be (K, D) of one shape, got {x.shape} and {y.shape}")
    dtype = _float_dtype(x, y)
    x, y = x.astype(dtype), y.astype(dtype)
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    x0, y0 = x - mu_x, y - mu_y
    ss_x, ss_y = (x0**2).sum(), (y0**2).sum()
    norm_x, norm_y = np.sqrt(ss_x), np.sqrt(ss_y)
    for name, norm in (("target", norm_x), ("source", norm_y)):
        if not norm > 0:
            raise DegenerateError(
                f"{name} points are degenerate (all coincide or non-finite): no Procrustes fit"
            )
    x0, y0 = x0 / norm_x, y0 / norm_y
    u, s, vt = np.linalg.svd(x0.T @ y0, full_matrices=False)
    v = vt.T
    if reflection is not None and bool(np.linalg.det(v @ u.T) < 0) != reflection:
        v[:, -1] *= -1  # flip the weakest direction to add or remove the reflection
        s[-1] *= -1
    rotation = v @ u.T
    trace = s.sum()
    if scaling:
        scale = trace * norm_x / norm_y
        residual = 1 - trace**2
    else:
        scale = dtype.type(1)
        residual = 1 + ss_y / ss_x - 2 * trace * norm_y / norm_x
    translation = mu_x - scale * (mu_y @ rotation)
    return ProcrustesFit(SimilarityTransform(scale, rotation, translation), float(residual))

"""Compact, exact JSON for synthetic annotations and atomic file writes.

Annotation files are most of a dataset's bytes (a 5023-vertex mesh), so numbers are written with a fixed
number of significant digits: :data:`VERTEX_DIGITS` for vertices (sub-micrometre for a head in metres)
and :data:`MATRIX_DIGITS` for the matrices.  :func:`quantize` rounds the arrays *before* they are used,
so the image is rendered from exactly the numbers the file holds: formatting a quantised value with the
same number of digits prints its decimal exactly and parsing it back gives the same double.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from trans3dhead.atomic import atomic_write

__all__ = [
    "VERTEX_DIGITS",
    "MATRIX_DIGITS",
    "quantize",
    "format_rows",
    "annotation_text",
    "atomic_write",
    "dump_json",
]

VERTEX_DIGITS = 6
MATRIX_DIGITS = 9
_TINY = 1e-200  # smaller magnitudes are written as 0


def quantize(values: np.ndarray, digits: int) -> np.ndarray:
    """Round every value to ``digits`` significant decimal digits (float64, same shape).

    ``m / 10**k`` with an integer-valued ``m`` and an exact power of ten is the double nearest to the
    decimal ``m * 10**-k``, i.e. what parsing that decimal returns.
    """
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(values)
    values = np.where(magnitude > _TINY, values, 0.0)  # keeps 10 ** k finite below
    exponent = np.floor(np.log10(np.where(magnitude > _TINY, magnitude, 1.0)))
    k = (digits - 1 - exponent).astype(np.int64)
    out = np.empty_like(values)
    up = k >= 0
    out[up] = np.round(values[up] * 10.0 ** k[up]) / 10.0 ** k[up]
    out[~up] = np.round(values[~up] / 10.0 ** -k[~up]) * 10.0 ** -k[~up]
    # 10 ** k is exact only for |k| <= 22: beyond (|values| < ~1e-16 or > ~1e22, rare), take the decimal
    # through Python's correctly rounded formatting and parsing instead.
    inexact = np.abs(k) > 22
    if inexact.any():
        number = f"%.{digits}g"
        out[inexact] = [float(number % v) for v in values[inexact].tolist()]
    return out


def format_rows(values: np.ndarray, digits: int) -> str:
    """(N, C) array -> JSON text ``[[a,b,...],...]`` with ``digits`` significant digits per number."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or not np.isfinite(values).all():
        raise ValueError(f"expected a finite (N, C) array, got shape {values.shape} (JSON has no inf / NaN)")
    rows, cols = values.shape
    if rows == 0:
        return "[]"
    number = f"%.{digits}g"
    row = "[" + ",".join([number] * cols) + "]"
    return "[" + ",".join([row] * rows) % tuple(values.ravel().tolist()) + "]"


def annotation_text(*, vertices: np.ndarray, model_view: np.ndarray, projection: np.ndarray) -> str:
    """The annotation JSON of one item (DAD-3DHeads keys: ``vertices``, ``model_view_matrix``,
    ``projection_matrix``)."""
    return (
        '{"vertices":'
        + format_rows(vertices, VERTEX_DIGITS)
        + ',"model_view_matrix":'
        + format_rows(model_view, MATRIX_DIGITS)
        + ',"projection_matrix":'
        + format_rows(projection, MATRIX_DIGITS)
        + "}"
    )


def dump_json(value: Any) -> str:
    """Deterministic compact JSON (sorted keys are not used: field order is part of the format)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

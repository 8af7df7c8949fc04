"""Identity shape basis: smooth global deformations made orthogonal and scaled like a PCA model.

The first components are named, anatomically meaningful deformations (overall size, width, face length,
jaw width, nose size, ...); after them come random smooth vector fields (sums of plane waves, mostly
left-right symmetric) whose wavelength shrinks with the index.  All fields are functions of the template
position, so duplicated lip vertices move together, and each eyeball is translated rigidly by the field at
its centre.  The raw
fields are orthogonalised in R^{3V} by a Cholesky QR (Gram-Schmidt order, so the first field keeps
its meaning) and scaled by a decaying standard deviation, like FLAME's sigma-scaled principal components:
a coefficient of +-2 on the first component changes the head by several millimetres.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.raycast import smoothstep

__all__ = ["shape_basis", "shape_sigma", "NAMED_SHAPE_FIELDS"]

Field = Callable[[np.ndarray], np.ndarray]
_HEAD_CENTRE = np.array([0.0, 0.0, -0.035])
_CHUNK = 128  # random fields evaluated together


def _window(p: np.ndarray, centre, radius: float, bilateral: bool = False) -> np.ndarray:
    q = p.copy()
    if bilateral:
        q[:, 0] = np.abs(q[:, 0])
    return np.exp(-0.5 * ((q - np.asarray(centre)) ** 2).sum(-1) / radius**2)


def _side(x: np.ndarray) -> np.ndarray:
    """Smooth sign of x (N,): -1 on the right, +1 on the left, continuous across the midline."""
    return np.tanh(x / 0.008)


def _vec(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1).astype(np.float64)


def _named_fields() -> list[tuple[str, Field]]:
    def size(p):
        return p - _HEAD_CENTRE

    def width(p):
        return _vec(p[:, 0], 0.0, 0.0)

    def face_length(p):
        return _vec(0.0, -(0.015 - p[:, 1]) * smoothstep((0.015 - p[:, 1]) / 0.03), 0.0)

    def head_depth(p):
        return _vec(0.0, 0.0, (p[:, 2] - _HEAD_CENTRE[2]) * smoothstep((p[:, 1] + 0.09) / 0.03))

    def jaw_width(p):
        low = smoothstep((-0.04 - p[:, 1]) / 0.03) * smoothstep((p[:, 1] + 0.16) / 0.03)
        return _vec(p[:, 0] * low, 0.0, 0.0)

    def nose_size(p):
        return (p - [0.0, -0.022, 0.062]) * _window(p, [0.0, -0.015, 0.07], 0.016)[:, None]

    def chin(p):
        return _vec(0.0, -0.3, 1.0) * _window(p, [0.0, -0.095, 0.05], 0.018)[:, None]

    def eye_spacing(p):
        return _vec(_side(p[:, 0]), 0.0, 0.0) * _window(p, [0.0325, 0.015, 0.035], 0.018, True)[:, None]

    def cheekbones(p):
        w = _window(p, [0.05, -0.005, 0.025], 0.02, True)[:, None]
        return _vec(0.6 * _side(p[:, 0]), 0.2, 0.8) * w

    def forehead(p):
        return _vec(0.0, 0.0, np.clip(p[:, 1] - 0.03, 0.0, None) * smoothstep((p[:, 2] + 0.02) / 0.04))

    def neck(p):
        rel = p - [0.0, 0.0, -0.036]
        return _vec(rel[:, 0], 0.0, rel[:, 2]) * smoothstep((-0.09 - p[:, 1]) / 0.04)[:, None]

    def lips(p):
        w = _window(p, [0.0, -0.058, 0.062], 0.012)[:, None]
        return _vec(0.0, 0.4 * np.tanh((p[:, 1] + 0.058) / 0.004), 1.0) * w

    def brow_ridge(p):
        return _vec(0.0, 0.2, 1.0) * _window(p, [0.03, 0.034, 0.045], 0.015, True)[:, None]

    def ears(p):
        return _vec(_side(p[:, 0]), 0.0, 0.0) * _window(p, [0.085, -0.002, -0.046], 0.02, True)[:, None]

    def crown(p):
        return _vec(0.0, np.clip(p[:, 1] - 0.02, 0.0, None), 0.0)

    def mouth_width(p):
        return _vec(p[:, 0], 0.0, 0.0) * _window(p, [0.0, -0.058, 0.06], 0.018)[:, None]

    def nose_projection(p):
        return _vec(0.0, -0.3, 1.0) * _window(p, [0.0, -0.02, 0.08], 0.012)[:, None]

    def eye_height(p):
        return _vec(0.0, 1.0, 0.0) * _window(p, [0.0325, 0.015, 0.035], 0.02, True)[:, None]

    return [
        ("size", size),
        ("width", width),
        ("face_length", face_length),
        ("head_depth", head_depth),
        ("jaw_width", jaw_width),
        ("nose_size", nose_size),
        ("chin", chin),
        ("eye_spacing", eye_spacing),
        ("cheekbones", cheekbones),
        ("forehead_slope", forehead),
        ("neck", neck),
        ("lip_fullness", lips),
        ("brow_ridge", brow_ridge),
        ("ears", ears),
        ("crown_height", crown),
        ("mouth_width", mouth_width),
        ("nose_projection", nose_projection),
        ("eye_height", eye_height),
    ]


NAMED_SHAPE_FIELDS: tuple[str, ...] = tuple(name for name, _ in _named_fields())


def _random_fields(rng: np.random.Generator, count: int) -> Field:
    """``count`` smooth random vector fields as one function points (N, 3) -> (N, 3, count).

    Field k is a sum of 4 plane waves (random directions, phases and 3D amplitudes) whose wavelength
    shrinks from about 25 cm (first) to 4 cm (300th), made left-right symmetric (most fields, like most
    real identity variation) or antisymmetric (every fourth field).
    """
    wavelengths = 0.25 * (1.0 + np.arange(count) / 12.0) ** -0.55
    directions = rng.normal(size=(count, 4, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    waves = directions * (2 * np.pi / wavelengths)[:, None, None]  # (K, 4, 3) wave vectors
    phases = rng.uniform(0.0, 2 * np.pi, size=(count, 4))
    amplitudes = rng.normal(size=(count, 4, 3))
    parity = np.where(np.arange(count) % 4 == 3, -1.0, 1.0)  # mirror sign of the x component
    mirror = np.array([-1.0, 1.0, 1.0])

    def one_side(p: np.ndarray, k: slice) -> np.ndarray:
        angle = p @ waves[k].reshape(-1, 3).T  # (N, k * 4)
        angle += phases[k].reshape(-1)[None]
        np.cos(angle, out=angle)
        grouped = angle.reshape(p.shape[0], -1, 4).transpose(1, 0, 2)  # (k, N, 4)
        return np.matmul(grouped, amplitudes[k]).transpose(1, 2, 0)  # (N, 3, k)

    def fields(p: np.ndarray) -> np.ndarray:
        out = np.empty((p.shape[0], 3, count))
        for start in range(0, count, _CHUNK):  # bounded memory
            k = slice(start, min(start + _CHUNK, count))
            reflected = one_side(p * mirror, k) * mirror[None, :, None] * parity[None, None, k]
            out[:, :, k] = 0.5 * (one_side(p, k) + reflected)
        return out

    return fields


def shape_sigma(count: int) -> np.ndarray:
    """RMS per-vertex displacement (metres) of each unit shape coefficient: (count,)."""
    return 0.0032 * np.arange(1, count + 1, dtype=np.float64) ** -0.75


def _evaluate(mesh: HeadMesh, field: Field) -> np.ndarray:
    """Field values (V, 3, ...) with each eyeball moved rigidly by the value at its centre."""
    out = field(mesh.vertices)
    at_centres = field(mesh.context.anatomy.eye_centres)
    for part, value in zip((2, 3), at_centres, strict=True):
        out[mesh.part == part] = value
    return out


def _orthonormal_columns(raw: np.ndarray) -> np.ndarray:
    """Gram-Schmidt of the columns of raw (M, K) by CholeskyQR: (M, K) orthonormal columns, column k
    spanning the first k + 1 raw columns.

    One pass is accurate to about eps * cond^2; the columns are normalised first (the raw fields are then
    well conditioned) and a second pass runs only when the Cholesky factor hints at a poor condition.
    """
    q = raw / np.linalg.norm(raw, axis=0, keepdims=True)
    for _ in range(2):
        chol = np.linalg.cholesky(q.T @ q)  # q^T q = L L^T
        q = q @ np.linalg.inv(chol).T  # q L^-T
        diag = np.abs(np.diag(chol))
        if diag.max() / diag.min() < 1e3:
            break
    return q


def shape_basis(mesh: HeadMesh, *, num_shape: int, rng: np.random.Generator) -> np.ndarray:
    """Orthogonal shape basis (V, 3, num_shape), column k scaled to RMS displacement ``shape_sigma[k]``."""
    num_v = mesh.vertices.shape[0]
    if num_shape > 3 * num_v:
        raise ValueError(f"num_shape={num_shape} exceeds 3 * num_vertices = {3 * num_v}")
    named = [f for _, f in _named_fields()][:num_shape]
    columns = [_evaluate(mesh, f).reshape(-1, 1) for f in named]
    extra = num_shape - len(named)
    if extra:
        columns.append(_evaluate(mesh, _random_fields(rng, extra)).reshape(3 * num_v, extra))
    q = _orthonormal_columns(np.concatenate(columns, axis=1))  # (3V, K)
    scale = shape_sigma(num_shape) * np.sqrt(num_v)
    return (q * scale[None]).reshape(num_v, 3, num_shape)

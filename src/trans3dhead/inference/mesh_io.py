"""Triangle meshes to Wavefront OBJ (text) and PLY (binary little-endian), written atomically.

Both writers keep the coordinates as given (no axis flips) and the faces' vertex order.  Letters:
V vertices, F faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trans3dhead.atomic import atomic_write
from trans3dhead.errors import InputError

__all__ = ["write_obj", "write_ply", "read_ply"]


def _check_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValueError(f"vertices must be a finite (V, 3) array, got shape {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be an integer (F, 3) array, got shape {f.shape} dtype {f.dtype}")
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"faces index vertices 0..{len(v) - 1}, got values in [{f.min()}, {f.max()}]")
    return v, f.astype(np.int64)


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """``v x y z`` lines (6 decimals) then ``f a b c`` lines (1-based, as OBJ wants)."""
    v, f = _check_mesh(vertices, faces)
    lines = [f"# {len(v)} vertices, {len(f)} faces (trans3dhead)"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v.tolist()]
    lines += [f"f {a} {b} {c}" for a, b, c in (f + 1).tolist()]
    return atomic_write(Path(path), ("\n".join(lines) + "\n").encode("ascii"))


def write_ply(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Binary little-endian PLY: float32 x, y, z per vertex; uchar count + int32 indices per face."""
    v, f = _check_mesh(vertices, faces)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment trans3dhead\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    face_rec = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_rec["n"], face_rec["idx"] = 3, f
    body = v.astype("<f4").tobytes() + face_rec.tobytes()
    return atomic_write(Path(path), header.encode("ascii") + body)


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read back a PLY written by :func:`write_ply` -> vertices (V, 3) float32, faces (F, 3) int64."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise InputError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise InputError(f"{path}: only binary little-endian PLY files written by write_ply are supported")
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element ")}
    body = data[end + len(b"end_header\n") :]
    nv, nf = counts.get("vertex", 0), counts.get("face", 0)
    vertices = np.frombuffer(body, dtype="<f4", count=nv * 3).reshape(nv, 3)
    faces = np.frombuffer(body, dtype=[("n", "u1"), ("idx", "<i4", (3,))], count=nf, offset=nv * 12)
    return vertices.copy(), faces["idx"].astype(np.int64)

"""Per-pixel Phong-interpolated shading: ambient + Lambert + optional Blinn-Phong specular.

Frame: the camera frame used by :mod:`trans3dhead.render.rasterize` -- x right, y down, z away from the
camera (the OpenCV camera frame).  Normals of surfaces facing the camera have negative z.  A
:class:`Light` is directional; its ``direction`` points from the surface towards the light, so a light
at the camera is ``(0, 0, -1)``.  The viewer is taken at infinity along -z (orthographic view vector),
which is what the Blinn-Phong half vector uses.  Letters: V vertices, F faces, H/W image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from trans3dhead.render.rasterize import Fragments
from trans3dhead.render.validation import (
    check_background,
    check_faces,
    check_number,
    check_screen_vertices,
    check_vertex_attribute,
)

__all__ = ["Light", "vertex_normals", "shade", "shade_checked"]

Vec3 = tuple[float, float, float]


def _as_vec3(value: Vec3, name: str, *, nonnegative: bool) -> Vec3:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise ValueError(f"Light.{name} must be 3 finite numbers, got {value!r}")
    if nonnegative and array.min() < 0:
        raise ValueError(f"Light.{name} must be non-negative, got {value!r}")
    return (float(array[0]), float(array[1]), float(array[2]))


@dataclass(frozen=True, kw_only=True)
class Light:
    """A directional light with ambient term (camera frame, see the module docstring).

    Attributes:
        direction: unit vector from the surface towards the light (normalised on construction).
        color: RGB intensity of the directional light (Lambert and specular terms).
        ambient: RGB ambient intensity.
        specular: Blinn-Phong specular strength (0 turns it off).
        shininess: Blinn-Phong exponent.
    """

    direction: Vec3 = (0.0, 0.0, -1.0)
    color: Vec3 = (0.7, 0.7, 0.7)
    ambient: Vec3 = (0.3, 0.3, 0.3)
    specular: float = 0.0
    shininess: float = 32.0

    def __post_init__(self) -> None:
        direction = np.asarray(_as_vec3(self.direction, "direction", nonnegative=False))
        norm = float(np.linalg.norm(direction))
        if norm < 1e-12:
            raise ValueError(f"Light.direction must be non-zero, got {self.direction!r}")
        object.__setattr__(self, "direction", tuple(float(v) for v in direction / norm))
        object.__setattr__(self, "color", _as_vec3(self.color, "color", nonnegative=True))
        object.__setattr__(self, "ambient", _as_vec3(self.ambient, "ambient", nonnegative=True))
        object.__setattr__(self, "specular", check_number(self.specular, "Light.specular", minimum=0.0))
        object.__setattr__(
            self, "shininess", check_number(self.shininess, "Light.shininess", minimum=0.0, exclusive=True)
        )

    @classmethod
    def random(cls, rng: np.random.Generator, *, max_angle_deg: float = 60.0) -> Light:
        """A random light: direction uniform on the cap within ``max_angle_deg`` of the view axis (so from
        the camera's side), near-white colour of random intensity, grey-ish ambient, mild specular."""
        if not 0.0 <= max_angle_deg <= 180.0:
            raise ValueError(f"max_angle_deg must be in [0, 180], got {max_angle_deg}")
        cos_theta = rng.uniform(math.cos(math.radians(max_angle_deg)), 1.0)
        sin_theta = math.sqrt(max(0.0, 1.0 - cos_theta**2))
        phi = rng.uniform(0.0, 2.0 * math.pi)
        direction = (sin_theta * math.cos(phi), sin_theta * math.sin(phi), -cos_theta)
        color = rng.uniform(0.4, 0.8) * (1.0 + rng.uniform(-0.1, 0.1, size=3))
        ambient = rng.uniform(0.15, 0.45) * (1.0 + rng.uniform(-0.05, 0.05, size=3))
        return cls(
            direction=direction,
            color=tuple(color.tolist()),
            ambient=tuple(ambient.tolist()),
            specular=float(rng.uniform(0.0, 0.25)),
            shininess=float(np.exp(rng.uniform(math.log(8.0), math.log(64.0)))),
        )


@numba.njit(cache=True, nogil=True)
def _normals_kernel(vertices, faces, out):
    """Accumulate unnormalised face normals (area-weighted) into (V, 3) ``out`` and normalise."""
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        ux, vx = vertices[b, 0] - vertices[a, 0], vertices[c, 0] - vertices[a, 0]
        uy, vy = vertices[b, 1] - vertices[a, 1], vertices[c, 1] - vertices[a, 1]
        uz, vz = vertices[b, 2] - vertices[a, 2], vertices[c, 2] - vertices[a, 2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        for k in range(3):
            v = faces[f, k]
            out[v, 0] += nx
            out[v, 1] += ny
            out[v, 2] += nz
    for v in range(out.shape[0]):
        norm = math.sqrt(out[v, 0] ** 2 + out[v, 1] ** 2 + out[v, 2] ** 2)
        if norm > 0.0:
            out[v, 0] /= norm
            out[v, 1] /= norm
            out[v, 2] /= norm


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float64 in the frame of ``vertices`` (V, 3).

    Each face contributes ``(v1 - v0) x (v2 - v0)`` (length = twice its area) to its three vertices, so
    counter-clockwise faces (seen from the side the normal points to) give outward normals.  Vertices no
    face uses, or whose faces are all degenerate, get a zero normal.
    """
    vertices = check_screen_vertices(vertices, name="vertices")
    faces = check_faces(faces, len(vertices))
    out = np.zeros_like(vertices)
    _normals_kernel(vertices, faces, out)
    return out


@numba.njit(cache=True, nogil=True)
def _shade_kernel(face_id, bary, faces, colors, normals, light, background, out):
    """Shade covered pixels of ``out`` (H, W, 3) and copy ``background`` ((1, 1, 3) or (H, W, 3)) into the
    empty ones; ``light`` packs direction, colour, ambient, half vector, specular, shininess (14 floats)."""
    height, width = face_id.shape
    bg_rows, bg_cols = background.shape[0] - 1, background.shape[1] - 1
    lx, ly, lz, hx, hy, hz = light[0], light[1], light[2], light[9], light[10], light[11]
    strength, shininess = light[12], light[13]
    for i in range(height):
        for j in range(width):
            f = face_id[i, j]
            if f < 0:
                for ch in range(3):
                    out[i, j, ch] = background[min(i, bg_rows), min(j, bg_cols), ch]
                continue
            a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
            wa, wb, wc = np.float64(bary[i, j, 0]), np.float64(bary[i, j, 1]), np.float64(bary[i, j, 2])
            nx = wa * normals[a, 0] + wb * normals[b, 0] + wc * normals[c, 0]
            ny = wa * normals[a, 1] + wb * normals[b, 1] + wc * normals[c, 1]
            nz = wa * normals[a, 2] + wb * normals[b, 2] + wc * normals[c, 2]
            norm2 = nx * nx + ny * ny + nz * nz
            diffuse = 0.0
            specular = 0.0
            if norm2 > 0.0:
                inv_norm = 1.0 / math.sqrt(norm2)
                diffuse = max(0.0, (nx * lx + ny * ly + nz * lz) * inv_norm)
                if diffuse > 0.0 and strength > 0.0:
                    specular = strength * max(0.0, (nx * hx + ny * hy + nz * hz) * inv_norm) ** shininess
            for ch in range(3):
                albedo = wa * colors[a, ch] + wb * colors[b, ch] + wc * colors[c, ch]
                value = albedo * (light[6 + ch] + light[3 + ch] * diffuse) + light[3 + ch] * specular
                out[i, j, ch] = min(1.0, max(0.0, value))


def _pack_light(light: Light) -> np.ndarray:
    """14 floats: direction, colour, ambient, Blinn-Phong half vector (light + view), specular, shininess."""
    direction = np.asarray(light.direction)
    half = direction + np.array([0.0, 0.0, -1.0])
    norm = np.linalg.norm(half)
    half = half / norm if norm > 1e-12 else np.zeros(3)
    return np.concatenate([direction, light.color, light.ambient, half, [light.specular, light.shininess]])


def shade_checked(
    fragments: Fragments, colors: np.ndarray, normals: np.ndarray, light: Light, background: np.ndarray
) -> np.ndarray:
    """:func:`shade` on validated float64 colours/normals and a float32 background -> (H, W, 3) float32."""
    height, width = fragments.face_id.shape
    out = np.empty((height, width, 3), dtype=np.float32)
    bg = np.ascontiguousarray(background.reshape(1, 1, 3) if background.ndim == 1 else background, np.float32)
    params = _pack_light(light)
    _shade_kernel(fragments.face_id, fragments.bary, fragments.faces, colors, normals, params, bg, out)
    return out


def shade(
    fragments: Fragments,
    vertex_colors: np.ndarray,
    vertex_normals: np.ndarray,
    *,
    light: Light,
    background: np.ndarray | tuple | None = None,
) -> np.ndarray:
    """Shade rasterised fragments per pixel.

    Colour and normal are interpolated with the barycentrics, the normal renormalised, and the pixel set
    to ``albedo * (ambient + color * max(0, n.l)) + color * specular * max(0, n.h) ** shininess``
    (specular only where ``n.l > 0``), clipped to [0, 1].

    Args:
        fragments: output of :func:`~trans3dhead.render.rasterize.rasterize` for an (H, W) image.
        vertex_colors: (V, 3) albedo in [0, 1].
        vertex_normals: (V, 3) normals in the camera frame (need not be unit length).
        light: the light, in the camera frame.
        background: None (black), an RGB colour (3,) or an image (H, W, 3), in [0, 1].

    Returns:
        (H, W, 3) float32 image in [0, 1].
    """
    num_vertices = fragments.num_vertices
    colors = check_vertex_attribute(
        vertex_colors, num_vertices, name="vertex_colors", channels=3, value_range=(0, 1)
    )
    normals = check_vertex_attribute(vertex_normals, num_vertices, name="vertex_normals", channels=3)
    if not isinstance(light, Light):
        raise ValueError(f"light must be a Light, got {type(light).__name__}")
    bg = check_background(background, *fragments.face_id.shape)
    return shade_checked(fragments, colors, normals, light, bg)

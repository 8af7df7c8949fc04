"""Vertex regions and albedo of the template (not part of real FLAME; used by the renderer).

Region codes index :data:`REGION_NAMES`.  The albedo is a per-region base colour times a smooth, seeded
variation (a few broad Gaussian blobs), plus seeded choices of skin tone, hair and iris colour, so two
seeds give two different-looking people with the same geometry.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.eyeball import IRIS_ANGLE, PUPIL_ANGLE
from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.pocket import POCKET_DEPTH
from trans3dhead.flame.embedded.raycast import smoothstep
from trans3dhead.flame.embedded.regions import Regions, brow_centre, hairline

__all__ = ["REGION_NAMES", "vertex_regions", "vertex_albedo"]

REGION_NAMES: tuple[str, ...] = (
    "skin",
    "lips",
    "brows",
    "sclera",
    "iris",
    "pupil",
    "hair",
    "inner_mouth",
    "neck",
    "teeth",
)
_CODE = {name: code for code, name in enumerate(REGION_NAMES)}
_SKIN_TONES = np.array([[0.87, 0.70, 0.60], [0.80, 0.60, 0.48], [0.66, 0.47, 0.36], [0.47, 0.32, 0.24]])
_HAIR = np.array([[0.10, 0.07, 0.05], [0.25, 0.16, 0.09], [0.45, 0.32, 0.18], [0.62, 0.52, 0.36]])
_IRIS = np.array([[0.30, 0.18, 0.08], [0.22, 0.38, 0.58], [0.30, 0.42, 0.25], [0.45, 0.33, 0.15]])
_TEETH_DEPTH = 0.013  # pocket rings up to this depth behind the lips are teeth


def vertex_regions(mesh: HeadMesh, regions: Regions) -> np.ndarray:
    """Region code (V,) of every vertex."""
    codes = np.full(mesh.vertices.shape[0], _CODE["skin"], dtype=np.int64)
    codes[regions.neck] = _CODE["neck"]
    codes[regions.hair] = _CODE["hair"]
    codes[regions.brows] = _CODE["brows"]
    codes[regions.lips] = _CODE["lips"]
    depth = mesh.pocket_ring * POCKET_DEPTH / max(int(mesh.pocket_ring.max()), 1)
    inside = regions.pocket & (mesh.pocket_ring > 0)
    codes[inside] = _CODE["inner_mouth"]
    codes[inside & (mesh.pocket_side != 0) & (depth <= _TEETH_DEPTH)] = _CODE["teeth"]
    polar = mesh.polar
    codes[regions.eyeball] = _CODE["sclera"]
    codes[regions.eyeball & (polar < IRIS_ANGLE)] = _CODE["iris"]
    codes[regions.eyeball & (polar < PUPIL_ANGLE)] = _CODE["pupil"]
    return codes


def _smooth_noise(points: np.ndarray, rng: np.random.Generator, count: int = 12) -> np.ndarray:
    """A smooth scalar field (V,) of unit-ish amplitude made of broad Gaussian blobs."""
    centres = points[rng.integers(0, points.shape[0], count)]
    signs = rng.normal(size=count)
    d2 = ((points[:, None] - centres[None]) ** 2).sum(-1)
    field = np.exp(-0.5 * d2 / 0.03**2) @ signs
    return field / max(np.abs(field).max(), 1e-12)


def _soft_masks(mesh: HeadMesh, regions: Regions, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Blend weights (V,) in [0, 1] for hair, brows and lips whose edges are soft over about one
    vertex spacing, so per-vertex colours do not show the staircase of the region boundaries."""
    p = mesh.vertices
    width = max(mesh.face_spacing(), 0.003)
    skin = regions.surface & ~regions.ears
    hair = smoothstep(0.5 + (p[:, 1] - hairline(regions.alpha)) / width) * skin
    height, half = brow_centre(p[:, 0])
    along = smoothstep((0.055 - np.abs(p[:, 0])) / 0.006) * smoothstep((np.abs(p[:, 0]) - 0.011) / 0.004)
    brows = smoothstep(0.5 + (half - np.abs(p[:, 1] - height)) / width) * along * (p[:, 2] > 0.02) * skin
    lips = (codes == REGION_NAMES.index("lips")).astype(np.float64)
    return {"hair": hair, "brows": np.clip(brows, 0.0, 1.0), "lips": lips}


def vertex_albedo(
    mesh: HeadMesh, regions: Regions, codes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Albedo (V, 3) in [0, 1] for region codes (V,), with seeded colours and smooth variation."""
    skin = _SKIN_TONES[rng.integers(0, len(_SKIN_TONES))] * rng.uniform(0.95, 1.05)
    hair = _HAIR[rng.integers(0, len(_HAIR))]
    iris = _IRIS[rng.integers(0, len(_IRIS))]
    base = {
        "skin": skin,
        "neck": skin * 0.96,
        "lips": skin * np.array([0.85, 0.58, 0.58]),
        "brows": 0.6 * hair + 0.02,
        "hair": hair,
        "sclera": np.array([0.93, 0.91, 0.88]),
        "iris": iris,
        "pupil": np.array([0.03, 0.03, 0.03]),
        "inner_mouth": np.array([0.42, 0.12, 0.12]),
        "teeth": np.array([0.90, 0.88, 0.80]),
    }
    albedo = np.stack([base[REGION_NAMES[c]] for c in codes])
    on_skin = np.isin(codes, [_CODE[n] for n in ("skin", "neck", "lips", "brows", "hair")])
    p = mesh.vertices
    tone = skin * (1.0 + 0.07 * _smooth_noise(p, rng))[:, None]
    blush = np.exp(-0.5 * (((np.abs(p[:, 0]) - 0.04) ** 2 + (p[:, 1] + 0.02) ** 2) / 0.015**2))
    tone *= 1.0 - 0.08 * blush[:, None] * np.array([0.0, 1.0, 1.0])
    masks = _soft_masks(mesh, regions, codes)
    layered = tone
    for name in ("lips", "hair", "brows"):
        w = masks[name][:, None]
        layered = (1.0 - w) * layered + w * base[name]
    albedo[on_skin] = layered[on_skin]
    return np.clip(albedo, 0.0, 1.0)

"""Per-item vertex colours: skin tone, hair and eye colour on top of the model's albedo.

The embedded head model carries a ``vertex_albedo`` and named ``vertex_region`` s (skin, lips, brows,
sclera, iris, pupil, hair, inner_mouth, neck, teeth).  Each item recolours them: a random skin tone
(skin, neck, lips), hair colour (hair and brows; sometimes the hair takes the skin tone: a shaved
head) and iris colour,
keeping the model's relative variation inside every region.  A model without regions (real FLAME) gets
one skin tone over its albedo, or over a plain skin colour without albedo.  Letters: V vertices.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.data.synthetic.scene import random_skin_tone
from trans3dhead.flame import FlameModelData

__all__ = ["VertexColours"]

PLAIN_SKIN = np.array([0.88, 0.66, 0.53])
HAIR_COLOURS = np.array(
    [
        [0.05, 0.04, 0.035],
        [0.15, 0.09, 0.05],
        [0.30, 0.18, 0.10],
        [0.62, 0.48, 0.28],
        [0.45, 0.18, 0.08],
        [0.55, 0.55, 0.55],
    ]
)
IRIS_COLOURS = np.array([[0.30, 0.18, 0.08], [0.22, 0.38, 0.58], [0.30, 0.42, 0.25], [0.40, 0.40, 0.42]])
SHAVED_PROB = 0.15
_GROUPS = {"skin": ("skin", "neck", "lips"), "hair": ("hair",), "brows": ("brows",), "iris": ("iris",)}


class VertexColours:
    """Draws the (V, 3) albedo of one item for a model (see the module docstring)."""

    def __init__(self, model: FlameModelData) -> None:
        albedo = model.vertex_albedo
        self.base = (
            np.asarray(albedo, np.float64)
            if albedo is not None
            else np.tile(PLAIN_SKIN, (model.num_vertices, 1))
        )
        self.groups: dict[str, np.ndarray] = {}
        if model.vertex_region is not None and model.region_names:
            names = {name: code for code, name in enumerate(model.region_names)}
            for group, members in _GROUPS.items():
                mask = np.isin(model.vertex_region, [names[m] for m in members if m in names])
                if mask.any():
                    self.groups[group] = mask
        if not self.groups:
            self.groups["skin"] = np.ones(model.num_vertices, bool)
        # the reference colour of each group: its mean albedo on the group's main region
        self.reference = {g: self.base[m].mean(axis=0) for g, m in self.groups.items()}

    def _recolour(self, out: np.ndarray, group: str, colour: np.ndarray) -> None:
        mask = self.groups.get(group)
        if mask is not None:
            out[mask] = self.base[mask] * (colour / np.maximum(self.reference[group], 1e-3))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(V, 3) albedo in [0, 1] of one item."""
        out = self.base.copy()
        skin = random_skin_tone(rng)
        self._recolour(out, "skin", skin)
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2)
        shaved = rng.uniform() < SHAVED_PROB
        self._recolour(out, "hair", skin * 0.9 if shaved else hair)
        self._recolour(out, "brows", hair)
        self._recolour(out, "iris", IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.8, 1.2))
        return np.clip(out, 0.0, 1.0)

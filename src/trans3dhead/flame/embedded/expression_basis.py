"""Expression basis: localised facial deformations, semantic first, then random smooth bumps.

The first components are named actions (smile, frown, pucker, ..., blinks).  A coefficient of
``FULL_ACTION`` (2.0, i.e. two "standard deviations") performs the whole action: for example the
left-blink component at +2 closes the left upper lid onto the lower one.  Blinks and "eyes wide" are
computed by re-meshing the eyelid rows in the closed / widened state (see :mod:`.eyelids`), the others
are smooth displacement fields.  Fields that must move the two lips apart (upper lip raise, lower lip
depress) act on one side of the lip cut only and fade out at the mouth corners, so the mesh stays intact.
After the named components come random Gaussian bumps on the face with decaying amplitude.  Everything is
multiplied by the face weight, so the back of the head, the ears, the neck and the eyeballs never move.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.mesh import HeadMesh, eye_state_vertices
from trans3dhead.flame.embedded.regions import Regions

__all__ = ["FULL_ACTION", "NAMED_EXPRESSIONS", "expression_basis"]

FULL_ACTION = 2.0
NAMED_EXPRESSIONS: tuple[str, ...] = (
    "smile",
    "frown",
    "lip_pucker",
    "lips_press",
    "upper_lip_raise",
    "brow_raise",
    "brow_furrow",
    "blink_left",
    "blink_right",
    "eyes_wide",
    "cheek_puff",
    "mouth_stretch",
    "nose_wrinkle",
    "lower_lip_depress",
    "mouth_shift_left",
)


def _gauss(p: np.ndarray, centre, radius: float, bilateral: bool = False) -> np.ndarray:
    q = p.copy()
    if bilateral:
        q[:, 0] = np.abs(q[:, 0])
    return np.exp(-0.5 * ((q - np.asarray(centre)) ** 2).sum(-1) / radius**2)


def _side(x: np.ndarray) -> np.ndarray:
    return np.tanh(x / 0.008)


class _Actions:
    """Full-action displacement fields (V, 3) of the named expressions, one small method each."""

    def __init__(self, mesh: HeadMesh, regions: Regions) -> None:
        self.mesh, self.p = mesh, mesh.vertices
        self.mouth_y = mesh.context.anatomy.mouth_y
        self.corners = mesh.vertices[mesh.pocket.corners]  # (2, 3) right then left mouth corner
        half = float(np.abs(self.corners[:, 0]).mean())
        taper = np.clip(1.0 - (self.p[:, 0] / half) ** 2, 0.0, 1.0) ** 2  # 0 at and beyond the corners
        above = np.where(regions.pocket, mesh.pocket_side > 0, self.p[:, 1] > self.mouth_y)
        below = np.where(regions.pocket, mesh.pocket_side < 0, self.p[:, 1] < self.mouth_y)
        self.upper_lip, self.lower_lip = taper * above, taper * below  # one side of the lip cut each

    def field(self, name: str) -> np.ndarray:
        """Displacements (V, 3) of the full action ``name`` (one of :data:`NAMED_EXPRESSIONS`)."""
        return getattr(self, f"_{name}")()

    def _window(self, centre, radius: float, bilateral: bool = False) -> np.ndarray:
        return _gauss(self.p, centre, radius, bilateral)

    def _corners(self, radius: float, direction) -> np.ndarray:
        """Mirror-symmetric bumps at the two mouth corners; ``direction`` is the left corner's."""
        out = np.zeros_like(self.p)
        for corner in self.corners:
            d = np.asarray(direction, dtype=np.float64) * [np.sign(corner[0]), 1.0, 1.0]
            out += _gauss(self.p, corner, radius)[:, None] * d
        return out

    def _smile(self) -> np.ndarray:
        cheeks = self._window([0.038, -0.02, 0.045], 0.016, True)[:, None] * [0.0, 0.004, 0.0015]
        return self._corners(0.013, [0.0032, 0.0045, -0.0018]) + cheeks

    def _frown(self) -> np.ndarray:
        return self._corners(0.012, [0.0006, -0.006, -0.0006])

    def _lip_pucker(self) -> np.ndarray:
        w = self._window([0.0, self.mouth_y, 0.062], 0.015)
        return np.stack([-0.35 * self.p[:, 0] * w, 0 * w, 0.007 * w], -1)

    def _lips_press(self) -> np.ndarray:
        w = self._window([0.0, self.mouth_y, 0.062], 0.013)
        return np.stack([0 * w, -0.45 * (self.p[:, 1] - self.mouth_y) * w, -0.002 * w], -1)

    def _upper_lip_raise(self) -> np.ndarray:
        w = self._window([0.0, self.mouth_y + 0.006, 0.06], 0.012) * self.upper_lip
        return w[:, None] * [0.0, 0.0045, 0.001]

    def _brow_raise(self) -> np.ndarray:
        above_lids = np.clip((self.p[:, 1] - 0.022) / 0.012, 0.0, 1.0)
        w = self._window([0.03, 0.035, 0.045], 0.022, True) * above_lids
        return w[:, None] * [0.0, 0.006, 0.001]

    def _brow_furrow(self) -> np.ndarray:
        w = self._window([0.016, 0.031, 0.05], 0.011, True)
        return np.stack([-0.002 * _side(self.p[:, 0]) * w, -0.004 * w, 0.0004 * w], -1)

    def _blink_left(self) -> np.ndarray:
        return eye_state_vertices(self.mesh, ("closed", "open")) - self.p

    def _blink_right(self) -> np.ndarray:
        return eye_state_vertices(self.mesh, ("open", "closed")) - self.p

    def _eyes_wide(self) -> np.ndarray:
        return eye_state_vertices(self.mesh, ("wide", "wide")) - self.p

    def _cheek_puff(self) -> np.ndarray:
        w = self._window([0.042, -0.05, 0.035], 0.018, True) * (1.0 - self.upper_lip - self.lower_lip)
        return np.stack([0.005 * _side(self.p[:, 0]) * w, 0 * w, 0.0035 * w], -1)

    def _mouth_stretch(self) -> np.ndarray:
        return self._corners(0.013, [0.006, -0.0006, -0.002])

    def _nose_wrinkle(self) -> np.ndarray:
        return self._window([0.013, -0.005, 0.058], 0.011, True)[:, None] * [0.0, 0.003, 0.001]

    def _lower_lip_depress(self) -> np.ndarray:
        w = self._window([0.0, self.mouth_y - 0.007, 0.058], 0.012) * self.lower_lip
        return w[:, None] * [0.0, -0.005, 0.0005]

    def _mouth_shift_left(self) -> np.ndarray:
        return self._window([0.0, self.mouth_y, 0.06], 0.018)[:, None] * [0.004, 0.0, 0.0]


def _random_bumps(mesh: HeadMesh, weight: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random localised bumps (V, 3, count) on the face, amplitudes decaying with the index."""
    p = mesh.vertices
    anchors = p[(weight > 0.95) & (mesh.part == 0)]
    out = np.zeros((p.shape[0], 3, count))
    for k in range(count):
        centre = anchors[rng.integers(0, anchors.shape[0])]
        radius = rng.uniform(0.008, 0.02)
        direction = rng.normal(size=3)
        amplitude = 0.0012 * (1.0 + k / 10.0) ** -0.8
        out[:, :, k] = _gauss(p, centre, radius)[:, None] * (
            amplitude * direction / np.linalg.norm(direction)
        )
    return out


def expression_basis(
    mesh: HeadMesh, regions: Regions, *, num_expression: int, rng: np.random.Generator
) -> np.ndarray:
    """Expression basis (V, 3, num_expression); see the module docstring for the components."""
    weight = regions.face_weight()[:, None]
    actions = _Actions(mesh, regions)
    named = [actions.field(n) / FULL_ACTION for n in NAMED_EXPRESSIONS[:num_expression]]
    out = np.zeros((mesh.vertices.shape[0], 3, num_expression))
    if named:
        out[:, :, : len(named)] = np.stack(named, axis=-1)
    extra = num_expression - len(named)
    if extra > 0:
        out[:, :, len(named) :] = _random_bumps(mesh, weight[:, 0], extra, rng)
    return out * weight[:, :, None]

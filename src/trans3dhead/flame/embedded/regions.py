"""Anatomical regions of the template, as smooth fields and masks over its vertices.

Everything here is a function of the template positions plus the mesh bookkeeping (pocket, eyeballs),
so the rig, the bases, the albedo, the vertex subsets and the dense keypoints agree on where the face,
neck, ears, hair, brows and lips are.  Azimuths are measured around the vertical axis through the ray
centre (0 = straight ahead, positive towards +x).
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.raycast import smoothstep

__all__ = [
    "azimuth",
    "neck_line",
    "is_neck",
    "hairline",
    "brow_centre",
    "vermilion_height",
    "Regions",
]


def azimuth(mesh: HeadMesh, points: np.ndarray | None = None) -> np.ndarray:
    """Azimuth (N,) of points (N, 3) (default: the template vertices) around the ray centre's axis."""
    p = mesh.vertices if points is None else points
    centre = mesh.context.anatomy.ray_centre
    return np.arctan2(p[:, 0] - centre[0], p[:, 2] - centre[2])


def neck_line(alpha: np.ndarray) -> np.ndarray:
    """Height (N,) of the head/neck boundary at azimuths (N,): the throat in front, under the jaw angles
    at the sides, below the skull at the back."""
    knots = np.array([0.0, 0.3, 0.6, 1.0, 1.6, 2.2, np.pi])
    heights = np.array([-0.100, -0.099, -0.095, -0.092, -0.094, -0.075, -0.060])
    return np.interp(np.abs(alpha), knots, heights)


def is_neck(points: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(N,) bool: points (N, 3) at azimuths (N,) below the neck line, except the underside of the chin,
    which reaches below the throat in front of it."""
    chin = (points[:, 2] > 0.02) & (np.abs(points[:, 0]) < 0.035)
    return (points[:, 1] < neck_line(alpha)) & ~chin


def hairline(alpha: np.ndarray) -> np.ndarray:
    """Height (N,) of the hairline: high on the forehead, above the ears, down to the nape at the back."""
    knots = np.array([0.0, 0.55, 0.95, 1.45, 1.75, 2.1, np.pi])
    heights = np.array([0.088, 0.082, 0.058, 0.036, 0.030, -0.030, -0.062])
    return np.interp(np.abs(alpha), knots, heights)


def brow_centre(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eyebrow centre-line height (N,) and half-thickness (N,) at lateral offsets |x| (N,)."""
    t = np.clip((np.abs(x) - 0.013) / 0.040, 0.0, 1.0)  # 0 at the inner end, 1 at the outer end
    height = 0.0335 + 0.0065 * np.sin(np.pi * t**0.8) - 0.004 * t
    return height, 0.0034 - 0.0018 * t


def vermilion_height(x: np.ndarray, half_width: float, upper: bool) -> np.ndarray:
    """Height (N,) of the red of the upper / lower lip above / below the contact line at x (N,)."""
    u = np.clip(1.0 - (x / half_width) ** 2, 0.0, 1.0) ** 0.6
    if upper:
        bow = 1.0 - 0.12 * np.exp(-((x / 0.004) ** 2))  # Cupid's bow dip at the midline
        return 0.0078 * u * bow
    return 0.0095 * u


class Regions:
    """Masks (V,) bool and smooth weights (V,) float of one template mesh."""

    def __init__(self, mesh: HeadMesh) -> None:
        self.mesh = mesh
        anatomy = mesh.context.anatomy
        p = mesh.vertices
        self.alpha = azimuth(mesh)
        self.surface = mesh.part == 0
        self.pocket = mesh.part == 1
        self.eyeball = mesh.part >= 2
        self.head = self.surface | self.pocket
        self.neck = self.surface & is_neck(p, self.alpha)
        ear = anatomy.ear_centre
        ear_d = ((p[:, 1] - ear[1]) / 0.037) ** 2 + ((p[:, 2] - ear[2]) / 0.024) ** 2
        self.ears = self.surface & (np.abs(p[:, 0]) > 0.062) & (ear_d < 1.0)
        self.back = self.head & ~self.neck & (np.abs(self.alpha) > 2.35)
        front = (np.abs(self.alpha) < 1.38) & (p[:, 1] < hairline(self.alpha) + 0.004)
        self.face = (self.head & front & ~self.neck & ~self.ears) | self.pocket
        self.hair = self.surface & ~self.neck & ~self.ears & (p[:, 1] > hairline(self.alpha))
        height, half = brow_centre(p[:, 0])
        in_brow = (np.abs(p[:, 0]) > 0.011) & (np.abs(p[:, 0]) < 0.055) & (np.abs(p[:, 1] - height) < half)
        self.brows = self.surface & in_brow & (p[:, 2] > 0.02)
        self.lips = self._lips(anatomy.mouth_y, anatomy.mouth_half_width)

    def _lips(self, mouth_y: float, half_width: float) -> np.ndarray:
        p, mesh = self.mesh.vertices, self.mesh
        dy = p[:, 1] - mouth_y
        upper = (dy >= 0) & (dy <= vermilion_height(p[:, 0], half_width, True) + 1e-4)
        lower = (dy < 0) & (-dy <= vermilion_height(p[:, 0], half_width, False) + 1e-4)
        near = (np.abs(p[:, 0]) <= half_width) & (p[:, 2] > 0.04)
        beside = np.isin(mesh.grid_row, [mesh.mouth_row - 1, mesh.mouth_row + 1])
        beside &= np.abs(p[:, 0]) < 0.85 * half_width  # the rows next to the lip line, at any resolution
        lips = self.surface & near & (upper | lower | beside)
        lips[mesh.pocket.lower] = True
        lips[mesh.pocket.upper] = True
        return lips

    def face_weight(self) -> np.ndarray:
        """Smooth weight (V,): 1 on the face, 0 on the back of the head, the ears and the neck."""
        p = self.mesh.vertices
        lateral = 1.0 - smoothstep((np.abs(self.alpha) - 1.0) / 0.3)
        above_neck = smoothstep((p[:, 1] - neck_line(self.alpha) - 0.004) / 0.014)
        chin = smoothstep((p[:, 2] - 0.01) / 0.02) * smoothstep((0.045 - np.abs(p[:, 0])) / 0.01)
        above_neck = np.maximum(above_neck, chin)  # the underside of the chin belongs to the face
        below_top = 1.0 - smoothstep((p[:, 1] - 0.095) / 0.02)
        weight = lateral * above_neck * below_top
        weight[self.eyeball] = 0.0
        weight[self.pocket] = 1.0
        return weight

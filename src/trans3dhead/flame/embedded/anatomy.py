"""Anatomical dimensions of the procedural head and its implicit surface.

All lengths are metres in FLAME's frame: y up, z out of the face, x towards the subject's left.  The
origin sits between the ears at about ear-canal height, like FLAME's (whose training code later shifts z
by +0.05 to the skull centre).  The surface is the zero set of :func:`head_field`, a smooth union of
ellipsoids, round cones and an elliptic cylinder (the neck), with the eye sockets carved out and refilled
by "lid shells" (spheres slightly larger than the eyeballs).  The eye openings and the mouth are not part
of the field: they are cut into the mesh later (see :mod:`.eyelids` and :mod:`.pocket`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trans3dhead.flame.embedded.implicit import (
    capsule,
    ellipsoid,
    elliptic_cylinder,
    local,
    smooth_subtract,
    smooth_union,
    sphere,
)

__all__ = ["HeadAnatomy", "head_field", "mirror_x"]


def mirror_x(point: np.ndarray) -> np.ndarray:
    """Reflect a point (..., 3) through the sagittal plane x = 0."""
    return point * np.array([-1.0, 1.0, 1.0])


def _v(x: float, y: float, z: float) -> np.ndarray:
    return np.array([x, y, z], dtype=np.float64)


@dataclass(frozen=True)
class HeadAnatomy:
    """Key dimensions of the template head (metres).  Left-side points have x > 0; the right side mirrors."""

    # Centre of the radial parameterisation (inside the head, between the ears, above the nose base).
    ray_centre: np.ndarray = field(default_factory=lambda: _v(0.0, -0.015, -0.030))
    # Lowest origin of the sliding rays that mesh the neck (on the neck axis).
    neck_ray_origin_y: float = -0.100
    eye_centre: np.ndarray = field(default_factory=lambda: _v(0.031, 0.015, 0.0325))
    eyeball_radius: float = 0.0125
    lid_thickness: float = 0.0012
    mouth_y: float = -0.058
    mouth_half_width: float = 0.0245
    neck_centre_xz: np.ndarray = field(default_factory=lambda: np.array([0.0, -0.045]))
    neck_radii_xz: np.ndarray = field(default_factory=lambda: np.array([0.055, 0.056]))
    neck_bottom_y: float = -0.195
    ear_centre: np.ndarray = field(default_factory=lambda: _v(0.079, -0.002, -0.046))
    tmj: np.ndarray = field(default_factory=lambda: _v(0.062, -0.008, -0.016))

    @property
    def eye_centres(self) -> np.ndarray:
        """(2, 3): left eye (x > 0) then right eye."""
        return np.stack([self.eye_centre, mirror_x(self.eye_centre)])


def _cranium(p: np.ndarray) -> np.ndarray:
    skull = ellipsoid(p, (0.0, 0.040, -0.040), (0.077, 0.085, 0.097))
    sides = ellipsoid(p, (0.0, -0.005, -0.042), (0.073, 0.058, 0.088))
    forehead = ellipsoid(p, (0.0, 0.058, 0.000), (0.058, 0.045, 0.046))
    occiput = ellipsoid(p, (0.0, 0.000, -0.075), (0.056, 0.055, 0.054))
    out = smooth_union(skull, sides, 0.03)
    return smooth_union(smooth_union(out, forehead, 0.02), occiput, 0.03)


def _midface(p: np.ndarray) -> np.ndarray:
    maxilla = ellipsoid(p, (0.0, -0.035, 0.000), (0.058, 0.048, 0.061))
    zygoma = ellipsoid(p, (0.047, -0.004, 0.010), (0.026, 0.016, 0.031))
    cheek = ellipsoid(p, (0.034, -0.030, 0.022), (0.028, 0.026, 0.030))
    brow = capsule(p, (0.0, 0.034, 0.053), (0.046, 0.035, 0.030), 0.0095, 0.0075)
    out = smooth_union(maxilla, zygoma, 0.015)
    out = smooth_union(out, cheek, 0.015)
    return smooth_union(out, brow, 0.012)


def _jaw(p: np.ndarray) -> np.ndarray:
    lower_face = ellipsoid(p, (0.0, -0.062, 0.010), (0.047, 0.032, 0.049))
    chin = ellipsoid(p, (0.0, -0.090, 0.041), (0.021, 0.015, 0.015))
    body = capsule(p, (0.048, -0.075, -0.024), (0.017, -0.087, 0.034), 0.012, 0.010)
    ramus = capsule(p, (0.050, -0.073, -0.027), (0.058, -0.012, -0.020), 0.011, 0.009)
    out = smooth_union(lower_face, chin, 0.015)
    out = smooth_union(out, body, 0.012)
    return smooth_union(out, ramus, 0.012)


def _nose(p: np.ndarray) -> np.ndarray:
    bridge = capsule(p, (0.0, 0.027, 0.052), (0.0, -0.014, 0.074), 0.0075, 0.0085)
    tip = sphere(p, (0.0, -0.021, 0.0735), 0.0115)
    alae = sphere(p, (0.0125, -0.030, 0.061), 0.0078)
    base = ellipsoid(p, (0.0, -0.033, 0.062), (0.011, 0.006, 0.012))
    sides = ellipsoid(p, (0.0, 0.002, 0.047), (0.0145, 0.030, 0.021))  # sloping flanks of the nose
    out = smooth_union(bridge, tip, 0.010)
    out = smooth_union(out, sides, 0.008)
    out = smooth_union(out, alae, 0.006)
    return smooth_union(out, base, 0.006)


def _lips(p: np.ndarray, anatomy: HeadAnatomy) -> np.ndarray:
    """Upper and lower lip in a frame bent back with the face (z + 12.8 x^2), meeting at ``mouth_y``."""
    bent = p.copy()
    bent[2] += 12.8 * p[0] ** 2
    y, half = anatomy.mouth_y, anatomy.mouth_half_width
    upper = ellipsoid(bent, (0.0, y + 0.0068, 0.0605), (half, 0.0078, 0.0100))
    lower = ellipsoid(bent, (0.0, y - 0.0072, 0.0565), (half - 0.002, 0.0082, 0.0102))
    return smooth_union(upper, lower, 0.0015)


def _ear(p: np.ndarray, anatomy: HeadAnatomy) -> np.ndarray:
    c = anatomy.ear_centre
    pinna = ellipsoid(p, c, (0.011, 0.031, 0.017))
    concha = ellipsoid(p, c + _v(0.012, -0.006, 0.004), (0.0085, 0.013, 0.0085))
    fossa = ellipsoid(p, c + _v(0.011, 0.014, -0.001), (0.006, 0.010, 0.007))
    return smooth_subtract(smooth_subtract(pinna, concha, 0.004), fossa, 0.004)


def _neck(p: np.ndarray, anatomy: HeadAnatomy) -> np.ndarray:
    return elliptic_cylinder(
        p, anatomy.neck_centre_xz, anatomy.neck_radii_xz, (anatomy.neck_bottom_y, -0.01), 0.012
    )


def _eye_sockets(values: np.ndarray, p: np.ndarray, anatomy: HeadAnatomy) -> np.ndarray:
    """Carve the orbits, then put back a lid shell over each eyeball (p folded to x >= 0)."""
    e = anatomy.eye_centre
    low, high = e - 0.045, e + 0.045
    socket = local(p, low, high, lambda q: ellipsoid(q, e + _v(0.0, -0.001, 0.014), (0.0190, 0.0135, 0.0180)))
    values = smooth_subtract(values, socket, 0.008)
    radius = anatomy.eyeball_radius + anatomy.lid_thickness
    shell = local(p, low, high, lambda q: sphere(q, e, radius))
    values = smooth_union(values, shell, 0.008)
    medial = local(p, low, high, lambda q: ellipsoid(q, (0.0135, 0.014, 0.037), (0.0085, 0.016, 0.013)))
    return smooth_union(values, medial, 0.006)  # slope from the nose bridge down to the inner canthus


def head_field(points: np.ndarray, anatomy: HeadAnatomy) -> np.ndarray:
    """Implicit head-and-neck surface with closed eyelids: points (N, 3) -> values (N,), < 0 inside."""
    p = np.ascontiguousarray(np.asarray(points, dtype=np.float64).T)  # (3, N)
    folded = p.copy()
    folded[0] = np.abs(folded[0])  # the template is symmetric: model the left half
    out = smooth_union(_cranium(folded), _midface(folded), 0.02)
    out = smooth_union(out, _jaw(folded), 0.02)
    out = _eye_sockets(out, folded, anatomy)
    nose = local(folded, (-0.01, -0.06, 0.015), (0.05, 0.05, 0.11), _nose)
    out = smooth_union(out, nose, 0.008)
    lips = local(folded, (-0.01, -0.085, 0.02), (0.05, -0.03, 0.09), lambda q: _lips(q, anatomy))
    out = smooth_union(out, lips, 0.006)
    ear = anatomy.ear_centre
    out = smooth_union(out, local(folded, ear - 0.05, ear + 0.05, lambda q: _ear(q, anatomy)), 0.008)
    return smooth_union(out, _neck(p, anatomy), 0.015)

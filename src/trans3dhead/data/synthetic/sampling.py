"""Random draws of one synthetic head: identity, expression, jaw, pose, camera placement and light.

Every draw takes a ``numpy.random.Generator`` and nothing else random, so an item is a pure function of
its seed.  The distributions (documented in ``docs/synthetic.md``):

* shape: ``beta ~ N(0, 1)`` on every component (the model's bases carry the variances), clipped to +-3.
* expression: with probability :data:`STRONG_EXPRESSION_PROB` ``psi ~ N(0, s)``, ``s ~ U(1.2, 2.2)``
  (strong), else ``s ~ U(0, 0.7)`` (mild); clipped to +-3.
* jaw (axis-angle, radians): with probability :data:`OPEN_JAW_PROB` opened by ``U(0.12, 0.35)`` about x,
  else ``U(0, 0.06)``; plus ``N(0, 0.02)`` about y and z.
* pose (roll, pitch, yaw) in degrees, weighted towards frontal: 55% near-frontal (yaw ``N(0, 25)``, pitch
  ``N(0, 15)``, roll ``N(0, 10)``), 30% wide (yaw ``U(-90, 90)``, pitch ``N(0, 30)``, roll ``N(0, 20)``),
  15% anything (yaw ``U(-180, 180)`` -- the back of the head included --, pitch ``U(-70, 70)``, roll
  ``U(-45, 45)``); pitch is clipped to +-70 and roll to +-45.  The three shares are :data:`POSE_MIX`;
  ``pose_mix`` (``SceneOptions.pose_mix``, ``trans3dhead synth --pose-mix``) changes them, e.g. to put
  more back views into a training set.
* light: 70% :meth:`Light.random` (white-ish, from the camera's side), 30% non-standard: coloured, harsh
  (grazing, little ambient) or dim / over-bright.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from trans3dhead.errors import InputError
from trans3dhead.render import Light

__all__ = [
    "HeadSample",
    "Placement",
    "sample_head",
    "sample_pose",
    "check_pose_mix",
    "POSE_MIX",
    "sample_placement",
    "sample_light",
    "STRONG_EXPRESSION_PROB",
    "OPEN_JAW_PROB",
    "NONSTANDARD_LIGHT_PROB",
]

STRONG_EXPRESSION_PROB = 0.3
OPEN_JAW_PROB = 0.25
NONSTANDARD_LIGHT_PROB = 0.3
COEFF_CLIP = 3.0
#: Shares of the pose modes (near-frontal, wide, anything) of :func:`sample_pose`.
POSE_MIX = (0.55, 0.30, 0.15)
_POSE_MODES = ("near-frontal", "wide", "anything")


@dataclass(frozen=True)
class HeadSample:
    """Model parameters of one head: shape (S,), expression (E,), jaw (3,) axis-angle in radians and the
    pose as (roll, pitch, yaw) degrees in the project's Euler convention (yaw may exceed 90: back views)."""

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    euler: np.ndarray


@dataclass(frozen=True)
class Placement:
    """Where the head goes in the image: focal length (pixels), apparent size of the head as a fraction
    of the image side, and the pixel (x, y) its centre projects to."""

    focal: float
    head_fraction: float
    centre_xy: tuple[float, float]


def _coefficients(rng: np.random.Generator, count: int, scale: float) -> np.ndarray:
    return np.clip(rng.normal(0.0, scale, size=count), -COEFF_CLIP, COEFF_CLIP)


def _jaw(rng: np.random.Generator) -> np.ndarray:
    opening = rng.uniform(0.12, 0.35) if rng.uniform() < OPEN_JAW_PROB else rng.uniform(0.0, 0.06)
    return np.array([opening, rng.normal(0.0, 0.02), rng.normal(0.0, 0.02)])


def check_pose_mix(mix: Any) -> tuple[float, float, float]:
    """``mix`` as three floats (shares of the near-frontal, wide and anything poses): each in [0, 1],
    summing to 1 (within 1e-6).  Raises InputError naming the bad value."""
    try:
        values = tuple(float(v) for v in mix)
    except (TypeError, ValueError):
        raise InputError(f"pose_mix must be three shares {_POSE_MODES}, got {mix!r}") from None
    if isinstance(mix, (str, bytes)) or len(values) != 3 or any(isinstance(v, bool) for v in mix):
        raise InputError(f"pose_mix must be three shares {_POSE_MODES}, got {mix!r}")
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise InputError(f"pose_mix shares {_POSE_MODES} must lie in [0, 1] and sum to 1, got {mix!r}")
    return values  # type: ignore[return-value]


def sample_pose(rng: np.random.Generator, mix: tuple[float, float, float] = POSE_MIX) -> np.ndarray:
    """(roll, pitch, yaw) in degrees (see the module docstring); ``mix``: the modes' shares (checked by
    :func:`check_pose_mix` where it is set)."""
    mode = rng.uniform()
    if mode < mix[0]:
        roll, pitch, yaw = rng.normal(0.0, 10.0), rng.normal(0.0, 15.0), rng.normal(0.0, 25.0)
    elif mode < 1.0 - mix[2]:  # 0.85 exactly for the default (0.55 + 0.30 is not)
        roll, pitch, yaw = rng.normal(0.0, 20.0), rng.normal(0.0, 30.0), rng.uniform(-90.0, 90.0)
    else:
        roll, pitch, yaw = rng.uniform(-45.0, 45.0), rng.uniform(-70.0, 70.0), rng.uniform(-180.0, 180.0)
    return np.array([np.clip(roll, -45.0, 45.0), np.clip(pitch, -70.0, 70.0), np.clip(yaw, -180.0, 180.0)])


def sample_head(
    rng: np.random.Generator,
    *,
    num_shape: int,
    num_expression: int,
    pose_mix: tuple[float, float, float] = POSE_MIX,
) -> HeadSample:
    """Identity, expression, jaw and pose of one head for a model with the given component counts."""
    shape = _coefficients(rng, num_shape, 1.0)
    strong = rng.uniform() < STRONG_EXPRESSION_PROB
    expression = _coefficients(rng, num_expression, rng.uniform(1.2, 2.2) if strong else rng.uniform(0, 0.7))
    return HeadSample(shape=shape, expression=expression, jaw=_jaw(rng), euler=sample_pose(rng, pose_mix))


def sample_placement(
    rng: np.random.Generator, *, size: int, focal_range: tuple[float, float] = (0.9, 4.0)
) -> Placement:
    """Focal length, head size and position in a ``size`` x ``size`` image.

    The focal length is ``size * U(low, high)`` of ``focal_range`` (log-uniform; default 0.9-4: wide
    angle to tele).  Usually (85%) the head
    spans 25-85% of the image and stays mostly inside; otherwise it is large (70-140%) and its centre may
    sit anywhere in the central 90%, so the head is partly outside the frame.  The centre always projects
    inside the image, so the clipped head box is never empty.
    """
    low, high = focal_range
    focal = size * math.exp(rng.uniform(math.log(low), math.log(high)))
    if rng.uniform() < 0.85:
        fraction = rng.uniform(0.25, 0.85)
        slack = max(0.0, (1.0 - fraction) / 2.0 - 0.02)
        cx, cy = 0.5 + rng.uniform(-slack, slack), 0.5 + rng.uniform(-slack, slack)
    else:
        fraction = rng.uniform(0.7, 1.4)
        cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)
    return Placement(focal=focal, head_fraction=fraction, centre_xy=(cx * (size - 1), cy * (size - 1)))


def _tint(rng: np.random.Generator, saturation: float) -> np.ndarray:
    """A random hue at the given HSV ``saturation`` (0 = white; max / min channel = 1 / (1 - s)),
    scaled to unit mean."""
    colour = np.array(colorsys.hsv_to_rgb(rng.uniform(), saturation, 1.0))
    return colour / colour.mean()


def _direction(rng: np.random.Generator, low_deg: float, high_deg: float) -> tuple[float, float, float]:
    """Unit vector at an angle in [low, high] degrees from the view axis (0, 0, -1), random azimuth."""
    theta = math.radians(rng.uniform(low_deg, high_deg))
    phi = rng.uniform(0.0, 2.0 * math.pi)
    return (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), -math.cos(theta))


def sample_light(rng: np.random.Generator) -> Light:
    """A light in the renderer's camera frame; whether it counts as standard is decided by
    :func:`trans3dhead.data.synthetic.attributes.is_standard_light`, not by the branch drawn here."""
    if rng.uniform() >= NONSTANDARD_LIGHT_PROB:
        return Light.random(rng)
    kind = rng.integers(3)
    if kind == 0:  # coloured light and ambient
        colour = rng.uniform(0.5, 0.9) * _tint(rng, rng.uniform(0.6, 0.9))
        ambient = rng.uniform(0.2, 0.35) * _tint(rng, rng.uniform(0.4, 0.8))
        return Light(direction=_direction(rng, 0, 60), color=tuple(colour), ambient=tuple(ambient))
    if kind == 1:  # harsh: grazing light, almost no ambient, strong specular
        colour = np.full(3, rng.uniform(0.9, 1.3))
        return Light(
            direction=_direction(rng, 70, 110),
            color=tuple(colour),
            ambient=tuple(np.full(3, rng.uniform(0.02, 0.08))),
            specular=float(rng.uniform(0.2, 0.5)),
        )
    dim = rng.uniform() < 0.5  # too dark or over-exposed
    scale = rng.uniform(0.15, 0.35) if dim else rng.uniform(1.8, 2.4)
    return Light(
        direction=_direction(rng, 0, 60),
        color=tuple(np.full(3, 0.6 * scale)),
        ambient=tuple(np.full(3, 0.3 * scale)),
    )

"""The documented rules that turn a synthetic item's parameters into DAD-3DHeads attributes.

Every value is one of :data:`trans3dhead.data.io.ATTRIBUTE_VALUES`, written as a string ("true" /
"false" as the DAD-3DHeads README lists them).  Thresholds are module constants, quoted in
``docs/synthetic.md``:

* ``pose`` from the head's (roll, pitch, yaw) written with ``|pitch| <= 90`` (:func:`pose_angles`, so a
  back view has ``|yaw| > 90``): **atypical** if ``|yaw| > 90`` (turned away) or ``|pitch| > 45`` or
  ``|roll| > 40``; else **front** if ``|yaw| <= 30`` and ``|pitch| <= 30``; else **sided**.
* ``expression``: "true" if the RMS of the expression coefficients exceeds 1.0 or the jaw opens by more
  than 0.15 rad (the norm of its axis-angle).
* ``occlusions``: "true" if occluders hide at least 20% of the face pixels the head alone would show.
* ``quality``: "lq" when the image was degraded (blur, noise, JPEG), else "hq".
* ``standard light``: see :func:`is_standard_light`.
* ``gender`` from the first shape coefficient: >= 0.5 "male", <= -0.5 "female", else "undefined".
* ``age`` from the second shape coefficient: < -1 "child", < 0.5 "young", < 1.2 "middle_aged", else
  "senior".  (Synthetic conventions: the model's components carry no labelled meaning.)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from trans3dhead.geometry.rotation import matrix_to_euler, wrap_angle
from trans3dhead.render import Light

__all__ = [
    "pose_angles",
    "pose_attribute",
    "expression_attribute",
    "is_standard_light",
    "gender_attribute",
    "age_attribute",
    "occlusion_attribute",
    "OCCLUSION_THRESHOLD",
]

ATYPICAL_YAW, ATYPICAL_PITCH, ATYPICAL_ROLL = 90.0, 45.0, 40.0
FRONT_YAW, FRONT_PITCH = 30.0, 30.0
EXPRESSION_RMS, JAW_OPENING = 1.0, 0.15
OCCLUSION_THRESHOLD = 0.2
GENDER_MARGIN = 0.5
AGE_BOUNDS = ((-1.0, "child"), (0.5, "young"), (1.2, "middle_aged"))
# Standard light: from within 65 degrees of the view axis, near-white light and ambient (max / min
# channel <= 1.3), ambient mean >= 0.1 and total mean intensity in [0.5, 1.5].
LIGHT_MAX_ANGLE, LIGHT_MAX_CHROMA, LIGHT_MIN_AMBIENT, LIGHT_RANGE = 65.0, 1.3, 0.1, (0.5, 1.5)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def pose_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(roll, pitch, yaw) degrees of a GT rotation (3, 3), written with ``|pitch| <= 90`` and yaw in
    (-180, 180]: the project's Euler triple, or for a head turned away from the camera its equivalent
    ``(roll + 180, pitch + 180, 180 - yaw)`` (wrapped), which is how such poses are sampled."""
    roll, pitch, yaw = matrix_to_euler(torch.as_tensor(rotation, dtype=torch.float64)).tolist()
    if abs(pitch) > 90.0:
        roll, pitch, yaw = wrap_angle(roll + 180.0), wrap_angle(pitch + 180.0), wrap_angle(180.0 - yaw)
    return float(roll), float(pitch), float(yaw)


def pose_attribute(roll: float, pitch: float, yaw: float) -> str:
    """front / sided / atypical from angles in degrees as :func:`pose_angles` writes them."""
    if abs(yaw) > ATYPICAL_YAW or abs(pitch) > ATYPICAL_PITCH or abs(roll) > ATYPICAL_ROLL:
        return "atypical"
    if abs(yaw) <= FRONT_YAW and abs(pitch) <= FRONT_PITCH:
        return "front"
    return "sided"


def expression_attribute(expression: np.ndarray, jaw: np.ndarray) -> str:
    """ "true" for a strong expression (RMS of the coefficients) or an open jaw (axis-angle norm)."""
    rms = float(np.sqrt(np.mean(np.square(expression)))) if len(expression) else 0.0
    return _flag(rms > EXPRESSION_RMS or float(np.linalg.norm(jaw)) > JAW_OPENING)


def _chroma(rgb: tuple[float, float, float]) -> float:
    low, high = min(rgb), max(rgb)
    return math.inf if low <= 0 else high / low


def is_standard_light(light: Light) -> bool:
    """Everyday lighting: from the camera's side, near white, with some ambient, neither dark nor
    over-exposed (thresholds in the module constants)."""
    angle = math.degrees(math.acos(max(-1.0, min(1.0, -light.direction[2]))))
    ambient = float(np.mean(light.ambient))
    total = ambient + float(np.mean(light.color))
    return (
        angle <= LIGHT_MAX_ANGLE
        and _chroma(light.color) <= LIGHT_MAX_CHROMA
        and _chroma(light.ambient) <= LIGHT_MAX_CHROMA
        and ambient >= LIGHT_MIN_AMBIENT
        and LIGHT_RANGE[0] <= total <= LIGHT_RANGE[1]
    )


def gender_attribute(shape: np.ndarray) -> str:
    first = float(shape[0]) if len(shape) else 0.0
    return "male" if first >= GENDER_MARGIN else "female" if first <= -GENDER_MARGIN else "undefined"


def age_attribute(shape: np.ndarray) -> str:
    second = float(shape[1]) if len(shape) > 1 else 0.0
    for bound, label in AGE_BOUNDS:
        if second < bound:
            return label
    return "senior"


def occlusion_attribute(hidden_fraction: float) -> str:
    """ "true" when at least :data:`OCCLUSION_THRESHOLD` of the visible face is hidden."""
    return _flag(hidden_fraction >= OCCLUSION_THRESHOLD)

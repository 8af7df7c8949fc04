"""Smooth random head motion for synthetic videos: pose, position, size and expression over time, and
occluders passing in front of the face.

Every channel is a known smooth function of time, so a video's ground truth has a well-defined speed and
acceleration (what ``trans3dhead eval-video`` compares the predictions' jitter and lag against):

* pose (roll, pitch, yaw degrees), head centre (pixels) and head size: a start value plus a sum of three
  sinusoids with random frequencies in [0.05, ``max_frequency``] Hz, phases and amplitudes whose sum is at
  most the channel's amplitude;
* expression and jaw: random key expressions about every ``expression_period`` seconds, blended by
  smoothstep (``3u^2 - 2u^3``: continuous speed, at rest at each key);
* occluder passes: an object (:func:`~trans3dhead.data.synthetic.scene.occluder_sprite`) moving on a
  straight line at constant speed, entering beside the head, crossing over the face and leaving on the
  other side.

Letters: T frames, E expression components.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trans3dhead.data.synthetic.sampling import COEFF_CLIP
from trans3dhead.data.synthetic.scene import occluder_sprite
from trans3dhead.errors import InputError

__all__ = ["MotionOptions", "Trajectory", "OccluderPass", "sample_trajectory", "sample_passes"]


@dataclass(frozen=True, kw_only=True)
class MotionOptions:
    """Amplitudes of the motion about the start pose and place.

    yaw, pitch, roll: degrees.  shift: head-centre motion, in image sides.  zoom: relative head-size
    change.  max_frequency: Hz of the fastest sinusoid.  expression_period: seconds between key
    expressions.  occluder_speed: (low, high) speed of an occluder pass in image sides per second.
    """

    yaw: float = 40.0
    pitch: float = 20.0
    roll: float = 12.0
    shift: float = 0.12
    zoom: float = 0.15
    max_frequency: float = 0.5
    expression_period: float = 2.0
    occluder_speed: tuple[float, float] = (0.4, 1.0)

    def __post_init__(self) -> None:
        for name in ("yaw", "pitch", "roll", "shift", "zoom"):
            if not 0 <= getattr(self, name) < math.inf:
                raise InputError(f"motion {name} must be a finite number >= 0, got {getattr(self, name)!r}")
        if not self.zoom < 1:
            raise InputError(f"motion zoom must be below 1 (a relative size change), got {self.zoom!r}")
        for name in ("max_frequency", "expression_period"):
            if not 0 < getattr(self, name) < math.inf:
                raise InputError(f"motion {name} must be a positive number, got {getattr(self, name)!r}")
        low, high = self.occluder_speed
        if not 0 < low <= high < math.inf:
            raise InputError(f"occluder_speed must be 0 < low <= high, got {self.occluder_speed!r}")


@dataclass(frozen=True)
class Trajectory:
    """Per-frame head parameters: euler (T, 3) (roll, pitch, yaw) degrees, centre (T, 2) pixels where the
    head centre projects, fraction (T,) head size as a share of the image side, expression (T, E), jaw
    (T, 3) axis-angle radians."""

    euler: np.ndarray
    centre: np.ndarray
    fraction: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray


@dataclass(frozen=True, eq=False)
class OccluderPass:
    """An object crossing the image from ``start_xy`` to ``end_xy`` (pixels, its centre) at constant
    speed during frames ``first .. first + frames - 1``; ``mask`` (s, s) and ``colours`` (s, s, 3) are its
    look, centred on its position."""

    first: int
    frames: int
    start_xy: np.ndarray
    end_xy: np.ndarray
    mask: np.ndarray
    colours: np.ndarray

    def position(self, frame: int) -> np.ndarray | None:
        """Its centre at ``frame``, or None when it is not in this frame."""
        if not self.first <= frame < self.first + self.frames:
            return None
        u = (frame - self.first) / max(self.frames - 1, 1)
        return self.start_xy + u * (self.end_xy - self.start_xy)


def _waves(rng: np.random.Generator, times: np.ndarray, amplitude: float, max_frequency: float) -> np.ndarray:
    """(T,) sum of three sinusoids with amplitudes summing to ``amplitude``."""
    weights = rng.dirichlet(np.ones(3)) * amplitude
    frequencies = rng.uniform(0.05, max(max_frequency, 0.05), size=3)
    phases = rng.uniform(0.0, 2.0 * math.pi, size=3)
    return (weights[:, None] * np.sin(2 * math.pi * frequencies[:, None] * times + phases[:, None])).sum(0)


def _keyed(rng: np.random.Generator, times: np.ndarray, period: float, draw) -> np.ndarray:
    """(T, D) smoothstep blend of keys ``draw(rng)`` placed ``period * U(0.7, 1.3)`` seconds apart."""
    keys_t, keys = [0.0], [draw(rng)]
    while keys_t[-1] <= times[-1]:
        keys_t.append(keys_t[-1] + period * rng.uniform(0.7, 1.3))
        keys.append(draw(rng))
    index = np.searchsorted(keys_t, times, side="right") - 1  # (T,) the key before each time
    t0, t1 = np.asarray(keys_t)[index], np.asarray(keys_t)[index + 1]
    u = ((times - t0) / (t1 - t0))[:, None]
    s = u * u * (3.0 - 2.0 * u)
    values = np.asarray(keys)
    return values[index] + s * (values[index + 1] - values[index])


def sample_trajectory(
    rng: np.random.Generator,
    *,
    frames: int,
    fps: float,
    size: int,
    num_expression: int,
    options: MotionOptions,
) -> Trajectory:
    """A smooth random trajectory of ``frames`` frames at ``fps`` in a ``size`` px image."""
    o = options
    times = np.arange(frames) / fps
    start = np.array([rng.normal(0.0, 5.0), rng.normal(0.0, 8.0), rng.normal(0.0, 20.0)])
    euler = np.stack(
        [
            start[k] + _waves(rng, times, amp, o.max_frequency)
            for k, amp in enumerate((o.roll, o.pitch, o.yaw))
        ],
        axis=1,
    )
    base_fraction = rng.uniform(0.35, 0.55)
    fraction = base_fraction * (1.0 + _waves(rng, times, o.zoom, o.max_frequency))
    slack = max(0.0, (1.0 - base_fraction * (1.0 + o.zoom)) / 2.0 - 0.05)  # keeps the head in the image
    amplitude = min(o.shift, slack)
    base = 0.5 + rng.uniform(-1.0, 1.0, size=2) * (slack - amplitude)
    centre = np.stack([base[k] + _waves(rng, times, amplitude, o.max_frequency) for k in range(2)], axis=1)

    def expression(r: np.random.Generator) -> np.ndarray:
        scale = r.uniform(0.0, 1.5)
        return np.clip(r.normal(0.0, scale, size=num_expression), -COEFF_CLIP, COEFF_CLIP)

    def jaw(r: np.random.Generator) -> np.ndarray:
        return np.array([r.uniform(0.0, 0.3) if r.uniform() < 0.5 else r.uniform(0.0, 0.05), 0.0, 0.0])

    return Trajectory(
        euler=euler,
        centre=centre * (size - 1),
        fraction=fraction,
        expression=_keyed(rng, times, o.expression_period, expression),
        jaw=_keyed(rng, times, o.expression_period, jaw),
    )


def sample_passes(
    rng: np.random.Generator,
    trajectory: Trajectory,
    *,
    count: int,
    fps: float,
    size: int,
    options: MotionOptions,
) -> list[OccluderPass]:
    """``count`` occluder passes over the face of ``trajectory`` (each crosses the face centre's position
    at the middle of the pass, give or take a tenth of the head size)."""
    frames = len(trajectory.fraction)
    passes = []
    for _ in range(count):
        head = float(trajectory.fraction.mean()) * size
        mask, colours = occluder_sprite(rng, head * rng.uniform(0.25, 0.45))
        reach = 0.5 * head + 0.5 * mask.shape[0] + 2.0  # from the face centre to fully beside the head
        speed = rng.uniform(*options.occluder_speed) * size / fps  # pixels per frame
        length = max(4, min(frames, int(round(2.0 * reach / speed)) + 1))
        first = int(rng.integers(0, frames - length + 1))
        middle = first + (length - 1) // 2
        angle = rng.uniform(0.0, 2.0 * math.pi)
        direction = np.array([math.cos(angle), math.sin(angle)])
        aim = trajectory.centre[middle] + rng.normal(0.0, 0.1 * head, size=2)
        half = 0.5 * (length - 1) * speed * direction
        passes.append(OccluderPass(first, length, aim - half, aim + half, mask, colours))
    return passes

"""The One Euro filter: a causal low-pass filter whose cutoff rises with the signal's speed.

Casiez, Roussel and Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012.  Each new sample is blended with the previous output by an exponential
smoothing factor ``alpha = r / (1 + r)`` with ``r = 2 pi f_c dt`` (a first-order low-pass with cutoff
``f_c`` Hz sampled ``dt`` seconds apart).  The cutoff adapts to the speed:
``f_c = min_cutoff + beta * |v|``, where ``v`` is the signal's derivative (the difference of consecutive
raw samples over ``dt``) itself low-passed at the fixed ``d_cutoff``.  At rest the low ``min_cutoff``
removes jitter; in fast motion the cutoff rises and the lag shrinks.  The output at time t depends on the
samples up to t only (no look-ahead), so the filter works on a live stream.

``order`` > 1 cascades that many identical low-pass stages on the value (the speed estimate keeps one),
each at ``order`` times the adaptive cutoff: at low frequencies the cascade delays the signal as much
as one stage at the cutoff (``1 / (2 pi f_c)`` seconds), but it attenuates high frequencies (the jitter,
whose acceleration is mostly high-frequency) more steeply.  On the synthetic videos it removes about 10%
more jitter than ``order=1`` at the same lag (``docs/video.md``).

``lead`` in [0, 1] compensates that fraction of the low-pass delay: the output is moved ahead along the
filtered speed by ``lead`` times the delay of the stages at this sample's cutoff
(``order * (1 - alpha) / alpha`` samples), so that a head moving at a steady speed is not followed late.
It adds back some of the jitter of the speed estimate (which is itself low-passed at ``d_cutoff``).

Samples are numpy arrays of any fixed shape, filtered element by element; with ``vector_axis=-1`` the
speed is the Euclidean norm along the last axis instead (one speed per 2D point), so a point's cutoff does
not depend on how its motion splits between x and y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trans3dhead.errors import InputError

__all__ = ["OneEuroParams", "OneEuroFilter", "smoothing_factor", "checked_sample", "time_step"]


@dataclass(frozen=True)
class OneEuroParams:
    """Parameters of one :class:`OneEuroFilter`.

    min_cutoff: cutoff frequency (Hz) at zero speed: lower removes more jitter and lags slow motion more.
    beta: how fast the cutoff rises with speed (Hz per unit of speed): higher lags fast motion less.
    d_cutoff: cutoff frequency (Hz) of the speed estimate.
    order: low-pass stages on the value (1: the original filter; see the module docstring).
    lead: fraction of the stages' delay compensated along the filtered speed (0: the original filter).
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    order: int = 1
    lead: float = 0.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise InputError(f"{name} must be a positive number of Hz, got {value!r}")
        if (
            isinstance(self.beta, bool)
            or not isinstance(self.beta, int | float)
            or not 0 <= self.beta < math.inf
        ):
            raise InputError(f"beta must be a finite number >= 0, got {self.beta!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, int) or not 1 <= self.order <= 4:
            raise InputError(f"order must be an integer in [1, 4], got {self.order!r}")
        if isinstance(self.lead, bool) or not isinstance(self.lead, int | float) or not 0 <= self.lead <= 1:
            raise InputError(f"lead must be a number in [0, 1], got {self.lead!r}")


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """``alpha`` of a first-order low-pass with ``cutoff`` Hz for samples ``dt`` seconds apart."""
    r = 2.0 * math.pi * cutoff * dt
    return r / (1.0 + r)


def checked_sample(sample: np.ndarray, speed_scale: float, *, name: str) -> np.ndarray:
    """``sample`` as float64, checked (finite values, positive ``speed_scale``) for the filter ``name``."""
    x = np.asarray(sample, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"the {name} filter got a non-finite sample")
    if not speed_scale > 0:
        raise ValueError(f"speed_scale must be positive, got {speed_scale!r}")
    return x


def time_step(x: np.ndarray, first: np.ndarray, timestamp: float, previous: float) -> float:
    """Seconds since the previous sample, checking that ``x`` has the first sample's shape and that time
    moves forward."""
    if x.shape != first.shape:
        raise ValueError(f"sample shape {x.shape} differs from the first sample's {first.shape}")
    dt = float(timestamp) - previous
    if not dt > 0:
        raise ValueError(f"timestamps must increase: {timestamp} after {previous}")
    return dt


class OneEuroFilter:
    """A stateful One Euro filter for a stream of arrays of one shape.

    Args:
        params: cutoffs and beta.
        vector_axis: None filters every element with its own speed; -1 uses the norm along the last axis
            as the speed of each vector (e.g. (N, 2) points).
    """

    def __init__(self, params: OneEuroParams, *, vector_axis: int | None = None) -> None:
        if vector_axis not in (None, -1):
            raise ValueError(f"vector_axis must be None or -1, got {vector_axis!r}")
        self.params, self.vector_axis = params, vector_axis
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes unchanged."""
        self._time: float | None = None
        self._raw: np.ndarray | None = None
        self._stages: list[np.ndarray] = []
        self._speed: np.ndarray | None = None
        self._output: np.ndarray | None = None

    @property
    def value(self) -> np.ndarray | None:
        """The last output (None before the first sample)."""
        return None if self._output is None else self._output.copy()

    def __call__(self, sample: np.ndarray, timestamp: float, *, speed_scale: float = 1.0) -> np.ndarray:
        """Filter one sample taken at ``timestamp`` seconds (strictly after the previous one).

        ``speed_scale`` divides the speed before ``beta`` applies (e.g. the head's size in pixels, so that
        ``beta`` is in Hz per head size per second whatever the image resolution).
        """
        x = checked_sample(sample, speed_scale, name="One Euro")
        if not self._stages:
            self._time, self._raw = float(timestamp), x.copy()
            self._stages = [x.copy() for _ in range(self.params.order)]
            self._speed = np.zeros_like(x)
            self._output = x.copy()
            return x.copy()
        dt = time_step(x, self._raw, timestamp, self._time)
        p = self.params
        speed = (x - self._raw) / dt
        self._speed = self._speed + smoothing_factor(p.d_cutoff, dt) * (speed - self._speed)
        magnitude = np.abs(self._speed)
        if self.vector_axis is not None:
            magnitude = np.linalg.norm(self._speed, axis=-1, keepdims=True)
        cutoff = p.min_cutoff + p.beta * magnitude / speed_scale
        alpha = smoothing_factor(p.order * cutoff, dt)
        source = x
        for stage in self._stages:
            stage += alpha * (source - stage)  # in place: the stages are this filter's own arrays
            source = stage
        self._time, self._raw = float(timestamp), x.copy()
        self._output = self._stages[-1]
        if p.lead:
            delay = p.order * (1.0 - alpha) / alpha * dt  # seconds: the cascade's delay on a ramp
            self._output = self._output + p.lead * delay * self._speed
        return self._output.copy()

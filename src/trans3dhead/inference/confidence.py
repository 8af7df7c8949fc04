"""How far to trust one head: a confidence in [0, 1] and a failure flag from the model's two landmark sets.

Trans3DHead predicts the 68 landmarks twice: the landmark branch regresses them directly, and the 3DMM
branch regresses FLAME parameters whose projected landmark embedding gives them again (DAD-3DNet likewise
has a landmark head beside its FLAME head).  Both are trained on the same targets, so they agree where
the image is easy and drift apart where the network is guessing.  Their disagreement, in the units of the
benchmark's NME (``100 * mean_N ||flame - branch|| / sqrt(w * h)`` of the head box ``[x, y, w, h]``), is
mapped through a decreasing logistic::

    confidence = 1 / (1 + exp((d - midpoint) / spread))       failed = confidence < FAILURE_BELOW (0.5)

so ``failed`` is ``d > midpoint``.  :data:`DEFAULT_MAPPING` was fitted (:func:`fit_mapping`, logistic
regression) so that the confidence estimates the probability that the head's FLAME landmarks are within
:data:`SUCCESS_NME` (NME 10: a mean landmark error of 10% of the head-box side) of the truth; see
``benchmarks/confidence_calibration.py`` and ``docs/inference.md`` for the data, the command and how well
it ranks heads.  The fit is the shipped demo model's: a better model disagrees less and so is more
confident, which is the right direction, but its probabilities are not calibrated by this fit.

A model without a landmark branch (Trans3DHead's only-3DMM, ``model.multitask=false``) reports its FLAME
landmarks as its landmarks: there is no second opinion, and confidence and failed are None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ConfidenceMapping",
    "DEFAULT_MAPPING",
    "FAILURE_BELOW",
    "SUCCESS_NME",
    "fit_mapping",
    "head_confidence",
    "landmark_disagreement",
]

#: A head whose confidence is below this is flagged ``failed`` (more likely wrong than right).
FAILURE_BELOW = 0.5
#: The landmark error (NME of the head box, x100) up to which a head counts as a success in the fit.
SUCCESS_NME = 10.0


@dataclass(frozen=True)
class ConfidenceMapping:
    """The decreasing logistic from disagreement (NME units) to confidence.

    Args:
        midpoint: the disagreement at confidence 0.5 (the failure threshold).
        spread: how fast the confidence falls around it (> 0; confidence 0.27 at ``midpoint + spread``).
    """

    midpoint: float
    spread: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.midpoint) and np.isfinite(self.spread) and self.spread > 0):
            raise ValueError(
                f"midpoint must be finite and spread positive, got {self.midpoint!r}, {self.spread!r}"
            )

    def __call__(self, disagreement: float | np.ndarray) -> float | np.ndarray:
        """Confidence in [0, 1] of a disagreement (any shape); NaN (non-finite landmarks) gives 0."""
        z = np.clip((np.asarray(disagreement, np.float64) - self.midpoint) / self.spread, -500.0, 500.0)
        confidence = np.where(np.isnan(z), 0.0, 1.0 / (1.0 + np.exp(np.nan_to_num(z))))
        return float(confidence) if confidence.ndim == 0 else confidence


#: Fitted on 400 synthetic validation heads (``synth --val 400 --size 128 --seed 3``) with the shipped
#: demo checkpoint: see ``benchmarks/confidence_calibration.py``.
DEFAULT_MAPPING = ConfidenceMapping(midpoint=7.5, spread=1.63)


def landmark_disagreement(flame: np.ndarray, branch: np.ndarray, box: Sequence[float]) -> float:
    """``100 * mean_N ||flame - branch|| / sqrt(w * h)``: landmarks (N, 2) in image pixels, box [x, y, w, h].

    The same normalisation as the benchmark's NME, so it reads as "how far apart, in NME".  NaN when a
    landmark is not finite.
    """
    flame, branch = np.asarray(flame, np.float64), np.asarray(branch, np.float64)
    if flame.ndim != 2 or flame.shape[1] != 2 or flame.shape != branch.shape:
        raise ValueError(f"landmarks must both have shape (N, 2), got {flame.shape} and {branch.shape}")
    width, height = float(box[2]), float(box[3])
    if not (width > 0 and height > 0):
        raise ValueError(f"box must have a positive width and height, got {list(box)}")
    return float(100.0 * np.linalg.norm(flame - branch, axis=1).mean() / np.sqrt(width * height))


def head_confidence(
    flame: np.ndarray,
    branch: np.ndarray | None,
    box: Sequence[float],
    *,
    mapping: ConfidenceMapping = DEFAULT_MAPPING,
) -> tuple[float | None, bool | None]:
    """(confidence, failed) of one head from its FLAME and branch landmarks (N, 2) in image pixels;
    ``(None, None)`` without a branch (``branch=None``)."""
    if branch is None:
        return None, None
    confidence = mapping(landmark_disagreement(flame, branch, box))
    return confidence, bool(confidence < FAILURE_BELOW)


def fit_mapping(
    disagreements: np.ndarray, errors: np.ndarray, *, success_nme: float = SUCCESS_NME, iterations: int = 50
) -> ConfidenceMapping:
    """Logistic regression of ``errors <= success_nme`` on the disagreement (Newton's method).

    Args:
        disagreements: (M,) :func:`landmark_disagreement` of M heads.
        errors: (M,) their actual NME (same units).
        success_nme: the error that still counts as a success.

    Raises ValueError when the data cannot give a decreasing mapping (all successes, all failures, or
    failures that do not come with larger disagreements).
    """
    d, y = np.asarray(disagreements, np.float64), np.asarray(errors, np.float64) <= success_nme
    if d.shape != y.shape or d.ndim != 1 or not np.isfinite(d).all():
        raise ValueError("disagreements and errors must be finite arrays of the same length (M,)")
    if y.all() or not y.any():
        raise ValueError(f"need both successes and failures (error <= {success_nme}) to fit the mapping")
    scale = d.std() or 1.0
    x = np.stack([np.ones_like(d), (d - d.mean()) / scale], axis=1)  # standardised for the Newton steps
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(np.clip(-x @ w, -500.0, 500.0)))
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        w = w + np.linalg.solve(hessian, x.T @ (y - p))
    slope = w[1] / scale  # P(success) = sigmoid(w0 + slope * (d - mean))
    if not slope < 0:
        raise ValueError("failures do not come with larger disagreements: no decreasing mapping fits")
    return ConfidenceMapping(midpoint=float(d.mean() - w[0] / slope), spread=float(-1.0 / slope))

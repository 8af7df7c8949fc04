"""Landmark readout: multi-layer additive residual regression (MARR, paper section 3.3, Eq. 4-5).

Letters: L decoder layers, B batch, N landmarks (68), C channels (= d_model), M training samples.

With MARR, decoder layer l predicts a residual ``res_l`` (B, N, 2) and its landmarks are
``P_l = F_a + sum_{i <= l} res_i`` (Eq. 5; ``P_L`` is the final prediction), where ``F_a`` (N, 2) is the
mean of the training set's normalised GT landmarks (Eq. 4).  The variants of Table 4:

* ``"fixed"`` (the paper's final model): ``F_a`` is a registered buffer, so it is saved in checkpoints
  but never trained; set it from the training set with :meth:`LandmarkHead.set_mean_face` before
  training (see :func:`mean_face_from_landmarks`).
* ``"learned_mean"`` ("+averinit"): ``F_a`` is a parameter, initialised from the mean face.
* ``"learned_random"`` ("+randinit"): ``F_a`` is a parameter initialised uniformly in [0, 1]^2.
* ``"off"`` (the baseline of Table 3): every layer regresses its landmarks directly,
  ``P_l = sigmoid(head_l(h_l))``, in [0, 1] of the crop.

Each layer has its own 3-layer MLP head (DETR's box-FFN shape).  The last linear layer of every head
starts near zero (weights N(0, 1e-3), zero bias) so that at initialisation the MARR output is the mean
face (and the direct regression the crop centre) while every parameter still receives gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from trans3dhead.frames import MARR_MODES, MEAN_FACE_MODES

__all__ = ["MarrMode", "MARR_MODES", "MEAN_FACE_MODES", "LandmarkHead", "mean_face_from_landmarks"]

#: One of :data:`MARR_MODES` (:mod:`trans3dhead.frames`); :data:`MEAN_FACE_MODES` are the modes whose
#: ``F_a`` starts from the training set's mean face (:meth:`LandmarkHead.set_mean_face`).
MarrMode = str
_LAST_LAYER_STD = 1e-3


def _check_mean_face(mean_face: Tensor, num_landmarks: int, name: str = "mean_face") -> None:
    if not isinstance(mean_face, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mean_face).__name__}")
    if tuple(mean_face.shape) != (num_landmarks, 2):
        raise ValueError(f"{name} must have shape ({num_landmarks}, 2), got {tuple(mean_face.shape)}")
    if not torch.isfinite(mean_face).all():
        raise ValueError(f"{name} must be finite, got non-finite values")


def _mlp(channels: int) -> nn.Sequential:
    """C -> C -> C -> 2 with ReLUs; the last layer starts near zero."""
    mlp = nn.Sequential(
        nn.Linear(channels, channels),
        nn.ReLU(),
        nn.Linear(channels, channels),
        nn.ReLU(),
        nn.Linear(channels, 2),
    )
    nn.init.normal_(mlp[-1].weight, std=_LAST_LAYER_STD)
    nn.init.zeros_(mlp[-1].bias)
    return mlp


class LandmarkHead(nn.Module):
    """Per-layer landmark predictions of the landmark branch, with or without MARR.

    Args:
        num_layers: L, the decoder layers (one head each).
        channels: C.
        num_landmarks: N.
        mode: one of :data:`MARR_MODES`.
        mean_face: (N, 2) initial ``F_a`` for "fixed" / "learned_mean" (default: all 0.5, the crop
            centre); call :meth:`set_mean_face` with the training-set mean before training.
    """

    def __init__(
        self,
        *,
        num_layers: int,
        channels: int,
        num_landmarks: int,
        mode: MarrMode = "fixed",
        mean_face: Tensor | None = None,
    ) -> None:
        super().__init__()
        if mode not in MARR_MODES:
            raise ValueError(f"mode must be one of {MARR_MODES}, got mode={mode!r}")
        if num_layers < 1 or channels < 1 or num_landmarks < 1:
            raise ValueError(
                f"num_layers, channels and num_landmarks must be >= 1, got {num_layers}, {channels}, "
                f"{num_landmarks}"
            )
        self.mode = mode
        self.num_landmarks = num_landmarks
        self.heads = nn.ModuleList(_mlp(channels) for _ in range(num_layers))
        if mean_face is None:
            mean_face = torch.full((num_landmarks, 2), 0.5)
        _check_mean_face(mean_face, num_landmarks)
        initial = mean_face.detach().to(torch.float32).clone()
        if mode == "fixed":
            self.register_buffer("mean_face", initial)
        elif mode == "learned_mean":
            self.mean_face = nn.Parameter(initial)
        elif mode == "learned_random":
            self.mean_face = nn.Parameter(torch.rand(num_landmarks, 2))
        else:
            self.mean_face = None

    @torch.no_grad()
    def set_mean_face(self, mean_face: Tensor) -> None:
        """Set ``F_a`` (N, 2) (normalised crop coordinates): for the "fixed" and "learned_mean" modes."""
        if self.mode not in MEAN_FACE_MODES:
            raise ValueError(
                f"set_mean_face needs MARR mode 'fixed' or 'learned_mean', this head has {self.mode!r}"
            )
        _check_mean_face(mean_face, self.num_landmarks)
        self.mean_face.copy_(mean_face)

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden (L, B, N, C) decoder outputs -> landmarks (L, B, N, 2) of every layer."""
        if hidden.ndim != 4 or hidden.shape[0] != len(self.heads) or hidden.shape[2] != self.num_landmarks:
            raise ValueError(
                f"hidden must have shape ({len(self.heads)}, B, {self.num_landmarks}, C), "
                f"got {tuple(hidden.shape)}"
            )
        per_layer = torch.stack([head(h) for head, h in zip(self.heads, hidden, strict=True)])  # (L, B, N, 2)
        if self.mean_face is None:
            return per_layer.sigmoid()
        return self.mean_face + per_layer.cumsum(dim=0)  # Eq. 5 at every depth: F_a + sum_{i<=l} res_i


def mean_face_from_landmarks(landmarks: Tensor, presence: Tensor | None = None) -> Tensor:
    """Eq. 4: the mean face (N, 2) of training landmarks (M, N, 2) (normalised crop coordinates).

    With ``presence`` (M, N) bool, each landmark is averaged over the samples where it is present (inside
    the crop); a landmark present in no sample is an error.  Without it, the plain mean over samples.
    """
    if landmarks.ndim != 3 or landmarks.shape[-1] != 2 or landmarks.shape[0] < 1:
        raise ValueError(f"landmarks must have shape (M >= 1, N, 2), got {tuple(landmarks.shape)}")
    if not torch.isfinite(landmarks).all():
        raise ValueError("landmarks must be finite")
    if presence is None:
        return landmarks.mean(dim=0)
    if tuple(presence.shape) != tuple(landmarks.shape[:2]):
        raise ValueError(
            f"presence must have shape {tuple(landmarks.shape[:2])}, got {tuple(presence.shape)}"
        )
    weight = presence.to(landmarks.dtype)  # (M, N)
    count = weight.sum(dim=0)  # (N,)
    if (count == 0).any():
        missing = torch.nonzero(count == 0).flatten().tolist()
        raise ValueError(f"landmarks {missing} are present in no sample; their mean is undefined")
    return (landmarks * weight[..., None]).sum(dim=0) / count[:, None]

"""Landmark regression loss: SmoothL1 masked by GT presence.

See ``docs/conventions.md`` section 9 and the Trans3DHead paper, section 3.4.

Letters: L decoder layers, B batch, N landmarks.

Definition, per layer l::

    loss_l = sum_{b,n} p_bn sum_{c in (x, y)} smoothl1_beta(P^l_{b,n,c} - G_{b,n,c}) / (2 sum_{b,n} p_bn)

i.e. the mean SmoothL1 over the coordinates of the present points of the whole batch (0 when no point
is present).  Several layers (deep supervision) are **averaged**, so the loss keeps its scale, and its
weight its meaning, whatever the number of decoder layers.  The mask multiplies, so a NaN anywhere in
the predictions or targets -- even at an absent point -- makes the loss NaN instead of being hidden.
(The DAD-3DHeads reference zeroes absent points and divides by all B * N * 2 coordinates; with every
point present the two agree.)
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

__all__ = ["landmark_loss"]


def landmark_loss(predicted: Tensor, target: Tensor, presence: Tensor, *, beta: float = 1.0) -> Tensor:
    """SmoothL1 over present landmarks, averaged over layers.

    Args:
        predicted: (B, N, 2) or (L, B, N, 2) normalised landmarks.
        target: (B, N, 2) normalised GT landmarks.
        presence: (B, N), bool or 0/1, True where the GT landmark is inside the crop.
        beta: SmoothL1's switch point (1.0 = PyTorch's default, as in the reference).

    Returns:
        A scalar tensor.
    """
    if target.ndim != 3 or target.shape[-1] != 2:
        raise ValueError(f"target must have shape (B, N, 2), got {tuple(target.shape)}")
    if tuple(presence.shape) != tuple(target.shape[:2]):
        raise ValueError(f"presence must have shape {tuple(target.shape[:2])}, got {tuple(presence.shape)}")
    layers = predicted[None] if predicted.ndim == 3 else predicted  # (L, B, N, 2)
    if layers.ndim != 4 or tuple(layers.shape[1:]) != tuple(target.shape):
        raise ValueError(
            f"predicted must have shape {tuple(target.shape)} or (L, *{tuple(target.shape)}), "
            f"got {tuple(predicted.shape)}"
        )
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got beta={beta}")
    mask = presence.to(layers.dtype)  # (B, N)
    per_coord = F.smooth_l1_loss(layers, target.expand_as(layers), reduction="none", beta=beta)
    per_layer = (per_coord.sum(-1) * mask).sum(dim=(1, 2))  # (L,): masked sum over B, N, coordinates
    count = 2.0 * mask.sum().clamp_min(1.0)
    return per_layer.mean() / count

"""The initial prediction of the 3DMM regressors: FLAME's mean head, frontal, filling the crop.

Trans3DHead's 3DMM branch starts here (its readout offset), and so does DAD-3DNet's pose head with
``pose_init="frontal_mean"``.  Starting from a zero vector instead gives ``scale + 1 = 1``: a 0.2 m FLAME
head 25 px wide, and the reprojection loss (in pixels) dominates the first epochs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trans3dhead.flame.layer import FlameLayer
from trans3dhead.frames import FRONTAL_ROTATION
from trans3dhead.geometry.rotation import matrix_to_rotation_6d

__all__ = ["FRONTAL_ROTATION", "initial_params"]



@torch.no_grad()
def initial_params(flame: FlameLayer, *, fill: float = 0.8) -> Tensor:
    """A plausible parameter vector (K,): FLAME's mean head, frontal, centred, filling ``fill`` of the crop.

    The extent is measured on the "head" vertex subset (all vertices when the assets have none).
    """
    if not 0.0 < fill <= 1.0:
        raise ValueError(f"fill must be in (0, 1], got fill={fill}")
    layout = flame.layout
    params = flame.v_template.new_zeros(1, layout.total)
    rotation = torch.tensor(FRONTAL_ROTATION, dtype=params.dtype, device=params.device)
    params[:, layout.slices["rotation"]] = matrix_to_rotation_6d(rotation)
    posed = flame(params).posed_vertices[0]  # (V, 3) at scale factor 1, no translation
    if "head" in flame.subset_names:
        posed = posed[flame.subset("head")]
    low, high = posed[:, :2].min(dim=0).values, posed[:, :2].max(dim=0).values  # (2,), (2,)
    factor = 2.0 * fill / (high - low).max()  # crop coordinates span [-1, 1]
    params[0, layout.slices["scale"]] = factor - 1.0  # FLAME uses scale + 1
    translation = params.new_zeros(3)
    translation[:2] = -factor * (low + high) / 2  # centre of the box -> centre of the crop
    params[0, layout.slices["translation"]] = translation
    return params[0]

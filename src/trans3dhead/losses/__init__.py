"""Training losses: one criterion returning named, unweighted losses and the weighted total."""

from trans3dhead.losses.criterion import (
    DAD3DNET_WEIGHTS,
    LOSS_NAMES,
    REPROJECTION_SUBSETS,
    SHAPE3D_SUBSETS,
    TRANS3DHEAD_WEIGHTS,
    HeadCriterion,
)
from trans3dhead.losses.euler import euler_loss
from trans3dhead.losses.geodesic import geodesic_loss
from trans3dhead.losses.heatmap import gaussian_heatmaps, soft_iou_loss
from trans3dhead.losses.landmarks import landmark_loss
from trans3dhead.losses.reprojection import reprojection_loss
from trans3dhead.losses.shape3d import normalize_to_unit_cube, shape3d_loss

__all__ = [
    "DAD3DNET_WEIGHTS",
    "LOSS_NAMES",
    "REPROJECTION_SUBSETS",
    "SHAPE3D_SUBSETS",
    "TRANS3DHEAD_WEIGHTS",
    "HeadCriterion",
    "euler_loss",
    "geodesic_loss",
    "gaussian_heatmaps",
    "landmark_loss",
    "normalize_to_unit_cube",
    "reprojection_loss",
    "shape3d_loss",
    "soft_iou_loss",
]

"""The project's conventions, written once: frames, the GT rotation, the mesh offset and the mode names.

This module sits at the bottom of the package (it imports nothing of trans3dhead, only numpy); every
other module imports these facts from here.  See ``docs/conventions.md`` (sections 1 and 5) for the frames.

Frames.  FLAME's model frame and the OpenGL camera of DAD-3DHeads are y up, z towards the viewer; the
image-aligned frame of this project (and of the benchmark's rotation) is x right, y down, z away from the
viewer.  One matrix, :data:`FLIP_YZ` ``= diag(1, -1, -1)``, maps one to the other (it is its own inverse):

* the DAD-3DHeads GT rotation is ``(diag(1, -1, -1, 1) @ MV)[:3, :3] = FLIP_YZ @ MV[:3, :3]``
  (:func:`trans3dhead.geometry.gt_rotation`);
* a frontal face (FLAME's y-up frame seen by the y-down image camera) has rotation
  :data:`FRONTAL_ROTATION` ``= FLIP_YZ``;
* OpenGL camera-frame points ``p`` are ``p * FLIP_YZ_SIGNS`` in the image frame.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FLIP_YZ_SIGNS",
    "FLIP_YZ",
    "FRONTAL_ROTATION",
    "MESH_OFFSET_Z",
    "gt_rotation_from_model_view",
    "ARCHS",
    "BRANCH_MODES",
    "MARR_MODES",
    "MEAN_FACE_MODES",
    "POSE_INITS",
    "READOUTS",
    "FUSION_MODES",
    "CROP_STYLES",
    "LANDMARK_SOURCES",
    "PREDICTION_LANDMARK_SOURCES",
    "heads_split_width",
]

# ----------------------------------------------------------------------------------------------- frames

#: The diagonal of the flip between the OpenGL / FLAME frame (y up, z to the viewer) and the image frame.
FLIP_YZ_SIGNS: tuple[float, float, float] = (1.0, -1.0, -1.0)
#: ``diag(1, -1, -1)`` (3, 3) float64, read-only: the OpenGL camera frame <-> the image-aligned frame.
FLIP_YZ: np.ndarray = np.diag(FLIP_YZ_SIGNS)
FLIP_YZ.setflags(write=False)
#: Rotation of a frontal face: FLAME's y-up frame seen from an image-y-down camera (``FLIP_YZ``).
FRONTAL_ROTATION: tuple[tuple[float, ...], ...] = tuple(tuple(float(v) for v in row) for row in FLIP_YZ)



def gt_rotation_from_model_view(model_view: np.ndarray) -> np.ndarray:
    """The DAD-3DHeads GT rotation ``(diag(1, -1, -1, 1) @ MV)[:3, :3]``: (..., 4, 4) -> (..., 3, 3).

    The numpy twin of :func:`trans3dhead.geometry.gt_rotation` (which takes tensors).
    """
    return FLIP_YZ @ np.asarray(model_view)[..., :3, :3]


#: Shift along z (metres) applied to the FLAME mesh before the global rotation ("to the skull centre").
MESH_OFFSET_Z = 0.05

# ------------------------------------------------------------------------------------------ mode names
# Shared by the config's allowed values (:mod:`trans3dhead.config`) and the models that take them.

#: ``model.arch``: the two networks.
ARCHS: tuple[str, ...] = ("trans3dhead", "dad3dnet")
#: ``model.qamem`` / ``model.mqinit``: which decoder branches use the feature (Trans3DHead).
BRANCH_MODES: tuple[str, ...] = ("off", "landmarks", "both")
#: ``model.marr``: MARR's mean face ``F_a`` (see :mod:`trans3dhead.models.marr`).
MARR_MODES: tuple[str, ...] = ("fixed", "learned_mean", "learned_random", "off")
#: The MARR modes whose ``F_a`` starts from (or is) the training set's mean face.
MEAN_FACE_MODES: tuple[str, ...] = ("fixed", "learned_mean")
#: ``model.pose_init`` (DAD-3DNet): "reference": PyTorch's default init of the pose head, as the
#: reference code; "frontal_mean": the pose head starts at the frontal mean head filling the crop.
POSE_INITS: tuple[str, ...] = ("reference", "frontal_mean")
#: ``model.readout``: how Trans3DHead's 3DMM branch reads one value out of each query.
READOUTS: tuple[str, ...] = ("shared", "per_query")
#: ``model.bifpn_fusion``: BiFPN weight normalisation ("reference" for the released DAD-3DNet weights).
FUSION_MODES: tuple[str, ...] = ("stable", "reference")
#: ``model.crop``: "centred": warp with centred fractional padding; "reference": the DAD-3DNet
#: predictor's resize + pad (see :mod:`trans3dhead.geometry.crop`).
CROP_STYLES: tuple[str, ...] = ("centred", "reference")
#: ``model.landmarks`` and evaluation: the projected FLAME landmark embedding ("flame", the benchmark
#: default) or the landmark branch ("branch").
LANDMARK_SOURCES: tuple[str, ...] = ("flame", "branch")
#: Prediction adds the argmax of DAD-3DNet's heatmaps ("heatmap"; the reference predictor's fallback).
PREDICTION_LANDMARK_SOURCES: tuple[str, ...] = (*LANDMARK_SOURCES, "heatmap")

# --------------------------------------------------------------------------------------------- shapes


def heads_split_width(d_model: int, nhead: int, *, multiple_of: int = 1) -> bool:
    """Whether ``nhead`` attention heads split a width of ``d_model`` (both positive) evenly, and
    ``d_model`` is a multiple of ``multiple_of`` (4 for sine positions).  The one check of
    ``d_model % nhead``: the config's validation and the models' constructors all ask it."""
    return d_model >= 1 and nhead >= 1 and d_model % nhead == 0 and d_model % multiple_of == 0

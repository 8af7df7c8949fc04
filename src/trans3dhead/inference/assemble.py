"""Network output in crop coordinates -> :class:`HeadPrediction` s in original-image coordinates.

The orthographic camera of each head is mapped from its crop to the original image
(:meth:`~trans3dhead.geometry.CropTransform.ortho_params_to_image`), so the mesh, the 3D landmarks and
the dense points are all projected straight into the image with one set of parameters (conventions
section 4).  Computed in float64.  Letters: B heads, K parameters, V vertices, N landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from trans3dhead.flame.params import ParamLayout
from trans3dhead.frames import PREDICTION_LANDMARK_SOURCES
from trans3dhead.geometry import CropTransform, matrix_to_euler, ortho_camera_matrix, ortho_project_3d
from trans3dhead.geometry.camera import crop_rotation_to_camera
from trans3dhead.inference.boxes import Detection
from trans3dhead.inference.confidence import head_confidence
from trans3dhead.inference.prediction import HeadPrediction
from trans3dhead.types import HeadOutput

__all__ = ["LANDMARK_SOURCES", "HEATMAP_STRIDE", "MeshInfo", "assemble_predictions", "heatmap_argmax"]

#: Which 68 landmarks :attr:`HeadPrediction.landmarks` holds: the projected FLAME landmark embedding
#: ("flame", the benchmark default), the landmark branch ("branch"; what the DAD-3DNet reference predictor
#: draws), or the argmax of DAD-3DNet's heatmaps ("heatmap"; the reference predictor's fallback).
LANDMARK_SOURCES = PREDICTION_LANDMARK_SOURCES
#: DAD-3DNet's heatmaps are at stride 4 of the crop (the reference predictor's ``stride: 4``).
HEATMAP_STRIDE = 4


def heatmap_argmax(heatmaps: torch.Tensor, stride: int = HEATMAP_STRIDE) -> torch.Tensor:
    """Heatmaps (B, N, h, w) -> (B, N, 2) crop pixels ``stride * (column, row)`` of each map's maximum,
    as the reference predictor decodes them (no sub-pixel refinement, no half-cell offset)."""
    if heatmaps.dim() != 4:
        raise ValueError(f"heatmaps must have shape (B, N, h, w), got {tuple(heatmaps.shape)}")
    batch, count, _, width = heatmaps.shape
    flat = heatmaps.reshape(batch, count, -1).argmax(dim=-1)  # (B, N) row-major index
    columns, rows = flat % width, torch.div(flat, width, rounding_mode="floor")
    return torch.stack((columns, rows), dim=-1).to(torch.float64) * float(stride)


@dataclass(frozen=True)
class MeshInfo:
    """What the predictions need besides the network output: the FLAME layer's faces (F, 3), layout and
    dense subsets, the head subset (vertex indices of the DAD-3DHeads head box; None: all vertices) for
    video tracking, and whether the model has a landmark branch (without one, ``HeadOutput.landmarks``
    are the FLAME landmarks and the heads get no confidence)."""

    faces: np.ndarray
    layout: ParamLayout
    dense: dict[str, np.ndarray]
    head: np.ndarray | None = None
    landmark_branch: bool = True

    @classmethod
    def from_flame(cls, flame: torch.nn.Module, *, landmark_branch: bool = True) -> MeshInfo:
        dense = {
            name.removeprefix("dense_"): flame.subset(name).cpu().numpy()
            for name in flame.subset_names
            if name.startswith("dense_")
        }
        head = flame.subset("head").cpu().numpy() if "head" in flame.subset_names else None
        faces = flame.faces.cpu().numpy().astype(np.int64)
        return cls(faces=faces, layout=flame.layout, dense=dense, head=head, landmark_branch=landmark_branch)


def _chosen(source: str, flame_2d: np.ndarray, branch: np.ndarray, output: HeadOutput, i: int, crop):
    """The (N, 2) image-pixel landmarks of ``source``."""
    if source == "flame":
        return flame_2d
    if source == "branch":
        return branch
    if output.heatmaps is None:
        raise ValueError(
            "landmark source 'heatmap' needs the model's heatmaps: only DAD-3DNet has them, and only the "
            "torch backend returns them (the ONNX export does not)"
        )
    return crop.points_to_image(heatmap_argmax(output.heatmaps[i : i + 1].detach().cpu())[0].numpy())


def _one(
    output: HeadOutput,
    i: int,
    crop: CropTransform,
    detection: Detection,
    mesh: MeshInfo,
    source: str,
    camera_focal: float | None,
) -> HeadPrediction:
    f64 = torch.float64
    params = output.params[i].detach().cpu().to(f64)  # (K,)
    parts = mesh.layout.split(params[None])
    scale, translation = crop.ortho_params_to_image(parts.scale[0], parts.translation[0])  # (1,), (3,)
    size = crop.size
    rotation = output.flame.rotation[i].detach().cpu().to(f64)  # (3, 3)
    posed = output.flame.posed_vertices[i].detach().cpu().to(f64)  # (V, 3)
    vertices = ortho_project_3d(posed, scale, translation, image_size=size).numpy()  # (V, 3) image frame
    lmk3d = output.flame.landmarks_3d[i].detach().cpu().to(f64)
    landmarks_3d = ortho_project_3d(lmk3d, scale, translation, image_size=size).numpy()  # (N, 3)
    branch = crop.landmarks_to_image(output.landmarks[i].detach().cpu().to(f64).numpy())  # (N, 2)
    pose = rotation if camera_focal is None else torch.from_numpy(
        crop_rotation_to_camera(rotation.numpy(), crop.box, crop.image_hw, camera_focal)
    )
    confidence, failed = head_confidence(
        landmarks_3d[:, :2], branch if mesh.landmark_branch else None, detection.box
    )
    return HeadPrediction(
        box=np.asarray(detection.box, np.float64),
        score=detection.score,
        detector=detection.source,
        crop_box=np.asarray(crop.box, np.float64),
        image_size=crop.image_hw,
        input_size=size,
        landmarks=_chosen(source, landmarks_3d[:, :2].copy(), branch, output, i, crop),
        landmarks_3d=landmarks_3d,
        branch_landmarks=branch,
        dense_landmarks={name: vertices[idx, :2] for name, idx in mesh.dense.items()},
        vertices=vertices,
        faces=mesh.faces,
        rotation=pose.numpy(),
        euler=matrix_to_euler(pose).numpy(),
        scale=float(scale[0]),
        translation=translation.numpy(),
        camera=ortho_camera_matrix(rotation, scale, translation, image_size=size).numpy(),
        params=params.numpy(),
        layout=mesh.layout,
        confidence=confidence,
        failed=failed,
    )


def assemble_predictions(
    output: HeadOutput,
    *,
    crops: Sequence[CropTransform],
    detections: Sequence[Detection],
    mesh: MeshInfo,
    landmark_source: str = "flame",
    camera_focal: float | None = None,
) -> list[HeadPrediction]:
    """One :class:`HeadPrediction` per row of ``output`` (B heads), given each head's crop and box.
    ``camera_focal``: see ``model.camera_focal`` (None: the rotation as predicted)."""
    if landmark_source not in LANDMARK_SOURCES:
        raise ValueError(f"landmark_source must be one of {LANDMARK_SOURCES}, got {landmark_source!r}")
    batch = output.params.shape[0]
    if len(crops) != batch or len(detections) != batch:
        raise ValueError(f"got {batch} outputs but {len(crops)} crops and {len(detections)} detections")
    return [
        _one(output, i, crops[i], detections[i], mesh, landmark_source, camera_focal) for i in range(batch)
    ]

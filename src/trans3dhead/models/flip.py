"""Horizontal-flip test-time averaging: every crop is seen twice, as it is and mirrored left to right.

A head seen in a mirror is another plausible head, so the network's prediction for the mirrored crop,
mapped back through the mirror, is a second estimate of the same head.  The two are averaged in
parameter space and the FLAME layer is run once more on the average, so the mesh, its landmarks, its
projection and the rotation of the output stay one consistent prediction:

* rotation ``R = F R' F`` with ``F = diag(-1, 1, 1)`` (x is the image's and FLAME's left-right axis); the
  two rotations are averaged by projecting their sum onto SO(3) (chordal L2 mean);
* translation ``t_x = -t'_x - 2 / S``: crop pixel ``x`` shows what the mirrored crop shows at
  ``S - 1 - x`` (pixel centres at integers, :mod:`trans3dhead.geometry.crop`), and the projection maps
  ``v`` to ``(v + 1) S / 2`` (:func:`~trans3dhead.geometry.camera.ortho_project`); ``t_y``, ``t_z`` and
  the scale are kept;
* shape and expression coefficients through the linear map ``X`` with ``A X = A'``, where ``A`` is the
  layer's blendshape basis and ``A'`` the same basis mirrored (each vertex's offset taken from its mirror
  vertex, x negated); for a basis closed under the mirror this is exact, otherwise the least-squares
  nearest (:attr:`FlipMirror.basis_residual` says how far);
* jaw axis-angle ``(w_x, -w_y, -w_z)`` (an axial vector under a reflection in x);
* the landmark branch's normalised landmarks ``u = (S - 1) / S - u'``, every decoder layer's, with the
  68 points renumbered by their mirror partners (left eye <-> right eye...).

Heatmaps (DAD-3DNet) are the unmirrored view's.  The mirror partners of vertices and landmarks come from
the model's template: it must be left-right symmetric (the embedded head model's is exactly; a model whose
template is not is refused by :meth:`FlipMirror.from_flame`).

Letters: B batch, K parameters, V vertices, N landmarks, L decoder layers, S crop side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor, nn

from trans3dhead.errors import InputError
from trans3dhead.geometry.rotation import matrix_to_rotation_6d, rotation_6d_to_matrix
from trans3dhead.types import HeadOutput

__all__ = [
    "MIRROR_SIGNS",
    "FlipAverage",
    "FlipBackend",
    "FlipMirror",
    "average_with_mirrored",
    "project_to_rotation",
    "with_mirrored",
]

logger = logging.getLogger(__name__)

#: The reflection between a view and its mirror image, in the camera and in FLAME's frame alike.
MIRROR_SIGNS: tuple[float, float, float] = (-1.0, 1.0, 1.0)

#: A template vertex farther than this (relative to the template's bounding-box diagonal) from the
#: mirror image of its partner means the model is not left-right symmetric.  The 68 landmarks are
#: barycentric points of faces, which a symmetric mesh need not mirror exactly: they get a looser bound.
VERTEX_TOLERANCE = 1e-3
LANDMARK_TOLERANCE = 1e-2

#: A blendshape basis whose mirror lies farther than this (relative norm) outside its span is reported.
BASIS_WARNING = 0.05


def _mirror_partners(points: np.ndarray, what: str, tolerance: float, source: str) -> np.ndarray:
    """(P, 3) points of a symmetric set -> (P,) index of each point's mirror partner (an involution)."""
    bound = tolerance * (float(np.linalg.norm(points.max(0) - points.min(0))) or 1.0)
    distance, partner = cKDTree(points).query(points * np.asarray(MIRROR_SIGNS))
    worst = int(np.argmax(distance))
    if distance[worst] > bound:
        raise InputError(
            f"{source}: flip averaging and data.flip need a left-right symmetric head model, but {what} "
            f"{worst} is {distance[worst]:.3g} (model units) from the mirror image of its nearest partner "
            f"(tolerance {bound:.3g}); run without them"
        )
    unpaired = np.flatnonzero(partner[partner] != np.arange(len(points)))
    if unpaired.size:
        raise InputError(
            f"{source}: flip averaging and data.flip need mirror partners, but {what} {int(unpaired[0])}'s "
            f"nearest mirror point is {what} {int(partner[unpaired[0]])}, whose own is "
            f"{int(partner[partner[unpaired[0]]])}"
        )
    return partner


@dataclass(frozen=True)
class FlipMirror:
    """How a prediction for the mirrored crop maps back to the crop, for one FLAME layer.

    vertex_perm: (V,) each vertex's mirror partner; landmark_perm: (N,) each landmark's partner.
    coefficient_map: (S + E, S + E) ``X``: coefficients ``c'`` of the mirrored view give ``X c'``.
    basis_residual: ``|A X - A'| / |A'|`` (0 for a basis closed under the mirror).
    """

    vertex_perm: Tensor
    landmark_perm: Tensor
    coefficient_map: Tensor
    basis_residual: float
    image_size: int

    @classmethod
    def from_flame(cls, flame: nn.Module, *, source: str = "FLAME model") -> FlipMirror:
        """The mirror of ``flame`` (a :class:`~trans3dhead.flame.layer.FlameLayer`); ``source`` names
        the model in errors.  Raises :class:`InputError` when the template is not left-right symmetric."""
        template = flame.v_template.detach().double().cpu().numpy()  # (V, 3)
        vertex_perm = _mirror_partners(template, "vertex", VERTEX_TOLERANCE, source)
        landmarks = flame.landmarks(torch.from_numpy(template)[None].to(flame.landmark_bary))[0]
        landmark_perm = _mirror_partners(
            landmarks.detach().double().cpu().numpy(), "landmark", LANDMARK_TOLERANCE, source
        )
        basis = flame.shapedirs.detach().double().cpu().numpy()  # (K, V * 3)
        mapping, residual = _coefficient_map(basis, vertex_perm)
        if residual > BASIS_WARNING:
            logger.warning(
                "%s: the mirrored blendshape basis lies %.1f%% outside its span; flip averaging maps "
                "shape and expression to the nearest coefficients",
                source,
                100 * residual,
            )
        return cls(
            vertex_perm=torch.from_numpy(vertex_perm),
            landmark_perm=torch.from_numpy(landmark_perm),
            coefficient_map=torch.from_numpy(mapping).float(),
            basis_residual=residual,
            image_size=int(flame.image_size),
        )

    def unmirror_params(self, params: Tensor, layout) -> Tensor:
        """(B, K) parameters predicted for mirrored crops -> the same heads' parameters in the crops."""
        p = layout.split(params)
        signs = params.new_tensor(MIRROR_SIGNS)
        coefficients = torch.cat((p.shape, p.expression), dim=1) @ self.coefficient_map.to(params).T
        rotation = self.mirror_rotation(rotation_6d_to_matrix(p.rotation))
        translation = torch.cat(
            (-p.translation[:, :1] - 2.0 / self.image_size, p.translation[:, 1:]), dim=1
        )
        jaw = p.jaw * -signs if layout.jaw else p.jaw  # axial vector: (w_x, -w_y, -w_z)
        out = torch.cat(
            (coefficients, jaw, matrix_to_rotation_6d(rotation), translation, p.scale), dim=1
        )
        return out  # same layout: shape, expression, jaw, rotation, translation, scale

    def unmirror_landmarks(self, landmarks: Tensor) -> Tensor:
        """(..., N, 2) normalised crop landmarks of mirrored crops -> the crops' (partners renumbered).
        Like every map here it is its own inverse: it also turns the crops' landmarks into the mirror's."""
        x = (self.image_size - 1.0) / self.image_size - landmarks[..., 0]
        return torch.stack((x, landmarks[..., 1]), dim=-1)[..., self.landmark_perm.to(landmarks.device), :]

    def mirror_rotation(self, rotation: Tensor) -> Tensor:
        """(..., 3, 3) rotation of a head -> that of its mirror image, ``F R F``."""
        flip = torch.diag(rotation.new_tensor(MIRROR_SIGNS))
        return flip @ rotation @ flip

    def mirror_vertices(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) vertices -> the mirror image's: x negated, each vertex in its partner's place."""
        return vertices[:, self.vertex_perm.to(vertices.device)] * vertices.new_tensor(MIRROR_SIGNS)

    def mirror_pixels(self, points: Tensor) -> Tensor:
        """(B, V, 2) every vertex's crop pixel -> the mirrored crop's (``x -> S - 1 - x``, partners)."""
        moved = points[:, self.vertex_perm.to(points.device)]
        return torch.stack((self.image_size - 1.0 - moved[..., 0], moved[..., 1]), dim=-1)


def _coefficient_map(basis: np.ndarray, vertex_perm: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares ``X`` (K, K) with ``A X = A'`` for the basis ``A`` ((K, V * 3) rows here) and its
    mirror ``A'``, and the relative residual."""
    if basis.shape[0] == 0:
        return np.zeros((0, 0)), 0.0
    per_vertex = basis.reshape(basis.shape[0], -1, 3)  # (K, V, 3)
    mirrored = (per_vertex[:, vertex_perm] * np.asarray(MIRROR_SIGNS)).reshape(basis.shape[0], -1)
    solution, *_ = np.linalg.lstsq(basis.T, mirrored.T, rcond=None)  # (K, K): A (V*3, K) @ X = A'
    residual = np.linalg.norm(basis.T @ solution - mirrored.T) / max(np.linalg.norm(mirrored), 1e-300)
    return solution, float(residual)


def project_to_rotation(matrix: Tensor) -> Tensor:
    """(..., 3, 3) -> the nearest rotation (SVD, determinant +1), computed in float64."""
    u, _, vt = torch.linalg.svd(matrix.double())
    sign = torch.sign(torch.linalg.det(u @ vt))
    fix = torch.ones_like(u[..., 0])
    fix[..., -1] = torch.where(sign == 0, torch.ones_like(sign), sign)
    return (u * fix[..., None, :]) @ vt


def average_with_mirrored(output: HeadOutput, *, flame: nn.Module, mirror: FlipMirror) -> HeadOutput:
    """A model's output for ``cat([crops, crops.flip(-1)])`` (2B items) -> the averaged output (B items)."""
    batch = output.params.shape[0] // 2
    if output.params.shape[0] != 2 * batch:
        raise ValueError(
            f"expected the crops and their mirror images (an even batch), got {output.params.shape[0]}"
        )
    layout = flame.layout
    plain, mirrored = output.params[:batch], mirror.unmirror_params(output.params[batch:], layout)
    params = 0.5 * (plain + mirrored)
    rotations = rotation_6d_to_matrix(torch.stack((plain, mirrored))[..., layout.slices["rotation"]])
    mean_rotation = project_to_rotation(rotations.sum(0)).to(params.dtype)  # (B, 3, 3)
    params[:, layout.slices["rotation"]] = matrix_to_rotation_6d(mean_rotation)
    layers = output.landmark_layers  # (L, 2B, N, 2)
    mean_layers = 0.5 * (layers[:, :batch] + mirror.unmirror_landmarks(layers[:, batch:]))
    return HeadOutput(
        params=params,
        flame=flame(params),
        landmarks=mean_layers[-1],
        landmark_layers=mean_layers,
        heatmaps=None if output.heatmaps is None else output.heatmaps[:batch],
    )


class FlipAverage(nn.Module):
    """A head-alignment model that averages its prediction with that for the mirrored crop.

    Takes and returns what the wrapped ``model`` does (images (B, 3, S, S) -> :class:`HeadOutput`), at
    twice the cost: one forward pass over 2B crops.  ``mirror`` defaults to :meth:`FlipMirror.from_flame`
    of ``model.flame``.
    """

    def __init__(self, *, model: nn.Module, mirror: FlipMirror | None = None, source: str = "FLAME model"):
        super().__init__()
        self.model = model
        self.flame = model.flame
        self.mirror = mirror or FlipMirror.from_flame(model.flame, source=source)
        self.has_landmark_branch = bool(getattr(model, "has_landmark_branch", False))

    def forward(self, images: Tensor) -> HeadOutput:
        return average_with_mirrored(self.model(with_mirrored(images)), flame=self.flame, mirror=self.mirror)


def with_mirrored(crops: Tensor) -> Tensor:
    """(B, 3, S, S) -> (2B, 3, S, S): the crops, then the same crops mirrored left to right."""
    return torch.cat((crops, crops.flip(-1)), dim=0)


class FlipBackend:
    """An inference backend (:mod:`trans3dhead.inference.backend`) that averages each crop's prediction
    with that for its mirror image, over another backend (PyTorch or ONNX Runtime).  ``mirror`` defaults
    to :meth:`FlipMirror.from_flame` of ``flame`` (``source`` names the model in its errors)."""

    def __init__(
        self,
        *,
        backend: Callable[[Tensor], HeadOutput],
        flame: nn.Module,
        mirror: FlipMirror | None = None,
        source: str = "FLAME model",
    ) -> None:
        self.backend, self.flame = backend, flame
        self.mirror = mirror or FlipMirror.from_flame(flame, source=source)
        self.input_size = int(backend.input_size)
        self.name = f"{getattr(backend, 'name', 'backend')}+flip"

    @torch.inference_mode()
    def __call__(self, crops: Tensor) -> HeadOutput:
        output = self.backend(with_mirrored(crops))
        flame = self.flame.to(output.params.device)
        return average_with_mirrored(output, flame=flame, mirror=self.mirror)

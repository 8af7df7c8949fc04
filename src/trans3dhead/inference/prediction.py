"""One aligned head in original-image coordinates, and its JSON / OBJ / PLY forms.

Frames (``docs/conventions.md``): image pixels have the origin at the top-left pixel's centre, x right,
y down.  The "image frame" of the 3D outputs is the orthographic camera of the prediction mapped to the
original image: x, y in pixels and z in the same pixel units, pointing **away** from the viewer (smaller
z is nearer).  Letters: N landmarks (68), M dense points, V vertices, F faces, K parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead import jsonio
from trans3dhead.flame.params import ParamLayout
from trans3dhead.inference.mesh_io import write_obj, write_ply

__all__ = ["HeadPrediction", "EULER_ORDER"]

#: The order of :attr:`HeadPrediction.euler` (degrees, DAD-3DHeads benchmark convention).
EULER_ORDER = ("roll", "pitch", "yaw")


@dataclass(frozen=True, eq=False)
class HeadPrediction:
    """Everything predicted for one head, in original-image pixels.

    Attributes:
        box: (4,) head box ``[x, y, w, h]`` the crop was built from.
        score: the detector's confidence, None for given boxes.
        detector: what produced the box ("frontal", "profile", "boxes", "full_image", "user").
        crop_box: (4,) ``[x0, y0, x1, y1]``: the box after extension and clipping, i.e. what the network saw.
        image_size: (height, width) of the image.
        input_size: S, the side of the square network input.
        landmarks: (N, 2) the 68 landmarks (the source the aligner was set to, by default the projected
            FLAME landmark embedding).
        landmarks_3d: (N, 3) the FLAME landmarks in the image frame (their x, y are the FLAME 2D landmarks).
        branch_landmarks: (N, 2) the landmark branch's (or DAD-3DNet head's) own landmarks.
        dense_landmarks: ``{"191": (M, 2), "445": (M, 2)}`` dense landmark subsets the model has.
        vertices: (V, 3) posed mesh in the image frame, or None when read from JSON without the mesh.
        faces: (F, 3) triangle vertex indices, or None with ``vertices``.
        rotation: (3, 3) head rotation R, model frame (y up) -> image-aligned frame (y down).  With the
            checkpoint's ``model.camera_focal`` set, the camera-frame pose ``Q^T R_crop``
            (:func:`~trans3dhead.geometry.camera.crop_rotation_to_camera`); the mesh, the landmarks and
            ``camera`` keep the crop's rotation ``R_crop``, whose orthographic projection they are.
        euler: (3,) (roll, pitch, yaw) of ``rotation`` in degrees, see :data:`EULER_ORDER` and
            ``docs/conventions.md``.
        scale, translation: orthographic parameters mapped to the image: ``vertices`` equals
            ``ortho_project_3d(R_crop v, scale, translation, input_size)`` for model-frame vertices v
            (``R_crop`` is ``rotation`` unless ``model.camera_focal`` is set).
        camera: (3, 4) affine camera, ``[v, 1] @ camera.T`` = ``vertices`` for model-frame vertices v.
        params: (K,) the raw regressed parameter vector (crop frame), laid out as ``layout``.
        layout: the parameter layout (shape / expression / jaw / rotation / translation / scale slices).
        confidence: how far to trust this head, in [0, 1], from the agreement of its FLAME and branch
            landmarks (:mod:`trans3dhead.inference.confidence`); None for a model without a landmark branch.
        failed: confidence below :data:`~trans3dhead.inference.confidence.FAILURE_BELOW` (None with it).
    """

    box: np.ndarray
    score: float | None
    detector: str
    crop_box: np.ndarray
    image_size: tuple[int, int]
    input_size: int
    landmarks: np.ndarray
    landmarks_3d: np.ndarray
    branch_landmarks: np.ndarray
    dense_landmarks: dict[str, np.ndarray]
    vertices: np.ndarray | None
    faces: np.ndarray | None
    rotation: np.ndarray
    euler: np.ndarray
    scale: float
    translation: np.ndarray
    camera: np.ndarray
    params: np.ndarray
    layout: ParamLayout = field(repr=False)
    confidence: float | None = None
    failed: bool | None = None

    def _part(self, name: str) -> np.ndarray:
        return self.params[self.layout.slices[name]]

    @property
    def shape(self) -> np.ndarray:
        """(S,) FLAME shape coefficients."""
        return self._part("shape")

    @property
    def expression(self) -> np.ndarray:
        """(E,) FLAME expression coefficients."""
        return self._part("expression")

    @property
    def jaw(self) -> np.ndarray:
        """(3,) jaw pose, axis-angle in radians ((0,) for layouts without the jaw)."""
        return self._part("jaw")

    @property
    def roll(self) -> float:
        return float(self.euler[0])

    @property
    def pitch(self) -> float:
        return float(self.euler[1])

    @property
    def yaw(self) -> float:
        return float(self.euler[2])

    def to_dict(self, *, mesh: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (``prediction_schema.json``); ``mesh=False`` leaves out vertices and faces."""
        out: dict[str, Any] = {
            "box": self.box.tolist(),
            "score": self.score,
            "confidence": self.confidence,
            "failed": self.failed,
            "detector": self.detector,
            "crop_box": self.crop_box.tolist(),
            "image_size": list(self.image_size),
            "input_size": self.input_size,
            "landmarks": self.landmarks.tolist(),
            "landmarks_3d": self.landmarks_3d.tolist(),
            "branch_landmarks": self.branch_landmarks.tolist(),
            "dense_landmarks": {k: v.tolist() for k, v in self.dense_landmarks.items()},
            "rotation": self.rotation.tolist(),
            "euler": dict(zip(EULER_ORDER, self.euler.tolist(), strict=True)),
            "scale": self.scale,
            "translation": self.translation.tolist(),
            "camera": self.camera.tolist(),
            "params": {
                "vector": self.params.tolist(),
                **{name: self.params[sl].tolist() for name, sl in self.layout.slices.items()},
            },
        }
        if mesh and self.vertices is not None and self.faces is not None:
            out["vertices"], out["faces"] = self.vertices.tolist(), self.faces.tolist()
        return out

    def to_json(self, *, mesh: bool = True, indent: int | None = None) -> str:
        return jsonio.dumps(self.to_dict(mesh=mesh), indent=indent)

    def save_json(self, path: str | Path, *, mesh: bool = True) -> Path:
        path = Path(path)
        path.write_text(self.to_json(mesh=mesh), encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadPrediction:
        """The inverse of :meth:`to_dict` (a missing mesh gives ``vertices = faces = None``)."""
        p = data["params"]
        layout = ParamLayout(len(p["shape"]), len(p["expression"]), jaw=len(p["jaw"]) == 3)
        array = np.asarray
        return cls(
            box=array(data["box"], np.float64),
            score=data["score"],
            detector=data["detector"],
            crop_box=array(data["crop_box"], np.float64),
            image_size=(int(data["image_size"][0]), int(data["image_size"][1])),
            input_size=int(data["input_size"]),
            landmarks=array(data["landmarks"], np.float64),
            landmarks_3d=array(data["landmarks_3d"], np.float64),
            branch_landmarks=array(data["branch_landmarks"], np.float64),
            dense_landmarks={k: array(v, np.float64) for k, v in data["dense_landmarks"].items()},
            vertices=array(data["vertices"], np.float64) if "vertices" in data else None,
            faces=array(data["faces"], np.int64) if "faces" in data else None,
            rotation=array(data["rotation"], np.float64),
            euler=array([data["euler"][k] for k in EULER_ORDER], np.float64),
            scale=float(data["scale"]),
            translation=array(data["translation"], np.float64),
            camera=array(data["camera"], np.float64),
            params=array(p["vector"], np.float64),
            layout=layout,
            confidence=data.get("confidence"),  # absent from files written before it existed
            failed=data.get("failed"),
        )

    def _mesh(self) -> tuple[np.ndarray, np.ndarray]:
        if self.vertices is None or self.faces is None:
            raise ValueError("this prediction has no mesh (it was read from JSON written with mesh=False)")
        return self.vertices, self.faces

    def save_obj(self, path: str | Path) -> Path:
        """Wavefront OBJ of the posed mesh in the image frame (y down, z away: see the module docstring)."""
        return write_obj(path, *self._mesh())

    def save_ply(self, path: str | Path) -> Path:
        """Binary little-endian PLY of the posed mesh in the image frame."""
        return write_ply(path, *self._mesh())

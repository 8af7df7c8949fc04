"""FLAME model and DAD-3DHeads auxiliary data: validated containers.

Two containers hold everything the FLAME layer, the losses and the metrics need:

* :class:`FlameModelData`: the morphable model (keys of FLAME's ``generic_model.pkl``).
* :class:`FlameAux`: the DAD-3DHeads auxiliary files (68-landmark embedding, vertex subsets, dense
  keypoints).

Both are built from *raw* dictionaries shaped exactly like the files (see :mod:`trans3dhead.flame.files`
for reading and writing them), so the real FLAME files and the embedded procedural model pass through the
same validation.  Sizes are read from the data, never assumed: 5023 / 300 / 100 are FLAME's sizes, not
constants of this code.  Every shape error names the source file and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse

from trans3dhead.errors import InputError, shown
from trans3dhead.flame.params import ParamLayout

__all__ = ["AssetError", "FlameModelData", "FlameAux", "FlameAssets", "SUBSET_FILES", "CHAMFER_KEYPOINTS"]

# Project subset name -> file stem in DAD-3DHeads' ``flame_indices/``.  FLAME's naming is swapped:
# ``face_w_ears.npy`` is the whole head without neck and eyeballs (3669 vertices in FLAME), ``head.npy``
# the same without the back of the skull (3457).
SUBSET_FILES: dict[str, str] = {
    "face": "face",
    "head": "face_w_ears",
    "head_without_back": "head",
    "eyeballs": "eyeballs",
}

#: Indices into the 68 landmarks of the 7 keypoints used by the Chamfer metric
#: (``docs/conventions.md`` section 11).
CHAMFER_KEYPOINTS: tuple[int, ...] = (36, 39, 42, 45, 33, 48, 54)

#: FLAME 2020 stores 300 shape then 100 expression components in one ``shapedirs`` array.
_FLAME_SPLIT = {400: 300}
_ROOT_PARENT = 4294967295  # uint32 max, FLAME's "no parent"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class AssetError(InputError):
    """A FLAME asset is missing, malformed or inconsistent; the message names the file and key."""


def _array(raw: Mapping[str, Any], key: str, source: str) -> np.ndarray:
    if key not in raw:
        raise AssetError(f"{source}: missing key '{key}'")
    value = raw[key]
    if scipy.sparse.issparse(value):
        value = value.toarray()
    try:
        value = np.asarray(value)
    except (ValueError, TypeError):  # ragged nesting
        raise AssetError(f"{source}: key '{key}' is not a numeric array") from None
    if value.dtype.kind not in "biuf":  # objects, strings, complex numbers, dates
        raise AssetError(f"{source}: key '{key}' is not a numeric array (dtype {value.dtype})")
    return value


def _check_shape(value: np.ndarray, expected: tuple[int | None, ...], key: str, source: str) -> None:
    ok = value.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, value.shape, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise AssetError(f"{source}: key '{key}' has shape {tuple(value.shape)}, expected {want}")


def _check_finite(value: np.ndarray, key: str, source: str) -> None:
    """Finite and within float32's range: every float array is kept in float32, where a larger value
    would silently become infinite."""
    if not np.issubdtype(value.dtype, np.floating):
        return
    if not np.isfinite(value).all():
        raise AssetError(f"{source}: key '{key}' contains non-finite values")
    if value.size and np.abs(value).max() > _FLOAT32_MAX:
        raise AssetError(f"{source}: key '{key}' has values beyond the float32 range")


def _check_index(value: np.ndarray, upper: int, key: str, source: str) -> np.ndarray:
    if not np.issubdtype(value.dtype, np.integer):
        raise AssetError(f"{source}: key '{key}' must hold integer indices, got dtype {value.dtype}")
    if value.size and (value.min() < 0 or value.max() >= upper):
        raise AssetError(f"{source}: key '{key}' has indices outside [0, {upper})")
    return value.astype(np.int64)


@dataclass(frozen=True, eq=False)
class FlameModelData:
    """A validated FLAME-format morphable model (numpy, float32 / int64).

    Shapes: V vertices, F faces, J joints, K = num_shape + num_expression blendshapes,
    P = (J - 1) * 9 pose-corrective features.
    """

    v_template: np.ndarray  # (V, 3) metres
    faces: np.ndarray  # (F, 3)
    shapedirs: np.ndarray  # (V, 3, K)
    posedirs: np.ndarray  # (V, 3, P)
    j_regressor: np.ndarray  # (J, V), dense
    weights: np.ndarray  # (V, J)
    parents: np.ndarray  # (J,), -1 for the root
    num_shape: int
    num_expression: int
    source: str
    vertex_albedo: np.ndarray | None = None  # (V, 3) in [0, 1], embedded model only
    vertex_region: np.ndarray | None = None  # (V,) region codes, embedded model only
    region_names: tuple[str, ...] = ()

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.j_regressor.shape[0])

    @classmethod
    def from_arrays(
        cls, raw: Mapping[str, Any], *, source: str, num_shape: int | None = None
    ) -> FlameModelData:
        """Validate a ``generic_model``-style mapping (``v_template, f, shapedirs, posedirs, J_regressor,
        weights, kintree_table``; optional ``num_shape_params``, ``vertex_albedo``, ``vertex_region``,
        ``region_names``).  ``num_shape`` splits ``shapedirs`` into shape and expression columns; by default
        it is read from ``num_shape_params`` or, for FLAME's 400 columns, FLAME's 300."""
        v_template = _array(raw, "v_template", source)
        _check_shape(v_template, (None, 3), "v_template", source)
        num_v = v_template.shape[0]
        faces = _array(raw, "f", source)
        _check_shape(faces, (None, 3), "f", source)
        faces = _check_index(faces, num_v, "f", source)
        shapedirs = _array(raw, "shapedirs", source)
        _check_shape(shapedirs, (num_v, 3, None), "shapedirs", source)
        j_regressor = _array(raw, "J_regressor", source)
        _check_shape(j_regressor, (None, num_v), "J_regressor", source)
        num_j = j_regressor.shape[0]
        posedirs = _array(raw, "posedirs", source)
        _check_shape(posedirs, (num_v, 3, (num_j - 1) * 9), "posedirs", source)
        weights = _array(raw, "weights", source)
        _check_shape(weights, (num_v, num_j), "weights", source)
        parents = _parents(_array(raw, "kintree_table", source), num_j, source)
        for key, value in (
            ("v_template", v_template),
            ("shapedirs", shapedirs),
            ("posedirs", posedirs),
            ("J_regressor", j_regressor),
            ("weights", weights),
        ):
            _check_finite(value, key, source)
        n_shape = _num_shape(raw, shapedirs.shape[2], num_shape, source)
        albedo, region, names = _extras(raw, num_v, source)
        f32 = np.float32
        return cls(
            v_template=v_template.astype(f32),
            faces=faces,
            shapedirs=shapedirs.astype(f32),
            posedirs=posedirs.astype(f32),
            j_regressor=j_regressor.astype(f32),
            weights=weights.astype(f32),
            parents=parents,
            num_shape=n_shape,
            num_expression=shapedirs.shape[2] - n_shape,
            source=source,
            vertex_albedo=albedo,
            vertex_region=region,
            region_names=names,
        )


def _parents(kintree: np.ndarray, num_joints: int, source: str) -> np.ndarray:
    _check_shape(kintree, (2, num_joints), "kintree_table", source)
    parents = kintree[0].astype(np.int64)
    parents[parents == _ROOT_PARENT] = -1
    if parents[0] != -1 or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, num_joints)):
        raise AssetError(
            f"{source}: key 'kintree_table' must list the root first and parents before children"
        )
    return parents


def _num_shape(raw: Mapping[str, Any], num_columns: int, requested: int | None, source: str) -> int:
    if requested is None and "num_shape_params" in raw:
        stored = _array(raw, "num_shape_params", source)
        if stored.shape != () or stored.dtype.kind not in "iu":
            raise AssetError(f"{source}: key 'num_shape_params' must be one integer, got {shown(stored)}")
        requested = int(stored)
    if requested is None:
        requested = _FLAME_SPLIT.get(num_columns)
    if requested is None:
        raise AssetError(
            f"{source}: cannot tell how many of the {num_columns} 'shapedirs' columns are shape components; "
            "pass num_shape or store 'num_shape_params' in the file"
        )
    if not 0 < requested <= num_columns:
        raise AssetError(f"{source}: num_shape={requested} is outside (0, {num_columns}]")
    return requested


def _extras(raw: Mapping[str, Any], num_v: int, source: str) -> tuple[Any, Any, tuple[str, ...]]:
    albedo = region = None
    names: tuple[str, ...] = ()
    if "vertex_albedo" in raw:
        albedo = _array(raw, "vertex_albedo", source)
        _check_shape(albedo, (num_v, 3), "vertex_albedo", source)
        _check_finite(albedo, "vertex_albedo", source)
        albedo = albedo.astype(np.float32)
    if "vertex_region" in raw:
        region = _array(raw, "vertex_region", source).astype(np.int64)
        _check_shape(region, (num_v,), "vertex_region", source)
        names_raw = raw.get("region_names", [])
        if isinstance(names_raw, np.ndarray) and names_raw.ndim == 1:
            names_raw = names_raw.tolist()
        if not isinstance(names_raw, list | tuple):
            raise AssetError(f"{source}: key 'region_names' must be a list of names")
        names = tuple(str(n) for n in names_raw)
    return albedo, region, names


@dataclass(frozen=True, eq=False)
class FlameAux:
    """Validated DAD-3DHeads auxiliary data for one model.

    ``landmark_faces`` (68,) and ``landmark_bary`` (68, 3) are the 17 contour points (row 0 of the dynamic
    embedding, as the reference uses) followed by the 51 static points.  ``subsets`` maps ``face``,
    ``head``, ``head_without_back``, ``eyeballs`` (see :data:`SUBSET_FILES`) to vertex indices in file order.
    ``dense`` maps ``"191"`` / ``"445"`` to sorted unique vertex indices where the files were given, and
    ``dense_groups`` keeps their named parts.
    """

    landmark_faces: np.ndarray
    landmark_bary: np.ndarray
    dynamic_faces: np.ndarray  # (R, 17) full dynamic contour table
    dynamic_bary: np.ndarray  # (R, 17, 3)
    subsets: dict[str, np.ndarray]
    dense: dict[str, np.ndarray] = field(default_factory=dict)
    dense_groups: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    source: str = ""

    @property
    def num_landmarks(self) -> int:
        return int(self.landmark_faces.shape[0])

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], *, model: FlameModelData, source: str) -> FlameAux:
        """Validate a raw auxiliary mapping (the structure of the DAD-3DHeads files, see
        :func:`trans3dhead.flame.files.read_aux_dir`) against ``model``."""
        num_f, num_v = model.faces.shape[0], model.num_vertices
        static = raw.get("static_embedding")
        dynamic = raw.get("dynamic_embedding")
        if not isinstance(static, Mapping) or not isinstance(dynamic, Mapping):
            raise AssetError(f"{source}: both 'static_embedding' and 'dynamic_embedding' are required")
        s_src, d_src = f"{source}/flame_static_embedding.pkl", f"{source}/flame_dynamic_embedding.npy"
        s_faces = _check_index(
            _array(static, "lmk_face_idx", s_src).reshape(-1), num_f, "lmk_face_idx", s_src
        )
        s_bary = _array(static, "lmk_b_coords", s_src)
        _check_shape(s_bary, (s_faces.shape[0], 3), "lmk_b_coords", s_src)
        d_faces = _array(dynamic, "lmk_face_idx", d_src)
        _check_shape(d_faces, (None, 17), "lmk_face_idx", d_src)
        if d_faces.shape[0] == 0:
            raise AssetError(f"{d_src}: key 'lmk_face_idx' has no rows (the contour needs at least one)")
        d_faces = _check_index(d_faces, num_f, "lmk_face_idx", d_src)
        d_bary = _array(dynamic, "lmk_b_coords", d_src)
        _check_shape(d_bary, (d_faces.shape[0], 17, 3), "lmk_b_coords", d_src)
        for key, value, src in (("lmk_b_coords", s_bary, s_src), ("lmk_b_coords", d_bary, d_src)):
            _check_finite(value, key, src)
        subsets = _subsets(raw.get("flame_indices", {}), num_v, source)
        dense, groups = _dense(raw, num_v, source)
        return cls(
            landmark_faces=np.concatenate([d_faces[0], s_faces]),
            landmark_bary=np.concatenate([d_bary[0], s_bary]).astype(np.float32),
            dynamic_faces=d_faces,
            dynamic_bary=d_bary.astype(np.float32),
            subsets=subsets,
            dense=dense,
            dense_groups=groups,
            source=source,
        )


def _indices(value: Any, upper: int, key: str, source: str) -> np.ndarray:
    """A flat integer index array from an index file's content (any nesting of ints)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged nesting
        raise AssetError(f"{source}: key '{key}' is not an array of vertex indices") from None
    return _check_index(array.reshape(-1), upper, key, source)


def _subsets(indices: Any, num_v: int, source: str) -> dict[str, np.ndarray]:
    if not isinstance(indices, Mapping):
        raise AssetError(
            f"{source}/flame_indices: expected vertex subsets by name, got {type(indices).__name__}"
        )
    subsets = {}
    for name, stem in SUBSET_FILES.items():
        src = f"{source}/flame_indices/{stem}.npy"
        if stem not in indices:
            raise AssetError(f"{src}: missing (vertex subset '{name}')")
        # File order is kept: the reference Z5 metric ranks vertices by their position in the head subset.
        subsets[name] = _indices(indices[stem], num_v, stem, src)
    return subsets


def _dense(raw: Mapping[str, Any], num_v: int, source: str) -> tuple[dict, dict]:
    dense, groups = {}, {}
    for count in ("191", "445"):
        group_map = raw.get(f"keypoints_{count}")
        if group_map is None or (isinstance(group_map, Mapping) and not group_map):
            continue
        if not isinstance(group_map, Mapping):
            raise AssetError(
                f"{source}/face_keypoints/keypoints_{count}: expected named groups of index lists"
            )
        checked: dict[str, dict[str, np.ndarray]] = {}
        for group, parts in group_map.items():
            src = f"{source}/face_keypoints/keypoints_{count}/{group}.npy"
            if not isinstance(parts, Mapping):
                raise AssetError(f"{src}: expected a dict of named index lists, got {type(parts).__name__}")
            checked[group] = {str(k): _indices(v, num_v, str(k), src) for k, v in parts.items()}
        # The reference drops the 445 set's 'cheeks' group when it builds the 445 points.
        used = [
            v
            for g, parts in checked.items()
            if not (count == "445" and g == "cheeks")
            for v in parts.values()
        ]
        dense[count] = np.unique(np.concatenate(used)) if used else np.zeros(0, np.int64)
        groups[count] = checked
    return dense, groups


@dataclass(frozen=True, eq=False)
class FlameAssets:
    """A model and its auxiliary data, validated together."""

    model: FlameModelData
    aux: FlameAux

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """Barycentric 68-point embedding in numpy: vertices (..., V, 3) -> (..., N, 3)."""
        corners = np.asarray(vertices)[..., self.model.faces[self.aux.landmark_faces], :]  # (..., N, 3, 3)
        return np.einsum("...nkd,nk->...nd", corners, self.aux.landmark_bary.astype(corners.dtype))

    def describe(self) -> dict[str, Any]:
        """Sizes of everything, as plain JSON-able values (``trans3dhead flame-info``)."""
        m, a = self.model, self.aux
        return {
            "source": m.source,
            "aux_source": a.source,
            "vertices": m.num_vertices,
            "faces": int(m.faces.shape[0]),
            "joints": m.num_joints,
            "shape_params": m.num_shape,
            "expression_params": m.num_expression,
            "pose_correctives": int(m.posedirs.shape[2]),
            "parameter_vector": ParamLayout(m.num_shape, m.num_expression).total,
            "landmarks": a.num_landmarks,
            "dynamic_contour_rows": int(a.dynamic_faces.shape[0]),
            "subsets": {k: int(v.size) for k, v in a.subsets.items()},
            "dense_landmarks": {k: int(v.size) for k, v in a.dense.items()},
            "chamfer_keypoints": list(CHAMFER_KEYPOINTS),
            "has_albedo": m.vertex_albedo is not None,
        }

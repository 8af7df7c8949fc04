"""Reading and writing FLAME model files and the DAD-3DHeads auxiliary directory.

Model files: FLAME 2020 ``generic_model.pkl`` (Python 2 pickle with chumpy arrays and a scipy sparse
``J_regressor``, read through :mod:`trans3dhead.flame.safe_pickle`) or an ``.npz`` with the same keys.

Auxiliary directory (the layout of the DAD-3DHeads release)::

    flame_static_embedding.pkl           dict: lmk_face_idx (51,), lmk_b_coords (51, 3)
    flame_dynamic_embedding.npy          pickled dict: lmk_face_idx (R, 17), lmk_b_coords (R, 17, 3)
    flame_indices/{face,head,face_w_ears,eyeballs}.npy
    face_keypoints/keypoints_191/*.npy   optional, pickled dicts of named index lists
    face_keypoints/keypoints_445/*.npy   optional (``keypoints_191/`` at the top level is accepted too)

Paths come from arguments or the ``TRANS3DHEAD_FLAME`` / ``TRANS3DHEAD_FLAME_AUX`` environment variables;
with neither, the embedded procedural model is used (:func:`load_assets`).
"""

from __future__ import annotations

import functools
import os
import pickle
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead.atomic import atomic_open
from trans3dhead.errors import one_line
from trans3dhead.flame.assets import SUBSET_FILES, AssetError, FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.safe_pickle import load_pickle, load_pickled_npy

__all__ = [
    "ENV_MODEL",
    "ENV_AUX",
    "read_model_file",
    "read_aux_dir",
    "load_flame_model",
    "load_flame_aux",
    "flame_paths",
    "load_assets",
    "embedded_assets",
    "write_model_npz",
    "write_aux_dir",
    "write_embedded_model",
]

ENV_MODEL = "TRANS3DHEAD_FLAME"
ENV_AUX = "TRANS3DHEAD_FLAME_AUX"
_DENSE_DIRS = ("keypoints_191", "keypoints_445")


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Read a ``.pkl`` or ``.npz`` model file into a raw dict (no validation)."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path}: FLAME model file not found")
    if path.suffix == ".npz":
        return _read_npz(path)
    if path.suffix == ".pkl":
        raw = load_pickle(path)
        if not isinstance(raw, Mapping):
            raise AssetError(f"{path}: expected a pickled dict, got {type(raw).__name__}")
        return dict(raw)
    raise AssetError(f"{path}: unsupported model file type '{path.suffix}' (expected .pkl or .npz)")


def _read_npz(path: Path) -> dict[str, Any]:
    """Every array of an ``.npz`` (no pickles); an AssetError for anything that is not a readable one."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise AssetError(f"{path}: not an .npz archive (a single .npy array)")
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except AssetError:
        raise
    except (OSError, EOFError, ValueError, MemoryError, zipfile.BadZipFile, zlib.error) as exc:
        raise AssetError(f"{path}: not a readable .npz model file ({one_line(exc)})") from None


def _read_dense(directory: Path) -> dict[str, dict[str, Any]]:
    groups = {}
    for file in sorted(directory.glob("*.npy")):
        value = load_pickled_npy(file)
        if not isinstance(value, Mapping):
            raise AssetError(f"{file}: expected a pickled dict of named index lists")
        groups[file.stem] = dict(value)
    return groups


def read_aux_dir(directory: str | Path) -> dict[str, Any]:
    """Read a DAD-3DHeads auxiliary directory into a raw dict (validated by :meth:`FlameAux.from_raw`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AssetError(f"{directory}: auxiliary directory not found")
    raw: dict[str, Any] = {}
    for key, name, reader in (
        ("static_embedding", "flame_static_embedding.pkl", load_pickle),
        ("dynamic_embedding", "flame_dynamic_embedding.npy", load_pickled_npy),
    ):
        file = directory / name
        if not file.is_file():
            raise AssetError(f"{file}: missing auxiliary file")
        raw[key] = reader(file)
    indices = {}
    for stem in SUBSET_FILES.values():
        file = directory / "flame_indices" / f"{stem}.npy"
        if file.is_file():
            indices[stem] = load_pickled_npy(file)
    if "face_w_ears" not in indices and (directory / "head_indices.npy").is_file():
        indices["face_w_ears"] = load_pickled_npy(directory / "head_indices.npy")
    raw["flame_indices"] = indices
    for name in _DENSE_DIRS:
        for parent in (directory / "face_keypoints", directory):
            if (parent / name).is_dir():
                raw[name] = _read_dense(parent / name)
                break
    return raw


def load_flame_model(path: str | Path, *, num_shape: int | None = None) -> FlameModelData:
    """Load and validate a FLAME model file (``.pkl`` or ``.npz``)."""
    return FlameModelData.from_arrays(read_model_file(path), source=str(path), num_shape=num_shape)


def load_flame_aux(directory: str | Path, *, model: FlameModelData) -> FlameAux:
    """Load and validate a DAD-3DHeads auxiliary directory for ``model``."""
    return FlameAux.from_raw(read_aux_dir(directory), model=model, source=str(directory))


@functools.lru_cache(maxsize=4)
def embedded_assets(
    *, num_vertices_target: int = 5000, num_shape: int = 300, num_expression: int = 100, seed: int = 0
) -> FlameAssets:
    """The project's procedural FLAME-format head model (generated once per process and setting)."""
    from trans3dhead.flame.embedded import generate_head_model

    model_raw, aux_raw = generate_head_model(
        num_vertices_target=num_vertices_target, num_shape=num_shape, num_expression=num_expression, seed=seed
    )
    source = f"embedded(num_vertices_target={num_vertices_target}, seed={seed})"
    model = FlameModelData.from_arrays(model_raw, source=source)
    return FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source=source))


def flame_paths(
    flame: str | Path | None = None, aux: str | Path | None = None
) -> tuple[str | Path, str | Path] | None:
    """Which FLAME to load: ``(model file, auxiliary directory)``, or None for the embedded model.

    The one place that decides (:func:`load_assets`, and ``trans3dhead.models.build.build_assets`` for a
    config's ``flame.file`` / ``flame.aux``).  Paths default to ``$TRANS3DHEAD_FLAME`` /
    ``$TRANS3DHEAD_FLAME_AUX``; no model path at all means the embedded model; one path without the
    other is an :class:`AssetError`.
    """
    flame = flame or os.environ.get(ENV_MODEL) or None
    aux = aux or os.environ.get(ENV_AUX) or None
    if flame is None:
        if aux is not None:
            raise AssetError(
                f"auxiliary directory {aux} given without a FLAME model file (--flame / ${ENV_MODEL})"
            )
        return None
    if aux is None:
        raise AssetError(
            f"FLAME model {flame} given without the DAD-3DHeads auxiliary directory (--aux / ${ENV_AUX})"
        )
    return flame, aux


def load_assets(
    flame: str | Path | None = None, aux: str | Path | None = None, *, num_shape: int | None = None
) -> FlameAssets:
    """Load a model and its auxiliary files, as :func:`flame_paths` decides (else the embedded model)."""
    paths = flame_paths(flame, aux)
    if paths is None:
        return embedded_assets()
    model = load_flame_model(paths[0], num_shape=num_shape)
    return FlameAssets(model=model, aux=load_flame_aux(paths[1], model=model))


def write_model_npz(model: Mapping[str, Any], path: str | Path) -> Path:
    """Write a raw model dict as an ``.npz`` readable by :func:`load_flame_model`."""
    path = Path(path)
    arrays = {k: np.asarray(v) for k, v in model.items()}
    with atomic_open(path) as handle:
        np.savez(handle, **arrays)
    return path


def _save_npy(path: Path, value: Any) -> None:
    if isinstance(value, Mapping):  # the release stores dicts as pickled 0-d object arrays
        value = np.array(dict(value), dtype=object)
    with atomic_open(path) as handle:
        np.save(handle, value, allow_pickle=True)


def write_aux_dir(aux: Mapping[str, Any], directory: str | Path) -> Path:
    """Write a raw auxiliary dict in the DAD-3DHeads release layout (see the module docstring)."""
    directory = Path(directory)
    static = {k: np.asarray(v) for k, v in aux["static_embedding"].items()}
    with atomic_open(directory / "flame_static_embedding.pkl") as handle:
        pickle.dump(static, handle, protocol=2)
    _save_npy(directory / "flame_dynamic_embedding.npy", aux["dynamic_embedding"])
    for stem, indices in aux["flame_indices"].items():
        _save_npy(directory / "flame_indices" / f"{stem}.npy", np.asarray(indices, dtype=np.int64))
    if "face_w_ears" in aux["flame_indices"]:
        _save_npy(directory / "head_indices.npy", np.asarray(aux["flame_indices"]["face_w_ears"], np.int64))
    for name in _DENSE_DIRS:
        for group, parts in aux.get(name, {}).items():
            _save_npy(directory / "face_keypoints" / name / f"{group}.npy", parts)
    if "flame_mesh_faces" in aux:
        import torch

        faces = torch.as_tensor(np.asarray(aux["flame_mesh_faces"], dtype=np.int64))
        with atomic_open(directory / "flame_mesh_faces.pt") as handle:
            torch.save(faces, handle)
    return directory


def write_embedded_model(
    out_dir: str | Path,
    *,
    num_vertices_target: int = 5000,
    num_shape: int = 300,
    num_expression: int = 100,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write the embedded model as ``OUT/generic_model.npz`` plus ``OUT/aux/`` in the release layout."""
    from trans3dhead.flame.embedded import generate_head_model

    model, aux = generate_head_model(
        num_vertices_target=num_vertices_target, num_shape=num_shape, num_expression=num_expression, seed=seed
    )
    out = Path(out_dir)
    return write_model_npz(model, out / "generic_model.npz"), write_aux_dir(aux, out / "aux")

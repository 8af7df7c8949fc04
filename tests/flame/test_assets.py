"""FLAME asset loading: chumpy pickles, the allow-list, validation errors, file round trips, env vars."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from trans3dhead.flame import AssetError, FlameModelData, load_assets, load_flame_aux, load_flame_model
from trans3dhead.flame.files import ENV_AUX, ENV_MODEL, write_aux_dir, write_model_npz
from trans3dhead.flame.safe_pickle import UnsafePickleError, load_pickle, load_pickled_npy


@pytest.fixture
def fake_chumpy(monkeypatch):
    """Register a module named ``chumpy.ch`` whose ``Ch`` pickles its __dict__ like chumpy does."""
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, dtype=np.float64)
            self._dirty_vars = {"x"}
            self._itr = None

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    package.ch = module
    monkeypatch.setitem(sys.modules, "chumpy", package)
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch


def test_chumpy_pickle_loads_without_chumpy(tmp_path, tiny_raw, fake_chumpy, monkeypatch):
    model, _ = tiny_raw
    raw = dict(model)
    raw["shapedirs"] = fake_chumpy(model["shapedirs"])
    raw["posedirs"] = fake_chumpy(model["posedirs"])
    raw["J_regressor"] = scipy.sparse.csc_matrix(model["J_regressor"])
    raw["kintree_table"] = model["kintree_table"].astype(np.uint32)
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps(raw, protocol=2))
    # Unregister the fake chumpy: loading must not need it.
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    loaded = load_flame_model(path)
    np.testing.assert_allclose(loaded.shapedirs, model["shapedirs"].astype(np.float32))
    np.testing.assert_allclose(loaded.j_regressor, model["J_regressor"].astype(np.float32))
    assert loaded.parents.tolist() == [-1, 0, 1, 1, 1]
    assert (loaded.num_shape, loaded.num_expression) == (6, 4)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_naming_another_class_is_refused(tmp_path, tiny_raw):
    model, _ = tiny_raw
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({**model, "payload": Evil()}))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl: refusing to unpickle 'builtins\.print'"):
        load_flame_model(path)


def test_pickled_npy_goes_through_the_allow_list(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array({"a": np.arange(3)}, dtype=object), allow_pickle=True)
    assert load_pickled_npy(path)["a"].tolist() == [0, 1, 2]
    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="bad.npy"):
        load_pickled_npy(bad)


def test_corrupt_pickle_names_the_file(tmp_path):
    path = tmp_path / "broken.pkl"
    path.write_bytes(b"\x80\x02}q\x00(X")
    with pytest.raises(pickle.UnpicklingError, match="broken.pkl"):
        load_pickle(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("shapedirs", np.zeros((40, 3)), r"'shapedirs' has shape \(40, 3\), expected \(40, 3, \*\)"),
        ("posedirs", np.zeros((40, 3, 35)), r"'posedirs' has shape \(40, 3, 35\), expected \(40, 3, 36\)"),
        ("weights", np.zeros((39, 5)), r"'weights' has shape \(39, 5\), expected \(40, 5\)"),
        ("f", np.full((3, 3), 99), r"'f' has indices outside \[0, 40\)"),
        ("v_template", np.full((40, 3), np.nan), "'v_template' contains non-finite values"),
        # found by fuzzing: finite in float64, silently infinite once stored in float32
        ("J_regressor", np.full((5, 40), 1e40), "'J_regressor' has values beyond the float32 range"),
        ("vertex_albedo", np.full((40, 3), np.nan), "'vertex_albedo' contains non-finite values"),
    ],
)
def test_wrong_shape_names_the_key(tiny_raw, key, value, message):
    model, _ = tiny_raw
    with pytest.raises(AssetError, match=message):
        FlameModelData.from_arrays({**model, key: value}, source="model.npz")


def test_missing_key_and_unknown_split(tiny_raw):
    model, _ = tiny_raw
    with pytest.raises(AssetError, match="model.npz: missing key 'J_regressor'"):
        FlameModelData.from_arrays({k: v for k, v in model.items() if k != "J_regressor"}, source="model.npz")
    no_split = {k: v for k, v in model.items() if k != "num_shape_params"}
    with pytest.raises(AssetError, match="cannot tell how many of the 10 'shapedirs' columns"):
        FlameModelData.from_arrays(no_split, source="model.npz")
    assert FlameModelData.from_arrays(no_split, source="m", num_shape=8).num_expression == 2


def test_npz_and_aux_dir_round_trip(tmp_path, tiny_raw):
    model_raw, aux_raw = tiny_raw
    model_path = write_model_npz(model_raw, tmp_path / "model.npz")
    aux_dir = write_aux_dir(aux_raw, tmp_path / "aux")
    assert (aux_dir / "flame_indices" / "face_w_ears.npy").is_file()
    assert (aux_dir / "face_keypoints" / "keypoints_191" / "nose.npy").is_file()
    model = load_flame_model(model_path)
    aux = load_flame_aux(aux_dir, model=model)
    np.testing.assert_allclose(model.v_template, model_raw["v_template"].astype(np.float32))
    assert aux.subsets["head"].tolist() == list(range(35))  # face_w_ears.npy
    assert aux.subsets["head_without_back"].tolist() == list(range(30))  # head.npy
    assert aux.landmark_faces[:17].tolist() == aux_raw["dynamic_embedding"]["lmk_face_idx"][0].tolist()
    assert aux.landmark_faces[17:].tolist() == aux_raw["static_embedding"]["lmk_face_idx"].tolist()
    assert aux.dense["191"].tolist() == [1, 2, 3, 4, 5]


def test_aux_errors_name_the_file(tmp_path, tiny_raw):
    model_raw, aux_raw = tiny_raw
    model = FlameModelData.from_arrays(model_raw, source="tiny")
    with pytest.raises(AssetError, match="auxiliary directory not found"):
        load_flame_aux(tmp_path / "nope", model=model)
    aux_dir = write_aux_dir(aux_raw, tmp_path / "aux")
    (aux_dir / "flame_indices" / "eyeballs.npy").unlink()
    with pytest.raises(AssetError, match=r"flame_indices/eyeballs\.npy: missing"):
        load_flame_aux(aux_dir, model=model)
    bad = {
        **aux_raw,
        "static_embedding": {"lmk_face_idx": np.zeros(51, int), "lmk_b_coords": np.zeros((50, 3))},
    }
    aux_dir2 = write_aux_dir(bad, tmp_path / "aux2")
    with pytest.raises(
        AssetError, match=r"flame_static_embedding\.pkl: key 'lmk_b_coords' has shape \(50, 3\)"
    ):
        load_flame_aux(aux_dir2, model=model)


def test_paths_from_environment(tmp_path, tiny_raw, monkeypatch):
    model_raw, aux_raw = tiny_raw
    model_path = write_model_npz(model_raw, tmp_path / "model.npz")
    aux_dir = write_aux_dir(aux_raw, tmp_path / "aux")
    monkeypatch.setenv(ENV_MODEL, str(model_path))
    monkeypatch.delenv(ENV_AUX, raising=False)
    with pytest.raises(AssetError, match="without the DAD-3DHeads auxiliary directory"):
        load_assets()
    monkeypatch.setenv(ENV_AUX, str(aux_dir))
    assets = load_assets()
    assert assets.model.num_vertices == 40
    assert assets.describe()["parameter_vector"] == 6 + 4 + 13


def test_unsupported_model_file(tmp_path):
    path = tmp_path / "model.obj"
    path.write_text("v 0 0 0\n")
    with pytest.raises(AssetError, match=r"unsupported model file type '\.obj'"):
        load_flame_model(path)
    with pytest.raises(AssetError, match="FLAME model file not found"):
        load_flame_model(tmp_path / "missing.pkl")


def test_subset_file_order_is_kept(tmp_path, tiny_raw):
    """The reference Z5 depends on the order of the head subset file: never re-sort it."""
    model_raw, aux_raw = tiny_raw
    shuffled = {
        **aux_raw,
        "flame_indices": {**aux_raw["flame_indices"], "face_w_ears": np.arange(34, -1, -1)},
    }
    model = FlameModelData.from_arrays(model_raw, source="tiny")
    aux = load_flame_aux(write_aux_dir(shuffled, tmp_path / "aux"), model=model)
    assert aux.subsets["head"].tolist() == list(range(34, -1, -1))


def test_one_decision_of_which_flame_to_load(tmp_path, monkeypatch):
    from trans3dhead.config import FlameConfig
    from trans3dhead.flame.files import flame_paths
    from trans3dhead.models.build import build_assets

    monkeypatch.delenv(ENV_MODEL, raising=False)
    monkeypatch.delenv(ENV_AUX, raising=False)
    assert flame_paths() is None  # the embedded model
    assert flame_paths("m.npz", "aux") == ("m.npz", "aux")
    monkeypatch.setenv(ENV_AUX, str(tmp_path / "aux"))
    with pytest.raises(AssetError, match="given without a FLAME model file"):
        flame_paths()
    with pytest.raises(AssetError, match="given without a FLAME model file"):  # the config path agrees
        build_assets(FlameConfig())

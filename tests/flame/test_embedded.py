"""The embedded procedural FLAME-format head model: structure, geometry, rig, bases and auxiliaries."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph
from scipy.spatial.transform import Rotation

from trans3dhead.flame.embedded import generate_head_model
from trans3dhead.flame.embedded.expression_basis import FULL_ACTION, NAMED_EXPRESSIONS

SMALL = {"num_vertices_target": 1500, "num_shape": 20, "num_expression": 12}
FLAME_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
MODEL_KEYS = {*FLAME_KEYS, "vertex_albedo", "vertex_region", "region_names", "num_shape_params"}
AUX_KEYS = {"static_embedding", "dynamic_embedding", "flame_indices", "keypoints_191", "keypoints_445"}


@pytest.fixture(scope="module")
def small():
    return generate_head_model(**SMALL, seed=0)


def _landmarks(model: dict, aux: dict, vertices: np.ndarray | None = None, row: int = 0) -> np.ndarray:
    """The 68 landmarks (68, 3) on ``vertices`` (default: the template)."""
    v = model["v_template"] if vertices is None else vertices
    faces = np.concatenate(
        [aux["dynamic_embedding"]["lmk_face_idx"][row], aux["static_embedding"]["lmk_face_idx"]]
    )
    bary = np.concatenate(
        [aux["dynamic_embedding"]["lmk_b_coords"][row], aux["static_embedding"]["lmk_b_coords"]]
    )
    return np.einsum("nkd,nk->nd", v[model["f"][faces]], bary)


def _edge_lengths(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Lengths (F, 3) of every face's edges."""
    return np.linalg.norm(vertices[faces] - np.roll(vertices[faces], 1, axis=1), axis=-1)


def _lbs(model: dict, pose: np.ndarray) -> np.ndarray:
    """Minimal FLAME LBS of the template: pose (5, 3) axis-angle per joint -> posed vertices (V, 3)."""
    v = model["v_template"]
    joints = model["J_regressor"] @ v
    rots = Rotation.from_rotvec(pose).as_matrix()  # (5, 3, 3)
    feature = (rots[1:] - np.eye(3)).reshape(-1)
    v = v + (model["posedirs"].reshape(-1, 36) @ feature).reshape(-1, 3)
    parents = model["kintree_table"][0]
    world = [np.eye(4)]
    world[0][:3, :3], world[0][:3, 3] = rots[0], joints[0]
    for j in range(1, 5):
        local = np.eye(4)
        local[:3, :3], local[:3, 3] = rots[j], joints[j] - joints[parents[j]]
        world.append(world[parents[j]] @ local)
    transforms = np.stack(world)
    transforms[:, :3, 3] -= np.einsum("jik,jk->ji", transforms[:, :3, :3], joints)
    blended = np.einsum("vj,jmn->vmn", model["weights"], transforms)
    return np.einsum("vij,vj->vi", blended[:, :3, :3], v) + blended[:, :3, 3]


def test_keys_shapes_and_dtypes(small):
    model, aux = small
    assert set(model) == MODEL_KEYS
    num_v, num_f = model["v_template"].shape[0], model["f"].shape[0]
    assert 1300 <= num_v <= 1700
    shapes = [(num_v, 3), (num_f, 3), (num_v, 3, 32), (num_v, 3, 36), (5, num_v), (num_v, 5)]
    for key, shape in zip(FLAME_KEYS, shapes, strict=False):
        assert model[key].shape == shape, key
        assert model[key].dtype == (np.int64 if key == "f" else np.float64), key
    np.testing.assert_array_equal(model["kintree_table"], [[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]])
    assert int(model["num_shape_params"]) == 20
    assert model["vertex_albedo"].shape == (num_v, 3) and model["vertex_region"].shape == (num_v,)
    assert set(aux) == AUX_KEYS | {"flame_mesh_faces"}
    static, dynamic = aux["static_embedding"], aux["dynamic_embedding"]
    assert static["lmk_face_idx"].shape == (51,) and static["lmk_b_coords"].shape == (51, 3)
    assert dynamic["lmk_face_idx"].shape == (79, 17) and dynamic["lmk_b_coords"].shape == (79, 17, 3)
    np.testing.assert_array_equal(aux["flame_mesh_faces"], model["f"])


def test_default_sizes():
    model, aux = generate_head_model()
    num_v = model["v_template"].shape[0]
    assert abs(num_v - 5000) <= 150
    assert model["shapedirs"].shape == (num_v, 3, 400)
    sizes = {k: v.size for k, v in aux["flame_indices"].items()}
    assert 0.35 <= sizes["face"] / num_v <= 0.5  # FLAME: 2094 / 5023
    assert sizes["face"] < sizes["head"] < sizes["face_w_ears"] < num_v


def test_determinism_and_seed(small):
    model, aux = small
    again, again_aux = generate_head_model(**SMALL, seed=0)
    for key in MODEL_KEYS:
        np.testing.assert_array_equal(model[key], again[key], err_msg=key)
    np.testing.assert_array_equal(
        aux["static_embedding"]["lmk_b_coords"], again_aux["static_embedding"]["lmk_b_coords"]
    )
    other, _ = generate_head_model(**SMALL, seed=1)
    np.testing.assert_array_equal(model["v_template"], other["v_template"])
    assert not np.allclose(model["shapedirs"][:, :, 19], other["shapedirs"][:, :, 19])  # a random component
    assert not np.allclose(model["vertex_albedo"], other["vertex_albedo"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_vertices_target": 10}, ValueError, "num_vertices_target"),
        ({"num_vertices_target": 1500.0}, TypeError, "num_vertices_target"),
        ({"num_shape": 0}, ValueError, "num_shape"),
        ({"num_expression": -1}, ValueError, "num_expression"),
        ({"seed": -3}, ValueError, "seed"),
        ({"seed": True}, TypeError, "seed"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_head_model(**kwargs)


def test_internal_errors_name_the_problem():
    from trans3dhead.flame.embedded.eyeball import build_eyeball
    from trans3dhead.flame.embedded.eyelids import eye_anchor_group
    from trans3dhead.flame.embedded.keypoints import _group_sizes, dense_keypoints
    from trans3dhead.flame.embedded.raycast import cast_outermost
    from trans3dhead.flame.embedded.surface_query import closest_points, frontal_hits

    with pytest.raises(ValueError, match="'blink'"):
        eye_anchor_group(
            layout=None, frame=None, anatomy=None, design=None, rows=None, states=("open", "blink")
        )
    with pytest.raises(ValueError, match="size must be one of"):
        dense_keypoints(None, None, None, 100)
    with pytest.raises(ValueError, match="2 vertices short"):
        _group_sizes({"nose": 5}, {"nose": 3}, ["nose"])
    with pytest.raises(ValueError, match="detail"):
        build_eyeball(centre=np.zeros(3), radius=1.0, detail=0)
    rays = np.zeros((2, 3)), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="2 rays never enter"):
        cast_outermost(lambda p: np.ones(len(p)), *rays)
    tri_v, tri_f = np.eye(3), np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match="no faces allowed"):
        closest_points(np.zeros((1, 3)), tri_v, tri_f, np.array([False]))
    with pytest.raises(ValueError, match="misses the surface"):
        frontal_hits(np.array([[5.0, 5.0]]), tri_v, tri_f, np.array([True]))


def _components(faces: np.ndarray, num_v: int) -> np.ndarray:
    """Connected-component label (V,) of every vertex."""
    edges = np.concatenate([faces[:, :2], faces[:, 1:]])
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(num_v, num_v))
    return scipy.sparse.csgraph.connected_components(graph, directed=False)[1]


def test_mesh_closed_oriented_and_well_shaped(small):
    model, _ = small
    v, f = model["v_template"], model["f"]
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    assert np.unique(directed, axis=0).shape[0] == directed.shape[0]  # consistent winding
    reverse = {tuple(e) for e in directed[:, ::-1]}
    assert all(tuple(e) in reverse for e in directed)  # closed: every edge has its twin
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    assert area.min() > 1e-8
    labels = _components(f, v.shape[0])
    roots = np.unique(labels)
    assert roots.size == 3  # head-and-neck surface + two eyeballs
    for root in roots:
        faces = f[labels[f[:, 0]] == root]
        volume = np.einsum("ij,ij->i", v[faces[:, 0]], np.cross(v[faces[:, 1]], v[faces[:, 2]])).sum() / 6
        assert volume > 0
    edges = _edge_lengths(v, f)
    sines = 2 * area / (edges.max(1) * np.sort(edges, axis=1)[:, 1])
    assert np.degrees(np.arcsin(np.clip(sines, 0, 1))).min() > 3.0  # smallest angle: no slivers


def test_head_dimensions_and_frame(small):
    model, aux = small
    v = model["v_template"]
    head = np.setdiff1d(np.arange(v.shape[0]), aux["flame_indices"]["eyeballs"])
    lmk = _landmarks(model, aux)
    chin_to_crown = v[head, 1].max() - lmk[8, 1]
    assert 0.20 < chin_to_crown < 0.26
    cheeks = head[np.abs(v[head, 1] - lmk[30, 1]) < 0.01]
    assert 0.13 < np.ptp(v[cheeks, 0]) < 0.19  # width at cheek level, ears included
    assert lmk[30, 2] == pytest.approx(v[head, 2].max(), abs=0.01)  # the nose points to +z
    centre = 0.5 * (v[head].max(0) + v[head].min(0))
    assert abs(centre[0]) < 1e-3 and -0.06 < centre[2] < 0.0
    mirrored = v[head] * [-1, 1, 1]
    nearest = np.min(np.linalg.norm(mirrored[:, None] - v[head][None, ::7], axis=-1), axis=0)
    assert nearest.max() < 1e-6  # left-right symmetric template


def test_weights_and_regressor(small):
    model, aux = small
    w, reg, v = model["weights"], model["J_regressor"], model["v_template"]
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(reg.sum(1), 1.0, atol=1e-12)
    assert w.min() >= 0 and reg.min() >= 0
    eyes = aux["flame_indices"]["eyeballs"]
    left = eyes[v[eyes, 0] > 0]
    assert np.all(w[left, 3] == 1.0) and np.all(w[np.setdiff1d(eyes, left), 4] == 1.0)
    low_neck = v[:, 1] < v[:, 1].min() + 0.01
    assert np.all(w[low_neck, 0] > 0.99)
    crown = v[:, 1] > 0.06
    assert np.all(w[crown, 1] == 1.0)
    lmk = _landmarks(model, aux)
    chin = np.linalg.norm(v - lmk[8], axis=1) < 0.01
    assert np.all(w[chin, 2] > 0.9)


def test_joint_locations(small):
    model, aux = small
    v = model["v_template"]
    joints = model["J_regressor"] @ v
    lmk = _landmarks(model, aux)
    eyes = aux["flame_indices"]["eyeballs"]
    for j, sign in ((3, 1), (4, -1)):
        ball = eyes[np.sign(v[eyes, 0]) == sign]
        centre = 0.5 * (v[ball].max(0) + v[ball].min(0))
        radius = np.linalg.norm(v[ball] - centre, axis=1).max()
        assert np.linalg.norm(joints[j] - centre) < 0.2 * radius
        assert np.sign(joints[j, 0]) == sign
    root, neck, jaw = joints[:3]
    assert abs(jaw[0]) < 1e-6 and jaw[1] > lmk[62, 1] + 0.03 and jaw[2] < lmk[62, 2] - 0.05
    assert root[1] < neck[1] < jaw[1] and root[1] < lmk[8, 1]


def test_jaw_opening_separates_lips_and_keeps_cranium(small):
    model, aux = small
    pose = np.zeros((5, 3))
    pose[2, 0] = 0.3
    posed = _lbs(model, pose)
    rest, moved = _landmarks(model, aux), _landmarks(model, aux, posed)
    assert np.linalg.norm(rest[62] - rest[66]) < 0.002
    assert np.linalg.norm(moved[62] - moved[66]) > 0.005
    assert moved[66, 1] < rest[66, 1] - 0.01  # the lower lip goes down
    cranium = model["v_template"][:, 1] > 0.02
    np.testing.assert_allclose(posed[cranium], model["v_template"][cranium], atol=1e-12)
    still = model["weights"][:, 2] == 0
    np.testing.assert_allclose(posed[still], model["v_template"][still], atol=1e-12)
    stretch = _edge_lengths(posed, model["f"]) / _edge_lengths(model["v_template"], model["f"])
    assert stretch.max() < 5.0  # the mouth corners, the pocket and the skin under the jaw stretch; no tear


def test_pose_correctives_small_and_local(small):
    model, aux = small
    posedirs = model["posedirs"]
    assert np.abs(posedirs).max() < 0.02
    np.testing.assert_array_equal(posedirs[aux["flame_indices"]["eyeballs"]], 0.0)
    assert np.abs(posedirs[:, :, 27:]).max() == 0.0  # eye joints have none
    jaw_open = posedirs[:, :, 16] - posedirs[:, :, 14]  # d offsets / d sin(angle) about x
    moving = np.linalg.norm(jaw_open, axis=1) > 1e-4
    assert moving.any() and np.all(model["v_template"][moving, 1] < -0.07)


def test_shape_basis_orthogonal_and_scaled(small):
    model, _ = small
    num_v = model["v_template"].shape[0]
    shape = model["shapedirs"][:, :, :20].reshape(-1, 20)
    gram = shape.T @ shape
    norms = np.sqrt(np.diag(gram))
    np.testing.assert_allclose(gram / np.outer(norms, norms), np.eye(20), atol=1e-9)
    rms = norms / np.sqrt(num_v)
    assert np.all(np.diff(rms) < 0)  # decaying standard deviations
    first = 2.0 * np.linalg.norm(model["shapedirs"][:, :, 0], axis=1)
    assert 0.003 < first.max() < 0.02  # +-2 on the first component: visible but plausible


def test_expression_basis_is_local(small):
    model, aux = small
    expr = model["shapedirs"][:, :, 20:]
    v = model["v_template"]
    moved = np.linalg.norm(expr, axis=1).max(1)
    face = aux["flame_indices"]["face"]
    assert moved[face].max() > 0.002
    still = np.setdiff1d(np.arange(v.shape[0]), face)
    back = still[(v[still, 2] < -0.06) | (v[still, 1] < -0.13)]
    ears = still[np.abs(v[still, 0]) > 0.075]
    assert moved[back].max() < 1e-6 and moved[ears].max() < 1e-6
    assert moved[aux["flame_indices"]["eyeballs"]].max() == 0.0


def test_blink_closes_the_left_eye_only(small):
    model, aux = small
    coeff = np.zeros(32)
    coeff[20 + NAMED_EXPRESSIONS.index("blink_left")] = FULL_ACTION
    closed = model["v_template"] + np.einsum("vdk,k->vd", model["shapedirs"], coeff)
    rest, blink = _landmarks(model, aux), _landmarks(model, aux, closed)
    pairs_left, pairs_right = [(43, 47), (44, 46)], [(37, 41), (38, 40)]
    for a, b in pairs_left:
        assert np.linalg.norm(rest[a] - rest[b]) > 0.006
        assert np.linalg.norm(blink[a] - blink[b]) < 0.0025
    for a, b in pairs_right:
        assert np.linalg.norm(blink[a] - blink[b]) == pytest.approx(np.linalg.norm(rest[a] - rest[b]))


def test_embeddings_are_valid(small):
    model, aux = small
    num_f = model["f"].shape[0]
    for emb in (aux["static_embedding"], aux["dynamic_embedding"]):
        assert emb["lmk_face_idx"].dtype == np.int64
        assert emb["lmk_face_idx"].min() >= 0 and emb["lmk_face_idx"].max() < num_f
        assert emb["lmk_b_coords"].min() >= 0
        np.testing.assert_allclose(emb["lmk_b_coords"].sum(-1), 1.0, atol=1e-12)


def test_landmark_semantics(small):
    model, aux = small
    lmk = _landmarks(model, aux)
    for a, b in ((36, 45), (39, 42), (48, 54), (31, 35), (17, 26), (0, 16)):
        np.testing.assert_allclose(lmk[a] * [-1, 1, 1], lmk[b], atol=1.5e-3, err_msg=f"{a}<->{b}")
    assert lmk[0, 0] < 0 and lmk[16, 0] > 0 and lmk[36, 0] < lmk[39, 0] < 0 < lmk[42, 0] < lmk[45, 0]
    assert np.argmax(lmk[27:36, 2]) == 3  # the nose tip (30) is the most forward nose point
    assert np.argmin(lmk[:17, 1]) == 8  # the chin is the lowest contour point
    eyes, nose, mouth = lmk[36:48, 1].mean(), lmk[27:36, 1].mean(), lmk[48:68, 1].mean()
    assert eyes > nose > mouth
    assert lmk[17:27, 1].min() > lmk[36:48, 1].max()  # brows above the eyes
    assert lmk[51, 1] > lmk[62, 1] > lmk[66, 1] > lmk[57, 1]  # lip contours ordered top to bottom
    assert np.all(np.diff(lmk[:9, 0]) > 0) and np.all(np.diff(lmk[8:17, 0]) > 0)  # contour left to right


def test_dynamic_contour_follows_the_silhouette(small):
    model, aux = small
    frontal, turned = _landmarks(model, aux, row=0), _landmarks(model, aux, row=30)
    # Row 30: the head turned by -30 degrees about y, so the camera sees more of the left (+x) side and
    # the left contour moves back towards the ear while the right one moves forward.
    assert np.all(turned[10:16, 2] < frontal[10:16, 2] + 1e-9)
    assert np.all(turned[1:7, 2] > frontal[1:7, 2] - 1e-9)
    np.testing.assert_allclose(turned[8], frontal[8], atol=0.004)
    mirror = _landmarks(model, aux, row=39 + 30)
    np.testing.assert_allclose(mirror[:17] * [-1, 1, 1], turned[16::-1], atol=2e-3)


def test_vertex_subsets_nest(small):
    model, aux = small
    idx = aux["flame_indices"]
    for name, values in idx.items():
        assert values.dtype == np.int64 and np.all(np.diff(values) > 0), name
    assert np.isin(idx["face"], idx["head"]).all() and np.isin(idx["head"], idx["face_w_ears"]).all()
    assert idx["face"].size < idx["head"].size < idx["face_w_ears"].size
    assert not np.isin(idx["eyeballs"], idx["face_w_ears"]).any()
    v = model["v_template"]
    assert v[idx["face"], 2].mean() > v[idx["face_w_ears"], 2].mean()  # the face is the front
    lmk_faces = aux["static_embedding"]["lmk_face_idx"]
    assert np.isin(model["f"][lmk_faces], idx["face"]).all()


@pytest.mark.parametrize("size", [191, 445])
def test_dense_keypoint_counts(small, size):
    model, aux = small
    groups = aux[f"keypoints_{size}"]
    expected = {"brows", "contour", "eyes", "forehead", "lips", "nose"}
    if size == 445:
        expected |= {"cheeks", "temples"}
    assert set(groups) == expected
    counted = [
        ids for g, parts in groups.items() if not (size == 445 and g == "cheeks") for ids in parts.values()
    ]
    union = np.unique(np.concatenate(counted))
    assert union.size == size
    assert np.isin(union, aux["flame_indices"]["head"]).all()
    assert not np.isin(union, aux["flame_indices"]["eyeballs"]).any()
    v = model["v_template"]
    left = groups["brows"]["left"]
    assert np.all(v[left, 0] > 0) and np.all(v[groups["brows"]["right"], 0] < 0)


def test_regions_and_albedo(small):
    model, aux = small
    names = list(model["region_names"])
    for required in ("skin", "lips", "brows", "sclera", "iris", "pupil", "hair", "inner_mouth", "neck"):
        assert required in names
    albedo, region, v = model["vertex_albedo"], model["vertex_region"], model["v_template"]
    assert albedo.min() >= 0 and albedo.max() <= 1
    assert region.min() >= 0 and region.max() < len(names)
    code = {n: names.index(n) for n in names}
    eyes = aux["flame_indices"]["eyeballs"]
    assert set(region[eyes]) == {code["sclera"], code["iris"], code["pupil"]}
    crown_back = (v[:, 1] > 0.1) | ((v[:, 2] < -0.1) & (v[:, 1] > -0.02))
    assert np.all(region[crown_back] == code["hair"])
    assert np.all(region[v[:, 1] < -0.16] == code["neck"])
    lmk_faces = model["f"][aux["static_embedding"]["lmk_face_idx"][48 - 17 : 68 - 17]]
    assert np.mean(region[lmk_faces] == code["lips"]) > 0.6
    assert (region == code["inner_mouth"]).any()
    assert not np.allclose(albedo[region == code["hair"]].mean(0), albedo[region == code["skin"]].mean(0))


def test_loads_through_the_flame_assets(small):
    from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData

    model_raw, aux_raw = small
    model = FlameModelData.from_arrays(model_raw, source="embedded-test")
    assets = FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="embedded-test"))
    assert model.num_shape == 20 and model.num_expression == 12
    assert assets.aux.dense["191"].size == 191 and assets.aux.dense["445"].size == 445
    np.testing.assert_allclose(
        assets.landmarks(model_raw["v_template"]), _landmarks(model_raw, aux_raw), atol=1e-6
    )


def test_the_model_does_not_depend_on_the_blas_thread_count():
    """A multi-threaded BLAS sums in another order: without one BLAS thread inside the generator the
    default model's bytes differed between OMP_NUM_THREADS=1 and 2 (and synthetic datasets made under one
    refused to resume under the other)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        two, _ = generate_head_model()
    with threadpool_limits(limits=1, user_api="blas"):
        one, _ = generate_head_model()
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)

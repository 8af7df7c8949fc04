"""Scoring predictions: agreement with a transcription of the reference, per-attribute tables, problems."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from gt_samples import perturbed_prediction, synthetic_gt_item

from trans3dhead.metrics.benchmark import BenchmarkOptions, score_predictions
from trans3dhead.metrics.groundtruth import GtItem
from trans3dhead.metrics.report import report_dict, report_markdown
from trans3dhead.metrics.topology import BenchmarkTopology

ATTRIBUTES = [{"pose": "front", "gender": "male"}, {"pose": "sided", "gender": "male"}, {"pose": "front"}]


@pytest.fixture
def topology(tiny_assets):
    return BenchmarkTopology.from_assets(tiny_assets)


def make_items(assets, count: int, seed: int = 0) -> list[GtItem]:
    rng = np.random.default_rng(seed)
    vertices = assets.model.v_template
    return [synthetic_gt_item(vertices, item_id=f"img{i}", rng=rng) for i in range(count)]


def noisy(items, topology, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {
        gt.item_id: perturbed_prediction(
            gt, topology, rng=rng, pixel_noise=3.0, vertex_noise=0.05, rotation_noise_deg=7.0
        )
        for gt in items
    }


# ---- an independent transcription of the reference benchmark's per-item formulas ----
# (docs/conventions.md section 11)


def ref_landmarks(vertices, topology):
    corners = vertices[topology.landmark_corners]  # (68, 3, 3)
    return (corners * topology.landmark_bary[:, :, None]).sum(axis=1)


def ref_similarity(target, source):
    """Least-squares similarity (reflection allowed) from source to target, in float64 (Umeyama)."""
    mu_t, mu_s = target.mean(0), source.mean(0)
    t0, s0 = target - mu_t, source - mu_s
    u, sigma, vt = np.linalg.svd(s0.T @ t0)
    rotation = u @ vt
    scale = sigma.sum() / (s0**2).sum()
    return lambda points: scale * (points - mu_s) @ rotation + mu_t


def ref_item_metrics(gt: GtItem, entry: dict, topology) -> dict[str, float]:
    v, mv, proj = gt.vertices, gt.model_view, gt.projection
    world = (mv @ np.concatenate([v, np.ones_like(v[:, :1])], 1).T).T[:, :3]
    lmk = ref_landmarks(v, topology)
    lmk = (proj @ (mv @ np.concatenate([lmk, np.ones_like(lmk[:, :1])], 1).T)).T
    lmk = np.stack([lmk[:, 0] / lmk[:, 3], gt.image_height - lmk[:, 1] / lmk[:, 3]], 1)
    pred_lmk = np.array(entry["68_landmarks_2d"], np.float32)
    nme = 100 * np.mean(np.linalg.norm(lmk - pred_lmk, axis=1)) / np.sqrt(gt.bbox[2] * gt.bbox[3])
    r_gt = (np.diag([1, -1, -1, 1]) @ mv)[:3, :3]
    pose = np.linalg.norm(np.eye(3) - np.array(entry["rotation_matrix"], np.float32) @ r_gt.T, "fro")
    g = torch.from_numpy(-world[topology.head])
    p = torch.tensor(entry["N_landmarks_3d"])[topology.head]
    table = torch.argsort(torch.cdist(g, g, compute_mode="donot_use_mm_for_euclid_dist"), dim=0)[:, 1:6]
    agree = [(g[i, 2] >= g[k, 2]) == (p[i, 2] >= p[k, 2]) for i in range(len(g)) for k in table[i].tolist()]
    world = world.astype(np.float64)
    lmk3 = ref_landmarks(world, topology)
    world = world * 20 / np.linalg.norm(lmk3[39] - lmk3[42])
    align = ref_similarity(
        ref_landmarks(world, topology)[list(topology.keypoints)], np.array(entry["7_landmarks_3d"])
    )
    aligned = align(np.array(entry["N_landmarks_3d"], np.float64))
    face = world[topology.face]
    chamfer = np.mean(np.min(((face[:, None] - aligned[None]) ** 2).sum(-1), axis=1))
    return {"nme_reprojection": nme, "pose_error": pose, "z5_accuracy": np.mean(agree), "chamfer": chamfer}


def test_scores_match_a_transcription_of_the_reference(tiny_assets, topology):
    items = make_items(tiny_assets, 5)
    predictions = noisy(items, topology)
    result = score_predictions(items, predictions, topology=topology)
    assert result.problems == []
    tolerance = {"nme_reprojection": 1e-5, "pose_error": 1e-9, "z5_accuracy": 1e-7, "chamfer": 1e-4}
    for gt, item in zip(items, result.items, strict=True):
        expected = ref_item_metrics(gt, predictions[gt.item_id], topology)
        for key, value in expected.items():
            assert item.values[key] == pytest.approx(value, rel=tolerance[key]), key
    z5 = [item.values["z5_accuracy"] for item in result.items]
    assert result.overall["z5_accuracy"].mean == float(np.mean(np.asarray(z5, np.float32)))


def test_perfect_prediction(tiny_assets, topology):
    items = make_items(tiny_assets, 3)
    result = score_predictions(
        items, {gt.item_id: perturbed_prediction(gt, topology) for gt in items}, topology=topology
    )
    means = {key: summary.mean for key, summary in result.overall.items()}
    assert means["nme_reprojection"] == 0.0
    assert means["z5_accuracy"] == 1.0
    assert means["pose_error"] == pytest.approx(0.0, abs=1e-6)
    assert means["chamfer"] == pytest.approx(0.0, abs=1e-6)
    assert all(summary.scored == 3 for summary in result.overall.values())


def test_rotation_error_theta(tiny_assets, topology):
    items = make_items(tiny_assets, 2)
    predictions = {gt.item_id: perturbed_prediction(gt, topology, rotation_noise_deg=30.0) for gt in items}
    result = score_predictions(items, predictions, topology=topology)
    expected = 2 * np.sqrt(2) * np.sin(np.deg2rad(30.0) / 2)
    assert result.overall["pose_error"].mean == pytest.approx(expected, abs=1e-6)
    assert result.overall["pose_angle_deg"].mean == pytest.approx(30.0, abs=1e-4)


def test_per_attribute_table(tiny_assets, topology):
    items = [
        dataclasses.replace(gt, bbox=np.array([0.0, 0.0, 100.0, 100.0]), attributes=attrs)
        for gt, attrs in zip(make_items(tiny_assets, 3), ATTRIBUTES, strict=True)
    ]
    predictions = {}
    for gt, offset in zip(items, ([3.0, 4.0], [6.0, 8.0], [0.0, 0.0]), strict=True):  # 5, 10, 0 px
        entry = perturbed_prediction(gt, topology)
        entry["68_landmarks_2d"] = (np.array(entry["68_landmarks_2d"]) + offset).tolist()
        predictions[gt.item_id] = entry
    result = score_predictions(items, predictions, topology=topology)
    rows = {(r.attribute, r.value): (r.count, r.metrics["nme_reprojection"].mean) for r in result.attributes}
    assert list(rows) == [("pose", "front"), ("pose", "sided"), ("gender", "male")]
    assert rows[("pose", "front")] == (2, pytest.approx(2.5, rel=1e-5))
    assert rows[("pose", "sided")] == (1, pytest.approx(10.0, rel=1e-5))
    assert rows[("gender", "male")] == (2, pytest.approx(7.5, rel=1e-5))
    assert result.overall["nme_reprojection"].mean == pytest.approx(5.0, rel=1e-5)
    text = report_markdown(result)
    assert "| pose | sided | 1 | 10.0000 |" in text and "| gender | male | 2 | 7.5000 |" in text


def test_missing_nan_and_wrong_shape_are_reported_and_isolated(tiny_assets, topology):
    items = make_items(tiny_assets, 5)
    clean = noisy(items, topology)
    bad = {key: dict(value) for key, value in clean.items()}
    del bad["img0"]
    bad["img1"]["68_landmarks_2d"][5][1] = float("nan")
    bad["img2"]["rotation_matrix"] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    bad["img3"]["N_landmarks_3d"] = bad["img3"]["N_landmarks_3d"][:-1]  # not the model's topology
    bad["stray"] = clean["img4"]
    good, result = (score_predictions(items, p, topology=topology) for p in (clean, bad))
    found = {(p.item_id, p.field, p.kind) for p in result.problems}
    assert found == {
        ("img0", "*", "missing_prediction"),
        ("img1", "68_landmarks_2d", "non_finite"),
        ("img2", "rotation_matrix", "wrong_shape"),
        ("img3", "N_landmarks_3d", "wrong_topology"),
        ("stray", "*", "unexpected_id"),
    }
    unscored = {"img0": set(good.items[0].values), "img1": {"nme_reprojection"}, "img3": {"z5_accuracy"}}
    unscored["img2"] = {"pose_error", "pose_angle_deg"}
    for before, after in zip(good.items, result.items, strict=True):
        missing = unscored.get(before.item_id, set())
        assert set(after.values) == set(before.values) - missing
        changed = {"chamfer"} if before.item_id == "img3" else set()  # img3 lost one predicted point
        assert all(after.values[k] == before.values[k] for k in set(after.values) - changed)
    nme = result.overall["nme_reprojection"]
    assert (nme.scored, nme.total) == (3, 5)
    assert nme.mean == pytest.approx(np.mean([good.items[k].values["nme_reprojection"] for k in (2, 3, 4)]))
    report = report_dict(result)
    assert report["problems"]["count"] == 5 and report["problems"]["items_affected"] == 4
    assert report["overall"]["z5_accuracy"]["coverage"] == pytest.approx(3 / 5)


def test_bad_field_types_are_reported(tiny_assets, topology):
    items = make_items(tiny_assets, 1)
    entry = perturbed_prediction(items[0], topology)
    entry["68_landmarks_2d"] = [["x", "y"]] * 68
    entry["7_landmarks_3d"] = [[1.0, 2.0], [3.0]]
    del entry["rotation_matrix"]
    result = score_predictions(items, {"img0": entry}, topology=topology)
    kinds = {(p.field, p.kind) for p in result.problems}
    assert kinds == {
        ("68_landmarks_2d", "wrong_type"),
        ("7_landmarks_3d", "wrong_type"),
        ("rotation_matrix", "missing_field"),
    }
    assert set(result.items[0].values) == {"z5_accuracy"}
    assert score_predictions(items, {"img0": [1, 2]}, topology=topology).problems[0].kind == "not_an_object"


def test_flat_3d_fields_are_accepted_like_the_reference(tiny_assets, topology):
    items = make_items(tiny_assets, 1)
    entry = perturbed_prediction(items[0], topology)
    flat = dict(entry, N_landmarks_3d=np.ravel(entry["N_landmarks_3d"]).tolist())
    flat["7_landmarks_3d"] = np.ravel(entry["7_landmarks_3d"]).tolist()
    a, b = (score_predictions(items, {"img0": e}, topology=topology) for e in (entry, flat))
    assert b.problems == [] and a.items[0].values == b.items[0].values


def test_dense_nme_from_the_projected_points_extension(tiny_assets, topology):
    items = make_items(tiny_assets, 2)
    predictions = {}
    for gt in items:
        entry = perturbed_prediction(gt, topology)
        pixels = torch.from_numpy(np.concatenate([gt.vertices, np.ones_like(gt.vertices[:, :1])], 1))
        clip = pixels @ torch.from_numpy(gt.projection @ gt.model_view).T
        xy = clip[:, :2] / clip[:, 3:]
        entry["N_landmarks_2d"] = (torch.stack([xy[:, 0], gt.image_height - xy[:, 1]], 1) + 2.0).tolist()
        predictions[gt.item_id] = entry
    result = score_predictions(items, predictions, topology=topology)
    assert {"nme_191", "nme_445"} <= set(result.metric_keys)
    expected = np.mean([100 * np.sqrt(8) / np.sqrt(gt.bbox[2] * gt.bbox[3]) for gt in items])
    assert result.overall["nme_191"].mean == pytest.approx(expected, rel=1e-3)
    assert "nme_191" not in score_predictions(items, noisy(items, topology), topology=topology).metric_keys


def test_knn_option_changes_only_z5(tiny_assets, topology):
    items = make_items(tiny_assets, 3)
    predictions = noisy(items, topology)
    ref = score_predictions(items, predictions, topology=topology)
    knn = score_predictions(items, predictions, topology=topology, options=BenchmarkOptions(z5_variant="knn"))
    for key in ("nme_reprojection", "chamfer", "pose_error"):
        assert ref.overall[key].mean == knn.overall[key].mean
    assert 0.0 < knn.overall["z5_accuracy"].mean <= 1.0


def test_bad_options_and_gt_model_mismatch(tiny_assets, topology):
    with pytest.raises(ValueError, match="z5_variant must be one of"):
        BenchmarkOptions(z5_variant="nearest")
    with pytest.raises(ValueError, match="z5_n must be a positive integer"):
        BenchmarkOptions(z5_n=0)
    item = make_items(tiny_assets, 1)[0]
    short = dataclasses.replace(item, vertices=item.vertices[:-1])
    with pytest.raises(ValueError, match="GT item 'img0' has 39 vertices but the FLAME model has 40"):
        score_predictions([short], {}, topology=topology)


def test_gt_camera_and_projection_agree_with_geometry(tiny_assets):
    from trans3dhead.geometry import gt_camera_vertices, gt_project

    gt = make_items(tiny_assets, 1)[0]
    v, mv, proj = (
        torch.from_numpy(a.astype(np.float64)) for a in (gt.vertices, gt.model_view, gt.projection)
    )
    assert np.allclose(gt.camera_vertices(), gt_camera_vertices(v, mv).numpy(), rtol=1e-6, atol=1e-6)
    assert np.allclose(gt.project(gt.vertices), gt_project(v, mv, proj, gt.image_height).numpy(), atol=1e-3)
    assert gt.camera_vertices().dtype == np.float32 and gt.project(gt.vertices).dtype == np.float32

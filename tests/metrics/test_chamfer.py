"""Procrustes (MATLAB semantics) and the benchmark's Chamfer distance."""

from __future__ import annotations

import numpy as np
import pytest
from gt_samples import image_frame_vertices, perturbed_prediction, synthetic_gt_item
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from trans3dhead.metrics.benchmark import score_item
from trans3dhead.metrics.chamfer import chamfer_distance, one_sided_chamfer, scale_to_eye_distance
from trans3dhead.metrics.procrustes import DegenerateError, procrustes
from trans3dhead.metrics.submission import parse_prediction
from trans3dhead.metrics.topology import BenchmarkTopology

REFLECT = np.diag([1.0, 1.0, -1.0])


@pytest.fixture
def topology(tiny_assets):
    return BenchmarkTopology.from_assets(tiny_assets)


@pytest.fixture
def gt_item(tiny_assets):
    return synthetic_gt_item(tiny_assets.model.v_template, item_id="a", rng=np.random.default_rng(0))


def camera_vertices(gt) -> np.ndarray:
    return image_frame_vertices(gt) @ np.diag([1.0, -1.0, -1.0]).astype(np.float32)


@pytest.mark.parametrize("flip", [False, True])
def test_procrustes_recovers_a_similarity(flip):
    rng = np.random.default_rng(0)
    source = rng.normal(size=(7, 3))
    rotation = Rotation.random(random_state=1).as_matrix() @ (REFLECT if flip else np.eye(3))
    target = 2.5 * source @ rotation + np.array([1.0, -2.0, 3.0])
    fit = procrustes(target, source)
    assert fit.residual == pytest.approx(0.0, abs=1e-12)
    assert float(fit.transform.scale) == pytest.approx(2.5)
    assert np.allclose(fit.transform.rotation, rotation)
    assert np.allclose(fit.transform.apply(source), target)


def test_procrustes_residual_matches_scipy_and_reflection_control():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(7, 3))
    target = source @ REFLECT + rng.normal(scale=0.1, size=(7, 3))
    _, _, disparity = scipy_procrustes(target, source)
    assert procrustes(target, source).residual == pytest.approx(disparity)
    proper = procrustes(target, source, reflection=False)
    assert np.linalg.det(proper.transform.rotation) == pytest.approx(1.0)
    assert proper.residual > procrustes(target, source).residual
    assert np.linalg.det(procrustes(source, source, reflection=True).transform.rotation) == pytest.approx(
        -1.0
    )
    unscaled = procrustes(target, 3.0 * source, scaling=False)
    assert float(unscaled.transform.scale) == 1.0


def test_procrustes_keeps_float32():
    rng = np.random.default_rng(3)
    fit = procrustes(rng.normal(size=(7, 3)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32))
    assert fit.transform.rotation.dtype == np.float32
    assert fit.transform.apply(np.zeros((4, 3), np.float32)).dtype == np.float32


def test_procrustes_bad_inputs():
    points = np.random.default_rng(0).normal(size=(7, 3))
    with pytest.raises(DegenerateError, match="source points are degenerate"):
        procrustes(points, np.ones((7, 3)))
    with pytest.raises(ValueError, match=r"must both be \(K, D\) of one shape"):
        procrustes(points, points[:6])


def test_one_sided_chamfer_is_a_mean_of_squared_distances():
    source = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    target = [[0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [5.0, 5.0, 5.0]]
    assert one_sided_chamfer(source, target) == 0.5  # (0,0,0) -> (1,0,0): 1, (1,0,0) -> itself: 0
    assert one_sided_chamfer(target, source) == pytest.approx((4 + 0 + 66) / 3)  # (5,5,5) -> (1,0,0): 66
    assert one_sided_chamfer([[0.0, 0.0, 0.0]], [[3.0, 4.0, 0.0]]) == 25.0
    with pytest.raises(ValueError, match="must be non-empty"):
        one_sided_chamfer(np.zeros((0, 3)), target)


def test_gt_is_scaled_to_inter_eye_distance_20(gt_item, topology):
    scaled = scale_to_eye_distance(camera_vertices(gt_item), topology)
    keypoints = topology.keypoints_3d(scaled)
    assert np.linalg.norm(keypoints[1] - keypoints[2]) == pytest.approx(20.0, rel=1e-6)


def test_perfect_prediction_has_zero_chamfer(gt_item, topology):
    points = image_frame_vertices(gt_item)
    value = chamfer_distance(
        camera_vertices(gt_item), points, topology.keypoints_3d(points), topology=topology
    )
    assert value == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_chamfer_is_invariant_to_a_similarity_of_the_prediction(gt_item, topology, flip):
    rng = np.random.default_rng(4)
    points = image_frame_vertices(gt_item) + rng.normal(scale=0.004, size=(topology.num_vertices, 3))
    points = points.astype(np.float32)
    keypoints = topology.keypoints_3d(points)
    before = chamfer_distance(camera_vertices(gt_item), points, keypoints, topology=topology)
    rotation = Rotation.random(random_state=5).as_matrix() @ (REFLECT if flip else np.eye(3))
    move = lambda p: (0.37 * p @ rotation + np.array([4.0, -9.0, 1.5])).astype(np.float32)  # noqa: E731
    after = chamfer_distance(camera_vertices(gt_item), move(points), move(keypoints), topology=topology)
    assert before > 0.01
    assert after == pytest.approx(before, rel=1e-3)  # float32 arithmetic, as in the benchmark


def test_chamfer_accepts_any_number_of_predicted_points(gt_item, topology):
    points = image_frame_vertices(gt_item)
    dense = np.concatenate([points, points[:5] + 0.001]).astype(np.float32)
    value = chamfer_distance(
        camera_vertices(gt_item), dense, topology.keypoints_3d(points), topology=topology
    )
    assert value == pytest.approx(0.0, abs=1e-6)


def test_degenerate_keypoints_are_a_reported_problem(gt_item, topology):
    entry = perturbed_prediction(gt_item, topology)
    entry["7_landmarks_3d"] = [[1.0, 2.0, 3.0]] * 7
    prediction, parse_problems = parse_prediction("a", entry)
    values, problems = score_item(gt_item, prediction, topology=topology)
    assert parse_problems == []
    assert "chamfer" not in values and values["z5_accuracy"] == 1.0
    assert [(p.field, p.kind, p.metrics) for p in problems] == [
        ("7_landmarks_3d", "degenerate", ("chamfer",))
    ]

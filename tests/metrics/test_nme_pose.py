"""NME, pose error, pose angle and AFLW2000-3D Euler errors: known answers and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from trans3dhead.metrics.euler import euler_angles, euler_errors, euler_mae
from trans3dhead.metrics.nme import bbox_normaliser, nme
from trans3dhead.metrics.pose import gt_pose_rotation, pose_angle, pose_error


def test_nme_known_answer():
    target = np.random.default_rng(0).uniform(0, 200, size=(68, 2))
    pred = target + np.array([3.0, 4.0])  # every point 5 px off
    value = nme(pred, target, bbox=[10, 20, 50, 200])  # sqrt(50 * 200) = 100
    assert value == pytest.approx(5.0, rel=1e-6)
    assert nme(target, target, bbox=[0, 0, 10, 10]) == 0.0


def test_nme_batched_and_torch_inputs():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 100, size=(4, 68, 2)).astype(np.float32)
    pred = target + rng.normal(size=target.shape).astype(np.float32)
    boxes = rng.uniform(20, 80, size=(4, 4))
    batched = nme(torch.from_numpy(pred).requires_grad_(), torch.from_numpy(target), bbox=boxes)
    assert batched.shape == (4,)
    assert batched.tolist() == [float(nme(p, t, bbox=b)) for p, t, b in zip(pred, target, boxes, strict=True)]


def test_nme_follows_reference_float32_arithmetic():
    rng = np.random.default_rng(2)
    target = rng.uniform(0, 500, size=(68, 2)).astype(np.float32)
    pred = (target + rng.normal(scale=4, size=target.shape)).astype(np.float32)
    bbox = [12, 30, 151, 187]
    errors = np.linalg.norm(target - pred, 2, -1)
    reference = float(np.mean(errors / np.float32(np.sqrt(bbox[2] * bbox[3])))) * 100.0
    assert float(nme(pred, target, bbox=bbox)) == reference


def test_nme_bad_inputs():
    points = np.zeros((68, 2))
    with pytest.raises(ValueError, match="bbox must be finite"):
        nme(points, points, bbox=[0, 0, 0, 10])
    with pytest.raises(ValueError, match=r"bbox must have shape \(\.\.\., 4\)"):
        nme(points, points, bbox=[0, 0, 10])
    with pytest.raises(ValueError, match="pred has 67 points but target has 68"):
        nme(points[:67], points, bbox=[0, 0, 1, 1])
    with pytest.raises(ValueError, match=r"target must have shape \(\.\.\., \*, 2\)"):
        nme(points, np.zeros((68, 3)), bbox=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="pred must be a numeric array"):
        nme([["a", "b"]], points[:1], bbox=[0, 0, 1, 1])
    assert bbox_normaliser([[0, 0, 4, 9], [1, 1, 2, 8]]).tolist() == [6.0, 4.0]


@pytest.mark.parametrize("theta_deg", [0.0, 1.0, 10.0, 45.0, 90.0, 179.0])
def test_pose_error_of_a_rotation_by_theta(theta_deg):
    gt = Rotation.random(random_state=int(theta_deg)).as_matrix()
    delta = Rotation.from_rotvec(np.deg2rad(theta_deg) * np.array([0.6, 0.0, 0.8])).as_matrix()
    pred = delta @ gt
    expected = 2 * math.sqrt(2) * math.sin(math.radians(theta_deg) / 2)
    assert float(pose_error(pred, gt)) == pytest.approx(expected, abs=2e-6)
    assert float(pose_angle(pred, gt)) == pytest.approx(theta_deg, abs=1e-3)


def test_pose_error_perfect_and_batched():
    gt = Rotation.random(5, random_state=0).as_matrix()
    assert np.allclose(pose_error(gt, gt), 0.0, atol=1e-6)
    pred = Rotation.random(5, random_state=1).as_matrix()
    batched = pose_error(pred, gt)
    assert batched.shape == (5,)
    assert np.allclose(batched, [pose_error(p, g) for p, g in zip(pred, gt, strict=True)], rtol=0, atol=1e-15)


def test_gt_pose_rotation_flips_rows():
    model_view = np.eye(4)
    model_view[:3, :3] = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    model_view[:3, 3] = [1, 2, -30]
    rotation = gt_pose_rotation(model_view)
    assert rotation.dtype == np.float64
    assert np.array_equal(rotation, np.diag([1, -1, -1]) @ model_view[:3, :3].astype(np.float32))


def test_pose_bad_inputs():
    with pytest.raises(ValueError, match=r"pred_rotation must have shape \(\.\.\., 3, 3\)"):
        pose_error(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match=r"model_view must have shape \(\.\.\., 4, 4\)"):
        gt_pose_rotation(np.eye(3))


def test_euler_errors_and_mae():
    gt = np.array([[10.0, -20.0, 30.0], [0.0, 0.0, 120.0], [179.0, 5.0, -5.0]])
    pred = np.array([[12.0, -21.0, 27.0], [0.0, 0.0, 0.0], [-179.0, 5.0, -5.0]])
    assert euler_errors(pred, gt).tolist() == [[2.0, 1.0, 3.0], [0.0, 0.0, 120.0], [358.0, 0.0, 0.0]]
    assert euler_errors(pred, gt, wrap=True)[2].tolist() == [2.0, 0.0, 0.0]
    table = euler_mae(pred, gt)  # rows 2 (yaw 120) and 3 (roll 179) fall outside [-99, 99]
    assert (table.count, table.excluded) == (1, 2)
    assert (table.roll, table.pitch, table.yaw, table.mean) == (2.0, 1.0, 3.0, 2.0)
    everything = euler_mae(pred, gt, max_abs_gt=None, wrap=True)
    assert (everything.count, everything.excluded) == (3, 0)
    assert (everything.roll, everything.yaw) == pytest.approx((4.0 / 3, 123.0 / 3))


def test_euler_angles_of_frontal_face():
    assert np.allclose(euler_angles(np.diag([1.0, -1.0, -1.0])), 0.0, atol=1e-12)


def test_euler_bad_inputs():
    with pytest.raises(ValueError, match=r"pred_euler must have shape \(\.\.\., 3\)"):
        euler_errors(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no image has all GT angles within"):
        euler_mae(np.zeros((1, 3)), np.array([[0.0, 0.0, 150.0]]))
    with pytest.raises(ValueError, match=r"must be \(B, 3\)"):
        euler_mae(np.zeros(3), np.zeros(3))

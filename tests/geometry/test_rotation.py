"""Tests for trans3dhead.geometry.rotation: known answers, scipy agreement, round trips, stability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from trans3dhead.geometry.camera import ortho_project
from trans3dhead.geometry.rotation import (
    axis_angle_to_matrix,
    euler_to_matrix,
    gt_rotation,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
    rotation_angle,
    rotation_distance,
    wrap_angle,
)

FRONTAL = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))


def random_rotations(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(Rotation.random(n, random_state=seed).as_matrix())


def reference_euler(matrix: np.ndarray) -> np.ndarray:
    """The benchmark's definition, written with scipy: (roll, pitch, yaw) in degrees."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal-lock warning
        ang = Rotation.from_matrix(np.swapaxes(matrix, -1, -2)).as_euler("xyz", degrees=True)
    return np.stack([wrap_angle(ang[..., 2]), wrap_angle(ang[..., 0] - 180), wrap_angle(ang[..., 1])], -1)


def angle_close(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    return bool(np.all(np.abs(wrap_angle(np.asarray(a) - np.asarray(b))) <= atol))


# ----------------------------------------------------------------------------------------------- 6D


def test_6d_identity_and_known_rotation():
    d6 = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    assert torch.allclose(rotation_6d_to_matrix(d6), torch.eye(3))
    rz90 = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # columns: first two columns of Rz(90) are (0, 1, 0) and (-1, 0, 0)
    assert torch.allclose(rotation_6d_to_matrix(torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 0.0])), rz90)


def test_6d_is_column_convention_and_gram_schmidt():
    d6 = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    r = rotation_6d_to_matrix(d6)
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(50, 3, 3))
    assert torch.allclose(torch.linalg.det(r), torch.ones(50, dtype=torch.float64))
    a1, a2 = d6[:, :3], d6[:, 3:]
    assert torch.allclose(r[:, :, 0], a1 / a1.norm(dim=-1, keepdim=True))  # first column along a1
    assert torch.all((r[:, :, 1] * a2).sum(-1) > 0)  # second column: a2 made orthogonal to a1
    assert torch.allclose((r[:, :, 2] * a2).sum(-1), torch.zeros(50, dtype=torch.float64), atol=1e-12)


def test_6d_round_trip():
    r = random_rotations(100)
    assert torch.allclose(rotation_6d_to_matrix(matrix_to_rotation_6d(r)), r, atol=1e-12)
    scaled = matrix_to_rotation_6d(r) * torch.tensor([3.0, 3, 3, 0.5, 0.5, 0.5], dtype=torch.float64)
    assert torch.allclose(rotation_6d_to_matrix(scaled), r, atol=1e-12)


def test_6d_zero_input_is_finite_with_finite_gradient():
    d6 = torch.zeros(2, 6, requires_grad=True)
    r = rotation_6d_to_matrix(d6)
    r.sum().backward()
    assert torch.isfinite(r).all() and torch.isfinite(d6.grad).all()


def test_6d_bad_shape():
    with pytest.raises(ValueError, match="d6"):
        rotation_6d_to_matrix(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="matrix"):
        matrix_to_rotation_6d(torch.zeros(3, 3, 2))


# --------------------------------------------------------------------------------------- axis-angle


def test_axis_angle_known_answer():
    r = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(r, expected, atol=1e-15)
    assert torch.equal(axis_angle_to_matrix(torch.zeros(3)), torch.eye(3))


def test_axis_angle_matches_scipy():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(300, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    rotvec = axes * rng.uniform(0, math.pi, size=(300, 1))
    rotvec[:20] *= 1e-4  # a few on the Taylor branch
    ours = axis_angle_to_matrix(torch.from_numpy(rotvec))
    np.testing.assert_allclose(ours.numpy(), Rotation.from_rotvec(rotvec).as_matrix(), atol=1e-13)
    r = random_rotations(300, seed=3)
    np.testing.assert_allclose(
        matrix_to_axis_angle(r).numpy(), Rotation.from_matrix(r.numpy()).as_rotvec(), atol=1e-12
    )


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-3, 1.0, math.pi - 1e-6])
def test_axis_angle_round_trip(angle):
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    aa = axis / axis.norm() * angle
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    assert torch.allclose(back, aa, atol=1e-12, rtol=1e-9)


def test_matrix_to_axis_angle_at_pi():
    aa = torch.tensor([0.0, 0.6, 0.8], dtype=torch.float64) * math.pi
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    assert torch.allclose(back, aa, atol=1e-7) or torch.allclose(back, -aa, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("angle", [0.0, 1e-7, math.pi - 1e-6, math.pi])
def test_stability_values_and_gradients(dtype, angle):
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=dtype)
    aa = (axis / axis.norm() * angle).requires_grad_(True)
    r = axis_angle_to_matrix(aa)
    outputs = [
        matrix_to_axis_angle(r),
        rotation_angle(r),
        matrix_to_euler(r),
        matrix_to_rotation_6d(r),
        rotation_6d_to_matrix(matrix_to_rotation_6d(r)),
        euler_to_matrix(matrix_to_euler(r)),
    ]
    total = sum(o.sum() for o in outputs)
    total.backward()
    assert all(torch.isfinite(o).all() for o in outputs)
    assert torch.isfinite(aa.grad).all()
    assert all(o.dtype == dtype for o in outputs)
    assert rotation_angle(r.detach()).item() == pytest.approx(math.degrees(angle), abs=1e-3)


def test_gradcheck():
    gen = torch.Generator().manual_seed(4)
    aa = torch.randn(3, 3, dtype=torch.float64, generator=gen)
    small = 1e-3 * torch.randn(2, 3, dtype=torch.float64, generator=gen)
    for x in (aa, small):
        assert torch.autograd.gradcheck(axis_angle_to_matrix, (x.requires_grad_(True),))
        assert torch.autograd.gradcheck(
            lambda v: matrix_to_axis_angle(axis_angle_to_matrix(v)), (x.requires_grad_(True),)
        )
    d6 = torch.randn(2, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(rotation_6d_to_matrix, (d6,))
    euler = torch.tensor([[10.0, -20.0, 30.0], [-170.0, 45.0, -60.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda e: matrix_to_euler(euler_to_matrix(e)), (euler.requires_grad_(),))
    assert torch.autograd.gradcheck(lambda v: rotation_angle(axis_angle_to_matrix(v)), (aa.requires_grad_(),))


def test_batched_equals_one_by_one():
    r = random_rotations(12, seed=5).reshape(3, 4, 3, 3)
    d6 = matrix_to_rotation_6d(r)
    cases = [(matrix_to_euler, r), (matrix_to_axis_angle, r), (rotation_angle, r)]
    cases.append((rotation_6d_to_matrix, d6))
    for fn, x in cases:
        batched = fn(x)
        single = torch.stack([torch.stack([fn(x[i, j]) for j in range(4)]) for i in range(3)])
        assert torch.allclose(batched, single, atol=1e-12), fn.__name__


def test_inputs_not_modified():
    r = random_rotations(5, seed=6)
    copy = r.clone()
    for fn in (matrix_to_euler, matrix_to_axis_angle, rotation_angle, matrix_to_rotation_6d):
        fn(r)
    assert torch.equal(r, copy)


# -------------------------------------------------------------------------------------------- Euler


def test_wrap_angle_known_values():
    values = torch.tensor([-180.0, 180.0, 181.0, -181.0, 540.0, -540.0, 0.0, 359.5, -0.5])
    expected = torch.tensor([180.0, 180.0, -179.0, 179.0, 180.0, 180.0, 0.0, -0.5, -0.5])
    assert torch.equal(wrap_angle(values), expected)
    assert wrap_angle(-180.0) == 180.0 and isinstance(wrap_angle(-180.0), float)
    np.testing.assert_array_equal(wrap_angle(np.array([190.0, -190.0])), [-170.0, 170.0])


def test_euler_frontal_is_zero():
    assert torch.allclose(matrix_to_euler(FRONTAL), torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(euler_to_matrix(torch.zeros(3, dtype=torch.float64)), FRONTAL)


def test_euler_matches_scipy_reference():
    r = random_rotations(400, seed=7)
    assert angle_close(matrix_to_euler(r).numpy(), reference_euler(r.numpy()), atol=1e-4)


@pytest.mark.parametrize("xyz", [(30, 90, 20), (0, 90, -20), (30, -90, 20), (170, -90, -40), (-10, 90, 0)])
def test_euler_gimbal_lock_matches_scipy(xyz):
    m = Rotation.from_euler("xyz", xyz, degrees=True).as_matrix().T  # R with R^T = that rotation
    ours = matrix_to_euler(torch.from_numpy(m)).numpy()
    assert angle_close(ours, reference_euler(m), atol=1e-6)
    assert ours[0] == 0.0  # roll is the angle set to zero
    assert torch.allclose(euler_to_matrix(torch.from_numpy(ours)), torch.from_numpy(m), atol=1e-12)


@pytest.mark.parametrize("yaw", [90.0, 89.99, -89.99, 89.0])
def test_euler_near_gimbal_lock_float32_is_a_valid_decomposition(yaw):
    m = torch.from_numpy(Rotation.from_euler("xyz", (30, yaw, 20), degrees=True).as_matrix().T).float()
    euler = matrix_to_euler(m)
    assert euler[2].item() == pytest.approx(yaw, abs=1e-3)
    assert torch.allclose(euler_to_matrix(euler), m, atol=2e-4)


def test_euler_round_trip():
    gen = torch.Generator().manual_seed(8)
    euler = torch.rand(300, 3, dtype=torch.float64, generator=gen) * 359.0 - 179.0
    euler[:, 2] = euler[:, 2] / 2.0  # |yaw| < 90
    assert angle_close(matrix_to_euler(euler_to_matrix(euler)).numpy(), euler.numpy(), atol=1e-9)
    r = random_rotations(50, seed=9)
    assert torch.allclose(euler_to_matrix(matrix_to_euler(r)), r, atol=1e-12)


def test_euler_float32():
    r = random_rotations(100, seed=10)
    e32 = matrix_to_euler(r.float())
    assert e32.dtype == torch.float32
    assert angle_close(e32.double().numpy(), matrix_to_euler(r).numpy(), atol=5e-3)


def _image_point(euler: tuple[float, float, float], point: tuple[float, float, float]) -> torch.Tensor:
    """Pixel (x, y) of a model-frame point relative to the projected model origin."""
    r = euler_to_matrix(torch.tensor(euler, dtype=torch.float64))
    posed = torch.tensor([[0.0, 0.0, 0.0], point], dtype=torch.float64) @ r.T
    pixels = ortho_project(posed, torch.zeros(1, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    return pixels[1] - pixels[0]


def test_sign_conventions_stated_in_docs():
    nose, crown = (0.0, 0.0, 0.1), (0.0, 0.1, 0.0)
    frontal_nose = _image_point((0, 0, 0), nose)
    assert torch.allclose(frontal_nose, torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert _image_point((0, 0, 0), crown)[1] < 0  # y up in FLAME -> up in the image
    assert _image_point((0, 0, 0), (0.1, 0.0, 0.0))[0] > 0  # FLAME +x (subject's left) -> image right
    assert _image_point((0, 0, 30), nose)[0] < 0  # +yaw: nose moves to image left
    assert _image_point((0, 0, -30), nose)[0] > 0
    assert _image_point((0, 30, 0), nose)[1] < 0  # +pitch: nose moves up (looking up)
    assert _image_point((30, 0, 0), crown)[0] > 0  # +roll: crown moves to image right (clockwise)
    rolled = _image_point((30, 0, 0), crown)
    assert math.degrees(math.atan2(rolled[0], -rolled[1])) == pytest.approx(30.0)


def test_gt_rotation_of_frontal_model_view():
    mv = torch.eye(4, dtype=torch.float64)
    mv[2, 3] = -3.0  # OpenGL: the face sits in front of the camera, looking at it along +z
    assert torch.equal(gt_rotation(mv), FRONTAL)
    assert torch.allclose(matrix_to_euler(gt_rotation(mv)), torch.zeros(3, dtype=torch.float64))
    r = random_rotations(4, seed=11)
    mv = torch.eye(4, dtype=torch.float64).repeat(4, 1, 1)
    mv[:, :3, :3] = r
    expected = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)) @ mv
    assert torch.equal(gt_rotation(mv), expected[:, :3, :3])
    with pytest.raises(ValueError, match="model_view"):
        gt_rotation(torch.eye(3))


# ------------------------------------------------------------------------------ geodesic distances


def test_rotation_angle_known_and_scipy():
    rz = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.radians(37.0)], dtype=torch.float64))
    assert rotation_angle(rz).item() == pytest.approx(37.0, abs=1e-12)
    assert rotation_angle(torch.eye(3)).item() == 0.0
    assert rotation_angle(FRONTAL).item() == pytest.approx(180.0)
    r = random_rotations(200, seed=12)
    expected = np.degrees(Rotation.from_matrix(r.numpy()).magnitude())
    np.testing.assert_allclose(rotation_angle(r).numpy(), expected, atol=1e-10)


def test_rotation_distance():
    ra, rb = random_rotations(100, seed=13), random_rotations(100, seed=14)
    dist = rotation_distance(ra, rb)
    relative = Rotation.from_matrix(rb.numpy()).inv() * Rotation.from_matrix(ra.numpy())
    expected = np.degrees(relative.magnitude())
    np.testing.assert_allclose(dist.numpy(), expected, atol=1e-10)
    assert torch.allclose(dist, rotation_distance(rb, ra), atol=1e-10)
    # the benchmark's pose error ||I - Ra Rb^T||_F equals 2 sqrt(2) sin(angle / 2)
    frob = torch.linalg.matrix_norm(torch.eye(3, dtype=torch.float64) - ra @ rb.transpose(-1, -2))
    assert torch.allclose(frob, 2 * math.sqrt(2) * torch.sin(torch.deg2rad(dist) / 2), atol=1e-12)
    with pytest.raises(ValueError, match="matrix_b"):
        rotation_distance(ra, torch.zeros(100, 4, 4))


def test_bad_inputs_named():
    with pytest.raises(ValueError, match="axis_angle"):
        axis_angle_to_matrix(torch.zeros(4))
    with pytest.raises(ValueError, match="euler"):
        euler_to_matrix(torch.zeros(2))
    with pytest.raises(TypeError, match="matrix"):
        matrix_to_euler(np.eye(3))

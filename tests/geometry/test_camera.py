"""Tests for trans3dhead.geometry.camera: GT projection, orthographic projection, crop-to-image mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from trans3dhead.geometry.camera import (
    SCALE_FLOOR,
    gt_camera_vertices,
    gt_project,
    ortho_camera_matrix,
    ortho_project,
    ortho_project_3d,
    scale_translation_to_image,
)

F64 = torch.float64


def pinhole(f: float, cx: float, cy: float) -> torch.Tensor:
    """An OpenGL-style projection to pixels: w = -z, x = (f X - cx Z) / -Z, y likewise."""
    return torch.tensor([[f, 0, -cx, 0], [0, f, -cy, 0], [0, 0, -1, -0.1], [0, 0, -1, 0]], dtype=F64)


def translate_z(z: float) -> torch.Tensor:
    mv = torch.eye(4, dtype=F64)
    mv[2, 3] = z
    return mv


def test_gt_project_known_answer():
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=F64)
    pixels = gt_project(vertices, translate_z(-2.0), pinhole(100.0, 50.0, 40.0), 120.0)
    # (x, y) = (f X / 2 + cx, f Y / 2 + cy), then y_img = H - y
    expected = torch.tensor([[50.0, 80.0], [100.0, 80.0], [50.0, 30.0]], dtype=F64)
    assert torch.allclose(pixels, expected)
    camera = gt_camera_vertices(vertices, translate_z(-2.0))
    assert torch.allclose(camera, vertices + torch.tensor([0.0, 0.0, -2.0], dtype=F64))


def test_gt_project_broadcast_equals_loop():
    gen = torch.Generator().manual_seed(0)
    vertices = 0.1 * torch.randn(3, 7, 3, dtype=F64, generator=gen)
    mv = torch.eye(4, dtype=F64).repeat(3, 1, 1)
    mv[:, :3, :3] = torch.from_numpy(Rotation.random(3, random_state=1).as_matrix())
    mv[:, 2, 3] = torch.tensor([-2.0, -3.0, -4.0], dtype=F64)
    proj = pinhole(500.0, 128.0, 96.0)  # shared by the batch
    heights = torch.tensor([192.0, 200.0, 300.0], dtype=F64)
    batched = gt_project(vertices, mv, proj, heights)
    assert batched.shape == (3, 7, 2)
    for i in range(3):
        assert torch.allclose(batched[i], gt_project(vertices[i], mv[i], proj, float(heights[i])))
        cam = gt_camera_vertices(vertices[i], mv[i])
        assert torch.allclose(cam, vertices[i] @ mv[i, :3, :3].T + mv[i, :3, 3])


def test_gt_project_bad_shapes():
    with pytest.raises(ValueError, match="model_view"):
        gt_project(torch.zeros(5, 3), torch.eye(3), torch.eye(4), 10.0)
    with pytest.raises(ValueError, match="projection"):
        gt_project(torch.zeros(5, 3), torch.eye(4), torch.eye(4)[:3], 10.0)
    with pytest.raises(ValueError, match="vertices"):
        gt_camera_vertices(torch.zeros(5, 2), torch.eye(4))


def test_ortho_project_known_answer():
    vertices = torch.tensor([[0.0, 0.0, 0.0], [1.0, -1.0, 5.0], [0.5, 0.25, -1.0]], dtype=F64)
    zero_s, zero_t = torch.zeros(1, dtype=F64), torch.zeros(3, dtype=F64)
    pixels = ortho_project(vertices, zero_s, zero_t)
    assert torch.allclose(pixels, torch.tensor([[128.0, 128.0], [256.0, 0.0], [192.0, 160.0]], dtype=F64))
    # scale 1 (factor 2), translation (0.5, -0.5, 9): t_z is ignored
    moved = ortho_project(vertices, torch.ones(1, dtype=F64), torch.tensor([0.5, -0.5, 9.0], dtype=F64), 100)
    assert torch.allclose(moved, (vertices[:, :2] * 2 + torch.tensor([0.5, -0.5], dtype=F64) + 1) * 50)


def test_ortho_project_3d_depth_and_similarity():
    gen = torch.Generator().manual_seed(2)
    vertices = torch.randn(2, 6, 3, dtype=F64, generator=gen)
    scale, translation = torch.tensor([[0.5], [-0.2]], dtype=F64), torch.randn(2, 3, dtype=F64, generator=gen)
    out = ortho_project_3d(vertices, scale, translation, 64)
    assert torch.allclose(out[..., :2], ortho_project(vertices, scale, translation, 64))
    assert torch.allclose(out[..., 2], vertices[..., 2] * (scale + 1) * 32)
    # a similarity: all pairwise distances scale by (s + 1) * S / 2
    ratio = torch.cdist(out, out) / torch.cdist(vertices, vertices).clamp_min(1e-12)
    off_diagonal = ~torch.eye(6, dtype=torch.bool)
    assert torch.allclose(ratio[0][off_diagonal], torch.full((30,), 1.5 * 32, dtype=F64))


def test_ortho_scale_shapes_clamp_and_no_input_writes():
    gen = torch.Generator().manual_seed(3)
    vertices = torch.randn(4, 5, 3, generator=gen)
    translation = torch.randn(4, 3, generator=gen)
    scale = torch.randn(4, 1, generator=gen)
    t_copy = translation.clone()
    a = ortho_project(vertices, scale, translation)
    b = ortho_project(vertices, scale[:, 0], translation)
    assert torch.equal(a, b)
    assert torch.equal(translation, t_copy)  # t_z was not zeroed in place
    collapsed = ortho_project(vertices, torch.full((4,), -3.0), translation)
    expected = (vertices * SCALE_FLOOR + translation[:, None])[..., :2]
    assert torch.allclose(collapsed, (expected + 1) * 128)


def test_ortho_batched_equals_one_by_one_and_float32():
    gen = torch.Generator().manual_seed(4)
    vertices = torch.randn(3, 5, 3, generator=gen)
    scale, translation = torch.randn(3, 1, generator=gen), torch.randn(3, 3, generator=gen)
    batched = ortho_project(vertices, scale, translation)
    assert batched.dtype == torch.float32
    for i in range(3):
        assert torch.allclose(batched[i], ortho_project(vertices[i], scale[i], translation[i]))


def test_ortho_bad_shapes():
    v = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match="translation"):
        ortho_project(v, torch.zeros(2, 1), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="scale"):
        ortho_project(v, torch.zeros(2, 1, 1), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="vertices"):
        ortho_project(torch.zeros(2, 5, 2), torch.zeros(2, 1), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="rotation"):
        ortho_camera_matrix(torch.zeros(2, 4, 4), torch.zeros(2, 1), torch.zeros(2, 3))


def test_ortho_camera_matrix():
    gen = torch.Generator().manual_seed(5)
    rotation = torch.from_numpy(Rotation.random(2, random_state=6).as_matrix())
    vertices = torch.randn(2, 7, 3, dtype=F64, generator=gen)
    scale = torch.randn(2, 1, dtype=F64, generator=gen)
    translation = torch.randn(2, 3, dtype=F64, generator=gen)
    camera = ortho_camera_matrix(rotation, scale, translation, 128)
    assert camera.shape == (2, 3, 4)
    homogeneous = torch.cat((vertices, torch.ones(2, 7, 1, dtype=F64)), dim=-1)
    expected = ortho_project_3d(vertices @ rotation.transpose(1, 2), scale, translation, 128)
    assert torch.allclose(homogeneous @ camera.transpose(1, 2), expected)


def test_scale_translation_to_image_spec_formula():
    scale, translation = torch.tensor([0.3], dtype=F64), torch.tensor([0.1, -0.2, 0.7], dtype=F64)
    k, pad = 0.5, (16.0, 0.0)
    new_s, new_t = scale_translation_to_image(scale, translation, k=k, pad=pad, offset=(0.0, 0.0))
    assert torch.allclose(new_s, (scale + 1) / k - 1)
    expected_t = (translation + 1 - 2 * torch.tensor([16.0, 0.0, 0.0], dtype=F64) / 256) / k - 1
    assert torch.allclose(new_t, expected_t)


def test_scale_translation_to_image_matches_point_mapping():
    gen = torch.Generator().manual_seed(7)
    vertices = 0.3 * torch.randn(3, 9, 3, dtype=F64, generator=gen)
    scale, translation = 0.2 * torch.randn(3, 1, dtype=F64, generator=gen), 0.1 * torch.randn(3, 3, dtype=F64)
    k = torch.tensor([0.4, 1.0, 2.5], dtype=F64)
    pad = torch.tensor([[10.0, 0.0], [0.0, 3.5], [0.0, 0.0]], dtype=F64)
    offset = torch.tensor([[100.0, 50.0], [-3.0, 7.0], [0.0, 250.0]], dtype=F64)
    crop_pixels = ortho_project(vertices, scale, translation)
    image_pixels = (crop_pixels - pad[:, None]) / k[:, None, None] + offset[:, None]
    new_s, new_t = scale_translation_to_image(scale, translation, k=k, pad=pad, offset=offset)
    assert new_s.shape == scale.shape and new_t.shape == translation.shape
    assert torch.allclose(ortho_project(vertices, new_s, new_t), image_pixels)
    flat_s, _ = scale_translation_to_image(scale[:, 0], translation, k=k, pad=pad, offset=offset)
    assert torch.allclose(flat_s, new_s[:, 0])


def test_scale_translation_to_image_bad_inputs():
    s, t = torch.zeros(1), torch.zeros(3)
    with pytest.raises(ValueError, match="k must be positive"):
        scale_translation_to_image(s, t, k=0.0, pad=(0, 0), offset=(0, 0))
    with pytest.raises(ValueError, match="pad"):
        scale_translation_to_image(s, t, k=1.0, pad=(0, 0, 0), offset=(0, 0))
    with pytest.raises(ValueError, match="offset"):
        scale_translation_to_image(s, t, k=1.0, pad=(0, 0), offset=5.0)


def test_camera_gradcheck():
    gen = torch.Generator().manual_seed(8)
    vertices = torch.randn(1, 4, 3, dtype=F64, generator=gen, requires_grad=True)
    scale = torch.randn(1, 1, dtype=F64, generator=gen, requires_grad=True)
    translation = torch.randn(1, 3, dtype=F64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(ortho_project_3d, (vertices, scale, translation))
    assert torch.autograd.gradcheck(
        lambda s, t: scale_translation_to_image(s, t, k=0.7, pad=(3.0, 0.0), offset=(10.0, 20.0)),
        (scale, translation),
    )
    mv = translate_z(-2.0).requires_grad_(True)
    projection = pinhole(50.0, 8.0, 8.0)
    assert torch.autograd.gradcheck(lambda v, m: gt_project(v, m, projection, 16.0), (vertices, mv))


def test_line_of_sight_rotation_turns_the_ray_onto_the_axis():
    from trans3dhead.geometry.camera import axis_alignment, line_of_sight_rotation

    h, w, focal = 480, 640, 1.5
    np.testing.assert_allclose(line_of_sight_rotation(((w - 1) / 2, (h - 1) / 2), (h, w), focal), np.eye(3))
    for point in ((0.0, 0.0), (600.0, 100.0), (320.0, 470.0)):
        q = line_of_sight_rotation(point, (h, w), focal)
        ray = np.array([point[0] - (w - 1) / 2, point[1] - (h - 1) / 2, focal * w])
        np.testing.assert_allclose(q @ (ray / np.linalg.norm(ray)), [0.0, 0.0, 1.0], atol=1e-12)
        np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(q) == pytest.approx(1.0)
        # about the common normal: the axis lies in the image plane, so the rotation has no roll part
        axis = np.array([q[2, 1] - q[1, 2], q[0, 2] - q[2, 0], q[1, 0] - q[0, 1]])
        assert abs(axis[2]) < 1e-12 and np.linalg.norm(axis) > 0
        # its angle is the ray's angle to the axis
        angle = np.arccos(np.clip((np.trace(q) - 1) / 2, -1, 1))
        assert angle == pytest.approx(np.arctan2(np.hypot(*ray[:2]), ray[2]))
    np.testing.assert_allclose(axis_alignment((0.0, 0.0, 2.0)), np.eye(3))


def test_crop_rotation_to_camera_undoes_the_crops_view():
    from trans3dhead.geometry.camera import crop_rotation_to_camera, line_of_sight_rotation

    r = Rotation.from_euler("xyz", [10.0, -35.0, 5.0], degrees=True).as_matrix()
    box, hw = (400.0, 20.0, 600.0, 240.0), (480, 640)
    q = line_of_sight_rotation((500.0, 130.0), hw, 2.0)
    np.testing.assert_allclose(crop_rotation_to_camera(q @ r, box, hw, 2.0), r, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: f.line_of_sight_rotation((1.0, 2.0), (10, 10), 0.0), "focal must be a positive"),
        (lambda f: f.line_of_sight_rotation((1.0, 2.0), (10, 10), float("nan")), "focal must be a positive"),
        (lambda f: f.line_of_sight_rotation((1.0, 2.0), (10, 10), True), "focal must be a positive"),
        (lambda f: f.line_of_sight_rotation((1.0, 2.0), (0, 10), 1.0), "image_hw must be two positive"),
        (lambda f: f.line_of_sight_rotation((float("inf"), 2.0), (10, 10), 1.0), "point must be a finite"),
        (lambda f: f.axis_alignment((0.0, 0.0, -1.0)), "direction must be a finite"),
        (lambda f: f.crop_rotation_to_camera(np.eye(2), (0, 0, 1, 1), (10, 10), 1.0), "rotation must be"),
    ],
)
def test_line_of_sight_bad_inputs_are_named(call, message):
    from trans3dhead.geometry import camera

    with pytest.raises(ValueError, match=message):
        call(camera)

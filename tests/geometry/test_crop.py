"""Tests for trans3dhead.geometry.crop: crop boxes, point round trips, exact image warps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from trans3dhead.geometry.camera import ortho_camera_matrix, ortho_project
from trans3dhead.geometry.crop import FIXED_EVAL_EXTENSION, CropTransform, random_extension
from trans3dhead.geometry.rotation import rotation_6d_to_matrix

GRID_TOL = 1.0 / 32  # OpenCV's bilinear interpolation grid, in source pixels


def ramp_image(hw: tuple[int, int]) -> np.ndarray:
    """Two-channel float64 image whose values are the pixel's own (x, y) coordinates."""
    ys, xs = np.mgrid[: hw[0], : hw[1]].astype(np.float64)
    return np.stack((xs, ys), axis=-1)


def crop_grid(size: int) -> np.ndarray:
    ys, xs = np.mgrid[:size, :size].astype(np.float64)
    return np.stack((xs, ys), axis=-1)


def test_from_bbox_known_answer():
    crop = CropTransform.from_bbox((100, 50, 200, 100), (480, 640), extension=(0.1, 0.1, 0.1, 0.1))
    assert crop.box == pytest.approx((80.0, 40.0, 320.0, 160.0))
    assert crop.k == pytest.approx(256 / 240)
    assert crop.pad == pytest.approx((0.0, 64.0))
    assert crop.offset == pytest.approx((80.0, 40.0))
    corners = crop.points_to_crop(np.array([[80.0, 40.0], [320.0, 160.0], [200.0, 100.0]]))
    np.testing.assert_allclose(corners, [[0.0, 64.0], [256.0, 192.0], [128.0, 128.0]])
    np.testing.assert_allclose(crop.affine_matrix() @ np.array([320.0, 160.0, 1.0]), [256.0, 192.0])


def test_from_bbox_asymmetric_extension_and_clipping():
    crop = CropTransform.from_bbox((10, 20, 100, 50), (100, 150), extension=(0.2, 0.0, 0.5, 1.0), size=64)
    assert crop.box == pytest.approx((0.0, 20.0, 150.0, 100.0))  # left, right and bottom clipped
    assert FIXED_EVAL_EXTENSION == (0.1, 0.1, 0.1, 0.1)
    default = CropTransform.from_bbox((40, 40, 20, 10), (100, 100))
    assert default.box == pytest.approx((38.0, 39.0, 62.0, 51.0))


def test_random_extension_range_and_determinism():
    values = np.array([random_extension(np.random.default_rng(seed)) for seed in range(200)])
    assert values.shape == (200, 4)
    assert values.min() >= 0.05 and values.max() <= 0.15
    assert values.mean() == pytest.approx(0.1, abs=0.01)
    assert random_extension(np.random.default_rng(3)) == random_extension(np.random.default_rng(3))


@pytest.mark.parametrize(
    "bbox",
    [
        (10, 10, 0, 20),
        (10, 10, 20, -5),
        (np.nan, 10, 20, 20),
        (10, np.inf, 20, 20),
        (500, 500, 20, 20),
        (-100, 10, 20, 20),
        (1, 2, 3),
    ],
)
def test_bad_bbox_is_rejected_with_its_value(bbox):
    with pytest.raises(ValueError, match="bbox"):
        CropTransform.from_bbox(bbox, (100, 120))


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="extension"):
        CropTransform.from_bbox((10, 10, 20, 20), (100, 100), extension=(0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="extension"):
        CropTransform.from_bbox((10, 10, 20, 20), (100, 100), extension=(0.1, -0.6, 0.1, 0.1))
    with pytest.raises(ValueError, match="image_hw"):
        CropTransform.from_bbox((10, 10, 20, 20), (100, 0))
    with pytest.raises(ValueError, match="image_hw"):
        CropTransform.full_image((100.5, 20))
    with pytest.raises(ValueError, match="box"):
        CropTransform(box=(10.0, 10.0, 5.0, 20.0), image_hw=(50, 50))
    with pytest.raises(ValueError, match="size"):
        CropTransform.full_image((50, 50), size=0)
    crop = CropTransform.full_image((50, 60), size=32)
    with pytest.raises(ValueError, match="points"):
        crop.points_to_crop(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="image"):
        crop.warp_image(np.zeros((60, 50), np.uint8))
    with pytest.raises(ValueError, match="crop_image"):
        crop.unwarp_image(np.zeros((50, 60), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        crop.warp_image(np.zeros((50, 60), bool))
    with pytest.raises(dataclasses.FrozenInstanceError):
        crop.size = 64  # type: ignore[misc]


def test_full_image():
    crop = CropTransform.full_image((100, 200), size=64)
    assert crop.box == (0.0, 0.0, 200.0, 100.0)
    assert crop.k == pytest.approx(0.32) and crop.pad == pytest.approx((0.0, 16.0))
    np.testing.assert_allclose(crop.points_to_crop(np.array([0.0, 0.0])), [0.0, 16.0])


def test_point_round_trips_keep_type():
    ext = (0.12, 0.05, 0.0, 0.1)
    crop = CropTransform.from_bbox((13.3, 17.7, 31.1, 23.9), (60, 70), size=64, extension=ext)
    rng = np.random.default_rng(0)
    pts64 = rng.uniform(-10, 80, size=(2, 5, 2))
    back = crop.points_to_image(crop.points_to_crop(pts64))
    assert back.dtype == np.float64
    np.testing.assert_allclose(back, pts64, atol=1e-12)
    pts32 = pts64.astype(np.float32)
    assert crop.points_to_crop(pts32).dtype == np.float32
    assert crop.points_to_crop(np.array([[3, 4]])).dtype == np.float64  # integers are promoted
    tensor = torch.from_numpy(pts64)
    mapped = crop.points_to_crop(tensor)
    assert isinstance(mapped, torch.Tensor) and mapped.dtype == torch.float64
    np.testing.assert_allclose(mapped.numpy(), crop.points_to_crop(pts64), atol=1e-12)
    assert torch.allclose(crop.points_to_image(mapped), tensor, atol=1e-12)
    assert crop.points_to_crop(tensor.float()).dtype == torch.float32
    moved = cv_affine(crop.affine_matrix(), pts64)
    np.testing.assert_allclose(moved, crop.points_to_crop(pts64), atol=1e-12)


def cv_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_warp_single_pixel_lands_exactly():
    crop = CropTransform.full_image((100, 80), size=50)  # k = 0.5, pad_x = 5
    image = np.zeros((100, 80), np.uint8)
    image[40, 20] = 255
    out = crop.warp_image(image)
    assert out.shape == (50, 50) and out.dtype == np.uint8
    target = crop.points_to_crop(np.array([20.0, 40.0]))
    np.testing.assert_array_equal(target, [15.0, 20.0])
    assert np.argwhere(out).tolist() == [[20, 15]] and out[20, 15] == 255
    # upsampling by 2: the peak lands on the mapped point and its neighbours get half
    crop = CropTransform(box=(10.0, 20.0, 30.0, 40.0), image_hw=(60, 50), size=40)
    image = np.zeros((60, 50, 3), np.float32)
    image[25, 15] = 1.0
    out = crop.warp_image(image)
    assert out.shape == (40, 40, 3) and out.dtype == np.float32
    u, v = crop.points_to_crop(np.array([15.0, 25.0])).astype(int)
    assert np.unravel_index(out[..., 0].argmax(), (40, 40)) == (v, u)
    np.testing.assert_allclose(out[v, u - 1 : u + 2, 1], [0.5, 1.0, 0.5])


@pytest.mark.parametrize(
    "bbox, image_hw, size",
    [
        ((13.3, 17.7, 31.1, 23.9), (60, 70), 64),  # k > 1, fractional mapping
        ((20.5, 10.25, 60.0, 45.0), (150, 170), 48),  # 0.5 < k < 1
        ((20.5, 10.25, 120.0, 90.0), (150, 170), 48),  # k < 0.5: anti-aliased path, box inside the image
        ((5.0, 30.0, 300.0, 200.0), (260, 330), 40),  # k < 0.5, box touching the image border
    ],
)
def test_warp_is_exactly_consistent_with_points(bbox, image_hw, size):
    crop = CropTransform.from_bbox(bbox, image_hw, size=size, extension=(0.0, 0.0, 0.0, 0.0))
    assert crop.k == pytest.approx(size / max(bbox[2], bbox[3]))
    warped = crop.warp_image(ramp_image(image_hw))  # each pixel holds its original (x, y)
    expected = crop.points_to_image(crop_grid(size))
    height, width = image_hw
    inside = np.all((expected >= 6) & (expected <= np.array([width, height]) - 7), axis=-1)
    assert inside.sum() > 0.3 * size * size
    np.testing.assert_allclose(warped[inside], expected[inside], atol=GRID_TOL)


def test_warp_padding_is_zero_and_channel_axes_kept():
    crop = CropTransform.full_image((30, 60), size=40)  # pad_y = 10
    out = crop.warp_image(np.full((30, 60, 1), 200, np.uint8))
    assert out.shape == (40, 40, 1)
    assert np.all(out[:9] == 0) and np.all(out[-9:] == 0) and np.all(out[11:29] == 200)


def test_warp_antialiasing_when_shrinking_strongly():
    stripes = np.zeros((320, 320), np.float32)
    stripes[:, ::2] = 1.0  # the highest frequency the image can hold
    crop = CropTransform.full_image((320, 320), size=40)  # k = 0.125
    out = crop.warp_image(stripes)[4:-4, 4:-4]
    assert abs(out.mean() - 0.5) < 0.02 and out.std() < 0.03


def test_unwarp_consistent_and_round_trip():
    crop = CropTransform.from_bbox((40.0, 30.0, 60.0, 50.0), (120, 140), size=96, extension=(0.1,) * 4)
    crop_image = crop_grid(96)  # each crop pixel holds its own crop coordinate
    back = crop.unwarp_image(crop_image)
    assert back.shape == (120, 140, 2)
    expected = crop.points_to_crop(ramp_image((120, 140)))
    inside = np.all((expected >= 2) & (expected <= 93), axis=-1)
    assert inside.sum() > 1000
    np.testing.assert_allclose(back[inside], expected[inside], atol=GRID_TOL * crop.k)
    assert np.all(back[~np.all((expected >= -1) & (expected <= 96), axis=-1)] == 0)
    smooth = np.sin(ramp_image((120, 140))[..., 0] / 7.0) + np.cos(ramp_image((120, 140))[..., 1] / 9.0)
    round_trip = crop.unwarp_image(crop.warp_image(smooth), (120, 140))
    np.testing.assert_allclose(round_trip[40:70, 40:90], smooth[40:70, 40:90], atol=0.02)


def test_ortho_params_to_image():
    crop = CropTransform.from_bbox((100, 50, 200, 120), (480, 640), extension=(0.12, 0.07, 0.1, 0.14))
    gen = torch.Generator().manual_seed(0)
    vertices = 0.3 * torch.randn(2, 10, 3, dtype=torch.float64, generator=gen)
    scale = 0.1 * torch.randn(2, 1, dtype=torch.float64, generator=gen)
    translation = 0.1 * torch.randn(2, 3, dtype=torch.float64, generator=gen)
    in_crop = ortho_project(vertices, scale, translation, crop.size)
    new_scale, new_translation = crop.ortho_params_to_image(scale, translation)
    in_image = ortho_project(vertices, new_scale, new_translation, crop.size)
    assert torch.allclose(in_image, crop.points_to_image(in_crop), atol=1e-9)


def test_docs_recipe_camera_to_original_image():
    """The recipe of docs/conventions.md section 7 equals projecting in the crop and mapping back."""
    gen = torch.Generator().manual_seed(1)
    params = 0.1 * torch.randn(2, 413, dtype=torch.float64, generator=gen)
    params[:, 403:409] += torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0, 0.0], dtype=torch.float64)  # near frontal
    vertices = 0.1 * torch.randn(2, 5, 3, dtype=torch.float64, generator=gen)
    crop = CropTransform.from_bbox((100, 50, 200, 150), (480, 640))
    rotation = rotation_6d_to_matrix(params[:, 403:409])
    scale, translation = params[:, 412:413], params[:, 409:412]
    scale_img, translation_img = crop.ortho_params_to_image(scale, translation)
    camera = ortho_camera_matrix(rotation, scale_img, translation_img, crop.size)
    homogeneous = torch.cat((vertices, torch.ones_like(vertices[..., :1])), dim=-1)
    pixels = (homogeneous @ camera.transpose(-1, -2))[..., :2]
    in_crop = ortho_project(vertices @ rotation.transpose(1, 2), scale, translation, crop.size)
    assert torch.allclose(pixels, crop.points_to_image(in_crop), atol=1e-9)


@pytest.mark.parametrize("style", ["centred", "reference"])
def test_landmarks_to_image_scales_clips_and_maps_back(style):
    crop = CropTransform.from_bbox((40.0, 30.0, 100.0, 120.0), (200, 300), size=64, style=style)
    normalised = np.array([[0.25, 0.5], [-0.1, 1.2]], dtype=np.float32)
    crop_pixels = normalised.astype(np.float64) * 64
    if style == "reference":  # the reference predictor clips regressed landmarks to the crop
        crop_pixels = crop_pixels.clip(0.0, 64)
    out = crop.landmarks_to_image(normalised)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, crop.points_to_image(crop_pixels))

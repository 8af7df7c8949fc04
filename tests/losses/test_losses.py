"""Losses: zero for a perfect prediction, known values on hand-built cases, clear errors."""

from __future__ import annotations

import math

import pytest
import torch

from trans3dhead.flame import FlameLayer
from trans3dhead.geometry.rotation import euler_to_matrix, matrix_to_euler, rotation_distance
from trans3dhead.losses import (
    DAD3DNET_WEIGHTS,
    TRANS3DHEAD_WEIGHTS,
    HeadCriterion,
    euler_loss,
    gaussian_heatmaps,
    geodesic_loss,
    landmark_loss,
    normalize_to_unit_cube,
    reprojection_loss,
    shape3d_loss,
    soft_iou_loss,
)
from trans3dhead.models.trans3dhead import initial_params
from trans3dhead.types import HeadOutput, HeadTargets

SIZE = 64
ALL_WEIGHTS = {**TRANS3DHEAD_WEIGHTS, "heatmap": 1.0}


@pytest.fixture
def flame(tiny_assets):
    return FlameLayer(assets=tiny_assets, image_size=SIZE)


def predict(flame, params, layers=2, heatmaps=None):
    out = flame(params)
    lmk = out.landmarks_2d / SIZE
    return HeadOutput(
        params=params,
        flame=out,
        landmarks=lmk,
        landmark_layers=lmk.expand(layers, *lmk.shape),
        heatmaps=heatmaps,
    )


def targets_for(output):
    f = output.flame
    lmk = f.landmarks_2d / SIZE
    return HeadTargets(
        landmarks=lmk.detach().clone(),
        presence=((lmk > 0) & (lmk < 1)).all(-1),
        vertices=(f.vertices - torch.tensor([0.0, 0.0, 0.05])).detach(),  # GT has no z offset
        projected=f.projected.detach().clone(),
        rotation=f.rotation.detach().clone(),
        euler=matrix_to_euler(f.rotation).detach(),
    )


def random_params(flame, batch=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return initial_params(flame).repeat(batch, 1) + 0.1 * torch.randn(batch, flame.num_params, generator=gen)


def test_default_weights_are_the_papers():
    assert dict(TRANS3DHEAD_WEIGHTS) == {
        "landmarks": 300.0,
        "shape3d": 50.0,
        "reprojection": 0.05,
        "euler": 0.05,
    }
    assert dict(DAD3DNET_WEIGHTS) == {
        "landmarks": 100.0,
        "shape3d": 50.0,
        "reprojection": 0.05,
        "heatmap": 1.0,
    }


def test_perfect_prediction_gives_zero_losses(flame):
    output = predict(flame, random_params(flame))
    targets = targets_for(output)
    gt_maps = gaussian_heatmaps(targets.landmarks * SIZE, targets.presence, height=16, width=16)
    output.heatmaps = torch.logit(gt_maps.double()).float()  # sigmoid(logit(y)) = y, exactly 0 and 1 included
    result = HeadCriterion(flame=flame, weights=ALL_WEIGHTS, deep_supervision=True)(output, targets)
    assert set(result.losses) == {"landmarks", "shape3d", "reprojection", "euler", "heatmap"}
    for name, value in result.losses.items():
        assert abs(value.item()) < 1e-5, f"{name} = {value.item()}"
    assert abs(result.total.item()) < 1e-4


def test_weighted_total_and_skipped_losses(flame):
    params = random_params(flame)
    output = predict(flame, params)
    targets = targets_for(predict(flame, random_params(flame, seed=5)))
    weights = {"landmarks": 2.0, "shape3d": 0.0, "reprojection": 0.5, "euler": 3.0, "heatmap": 0.0}
    result = HeadCriterion(flame=flame, weights=weights)(output, targets)
    assert set(result.losses) == {"landmarks", "reprojection", "euler"}  # weight 0: not computed
    assert result.weights == {"landmarks": 2.0, "reprojection": 0.5, "euler": 3.0}
    expected = sum(result.weights[k] * v for k, v in result.losses.items())
    torch.testing.assert_close(result.total, expected)
    assert all(v.item() > 0 for v in result.losses.values())


def test_criterion_gradients_are_finite(flame):
    params = random_params(flame).requires_grad_(True)
    targets = targets_for(predict(flame, random_params(flame, seed=7)))
    result = HeadCriterion(flame=flame, weights=TRANS3DHEAD_WEIGHTS)(predict(flame, params), targets)
    result.total.backward()
    assert torch.isfinite(params.grad).all() and params.grad.abs().sum() > 0


def test_landmark_loss_known_values():
    target = torch.rand(2, 3, 2)
    present = torch.ones(2, 3, dtype=torch.bool)
    assert landmark_loss(target + 0.1, target, present).item() == pytest.approx(0.005)  # 0.5 * 0.1^2
    assert landmark_loss(target + 2.0, target, present).item() == pytest.approx(1.5)  # |x| - 0.5
    assert landmark_loss(target + 0.1, target, present, beta=0.5).item() == pytest.approx(0.01)


def test_landmark_presence_mask_excludes_points():
    target = torch.rand(2, 3, 2)
    predicted = target + 0.1
    predicted[1, 2] += 5.0  # a huge error at an absent point
    presence = torch.ones(2, 3, dtype=torch.bool)
    presence[1, 2] = False
    assert landmark_loss(predicted, target, presence).item() == pytest.approx(0.005)
    assert landmark_loss(predicted, target, torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0


def test_landmark_loss_averages_layers():
    target = torch.rand(2, 3, 2)
    layers = torch.stack([target + 0.1, target + 0.3])
    present = torch.ones(2, 3, dtype=torch.bool)
    assert landmark_loss(layers, target, present).item() == pytest.approx((0.005 + 0.045) / 2)


def test_landmark_loss_does_not_hide_nan_at_absent_points():
    target = torch.rand(1, 2, 2)
    predicted = target.clone()
    predicted[0, 1, 0] = math.nan
    assert torch.isnan(landmark_loss(predicted, target, torch.tensor([[True, False]])))


def test_criterion_deep_supervision_switch(flame):
    output = predict(flame, random_params(flame))
    targets = targets_for(output)
    output.landmark_layers = torch.stack([output.landmarks + 0.1, output.landmarks])
    final = HeadCriterion(flame=flame, weights={"landmarks": 1.0})(output, targets)
    deep = HeadCriterion(flame=flame, weights={"landmarks": 1.0}, deep_supervision=True)(output, targets)
    assert final.losses["landmarks"].item() < 1e-10
    assert deep.losses["landmarks"].item() == pytest.approx(0.005 / 2, rel=1e-4)


def test_unit_cube_of_a_known_box():
    box = torch.tensor([[x, y, z] for x in (0.0, 4.0) for y in (0.0, 2.0) for z in (0.0, 1.0)]) + 7.0
    cube = normalize_to_unit_cube(box)
    torch.testing.assert_close(cube.amin(0), torch.tensor([-1.0, -0.5, -0.25]))
    torch.testing.assert_close(cube.amax(0), torch.tensor([1.0, 0.5, 0.25]))
    torch.testing.assert_close(normalize_to_unit_cube(box[None] * 3.0 - 2.0)[0], cube)  # batched, invariant


def test_shape3d_loss_known_value_and_invariance():
    cube = torch.tensor([[x, y, z] for z in (0.0, 2.0) for x in (0.0, 2.0) for y in (0.0, 2.0)])[None]
    flat = cube * torch.tensor([1.0, 1.0, 0.5])  # z squashed to half: normalised z is +-0.5 instead of +-1
    everything, bottom = torch.arange(8), torch.arange(4)  # the bottom face (z = 0) is the same for both
    loss = shape3d_loss(flat, cube, [(everything, 1.0), (bottom, 0.5)])
    assert loss.item() == pytest.approx(8 * 0.5**2 / 24)
    moved = 2.5 * cube + torch.tensor([1.0, -3.0, 0.2])
    assert shape3d_loss(moved, cube, [(everything, 1.0)]).item() == pytest.approx(0.0, abs=1e-12)


def test_reprojection_loss_known_values():
    target = torch.rand(2, 10, 2) * 64
    subsets = [(torch.arange(5), 0.5), (torch.arange(3, 10), 0.5)]
    assert reprojection_loss(target + 2.0, target, subsets).item() == pytest.approx(1.5)
    assert reprojection_loss(target - 0.5, target, subsets).item() == pytest.approx(0.125)


def test_euler_loss_known_values_and_wrap():
    euler = torch.tensor([[10.0, -20.0, 30.0], [0.0, 179.0, -10.0]])
    shifted = euler_to_matrix(euler + torch.tensor([3.0, 0.0, 0.0]))  # roll off by 3 degrees
    assert euler_loss(shifted, euler).item() == pytest.approx(2.5 / 3, rel=1e-4)
    pred = euler_to_matrix(torch.tensor([[0.0, -179.0, 5.0]]))
    assert euler_loss(pred, torch.tensor([[0.0, 179.0, 5.0]])).item() == pytest.approx(1.5 / 3, rel=1e-3)


def test_geodesic_loss_known_values():
    euler = torch.tensor([[10.0, -20.0, 30.0], [0.0, 179.0, -10.0]])
    target = euler_to_matrix(euler)
    turned = euler_to_matrix(euler + torch.tensor([3.0, 0.0, 0.0]))  # a 3-degree turn about one axis
    assert geodesic_loss(turned, target).item() == pytest.approx(2.5, rel=1e-4)
    assert geodesic_loss(target, target).item() == pytest.approx(0.0, abs=1e-3)
    half = euler_to_matrix(torch.tensor([[0.0, 0.0, 0.5]]))  # below beta = 1: 0.5 * 0.5^2
    assert geodesic_loss(half, euler_to_matrix(torch.zeros(1, 3))).item() == pytest.approx(0.125, rel=1e-3)


def test_geodesic_loss_is_well_conditioned_across_the_profile_line():
    # GT just past yaw 90 (pitch 10), prediction 2 degrees of yaw away on the other side of the line:
    # Euler angles put roll and pitch 180 degrees apart and its gradient grows as 1 / cos(yaw); the
    # geodesic loss reads the 2-degree error with a bounded gradient.
    gt = euler_to_matrix(torch.tensor([[0.0, 10.0, 91.0]], dtype=torch.float64))
    pred = euler_to_matrix(torch.tensor([[0.0, 10.0, 89.0]], dtype=torch.float64)).requires_grad_(True)
    angle = rotation_distance(pred.detach(), gt).item()
    assert angle == pytest.approx(2.0, abs=1e-6)
    geodesic = geodesic_loss(pred, gt)
    assert geodesic.item() == pytest.approx(angle - 0.5, rel=1e-6)
    (grad_geodesic,) = torch.autograd.grad(geodesic, pred)
    euler = euler_loss(pred, matrix_to_euler(gt))
    (grad_euler,) = torch.autograd.grad(euler, pred)
    assert euler.item() > 50.0  # roll and pitch read as about 180 degrees off
    assert grad_geodesic.norm().item() < 100.0 < grad_euler.norm().item()


def test_criterion_geodesic_term(flame):
    output = predict(flame, random_params(flame))
    criterion = HeadCriterion(flame=flame, weights={"geodesic": 1.0})
    assert criterion(output, targets_for(output)).total.item() < 1e-3
    other = targets_for(predict(flame, random_params(flame, seed=3)))
    result = HeadCriterion(flame=flame, weights={"geodesic": 2.0})(output, other)
    expected = geodesic_loss(output.flame.rotation, other.rotation)
    assert set(result.losses) == {"geodesic"} and expected.item() > 0
    torch.testing.assert_close(result.total, 2.0 * expected)


def test_soft_iou_known_values():
    y = torch.rand(2, 3, 4, 4)
    assert soft_iou_loss(torch.logit(y), y).item() == pytest.approx(0.0, abs=1e-6)
    target = torch.zeros(1, 1, 1, 2)
    target[..., 0] = 1.0
    disjoint = torch.tensor([[[[-100.0, 100.0]]]])  # predicts exactly the other cell
    assert soft_iou_loss(disjoint, target).item() == pytest.approx(1.0, abs=1e-6)
    half = torch.zeros(1, 1, 1, 2)  # sigmoid 0.5 everywhere: overlap 0.5, union 1 + 0.5 - 0.5
    assert soft_iou_loss(half, target).item() == pytest.approx(0.5, abs=1e-5)


def test_gaussian_heatmaps_known_values():
    points = torch.tensor([[[10.0, 21.9], [1.0, 1.0], [30.0, 30.0]]])  # crop pixels
    presence = torch.tensor([[True, True, False]])
    maps = gaussian_heatmaps(points, presence, height=16, width=16, stride=4, radius=5)
    assert maps.shape == (1, 3, 16, 16)
    first = maps[0, 0]
    assert first[5, 2] == 1.0 and first.max() == 1.0  # peak at (row 21.9 // 4, col 10 // 4)
    sigma = 11 / 6
    assert first[5, 3].item() == pytest.approx(math.exp(-1 / (2 * sigma**2)))
    assert first[7, 7].item() == pytest.approx(math.exp(-(4 + 25) / (2 * sigma**2)))
    assert first[5, 8] == 0.0 and first[11, 2] == 0.0  # outside the 11 x 11 window
    assert int((maps[0, 1] > 0).sum()) == 36  # centre (0, 0): window clipped to 6 x 6
    assert maps[0, 2].abs().sum() == 0.0  # absent landmark: empty map


def test_heatmap_loss_in_the_criterion(flame):
    output = predict(flame, random_params(flame), layers=1, heatmaps=torch.zeros(3, 68, 16, 16))
    targets = targets_for(output)
    result = HeadCriterion(flame=flame, weights=DAD3DNET_WEIGHTS)(output, targets)
    assert 0.0 < result.losses["heatmap"].item() < 1.0
    with pytest.raises(ValueError, match="no heatmaps"):
        HeadCriterion(flame=flame, weights=DAD3DNET_WEIGHTS)(predict(flame, random_params(flame)), targets)
    output.heatmaps = torch.zeros(3, 68, 32, 32)
    with pytest.raises(ValueError, match="heatmaps of 32x32 with heatmap_stride=4"):
        HeadCriterion(flame=flame, weights=DAD3DNET_WEIGHTS)(output, targets)


def test_criterion_does_not_hide_non_finite_predictions(flame):
    params = random_params(flame)
    params[0, 0] = math.nan
    output = predict(flame, params)
    targets = targets_for(predict(flame, random_params(flame)))
    assert torch.isnan(HeadCriterion(flame=flame, weights=TRANS3DHEAD_WEIGHTS)(output, targets).total)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"landmark": 1.0}}, r"unknown loss names in weights: \['landmark'\]"),
        ({"weights": {"euler": -1.0}}, r"weights\['euler'\] must be a finite number >= 0"),
        ({"weights": {"euler": math.nan}}, r"weights\['euler'\]"),
        ({"weights": {"euler": 0.0}}, "at least one weight must be > 0"),
        ({"weights": {"euler": 1.0}, "image_size": 256}, "image_size=256 differs"),
        ({"weights": {"euler": 1.0}, "landmark_beta": 0.0}, "landmark_beta must be > 0"),
        ({"weights": {"euler": 1.0}, "shape3d_subsets": {"nose": 1.0}}, "unknown vertex subset 'nose'"),
        ({"weights": {"euler": 1.0}, "reprojection_subsets": {}}, "reprojection_subsets must be"),
    ],
)
def test_criterion_rejects_bad_settings(flame, kwargs, message):
    with pytest.raises((ValueError, KeyError), match=message):
        HeadCriterion(flame=flame, **kwargs)


def test_loss_functions_reject_bad_shapes():
    with pytest.raises(ValueError, match="predicted must have shape"):
        landmark_loss(torch.zeros(2, 4, 2), torch.zeros(2, 3, 2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="presence must have shape"):
        landmark_loss(torch.zeros(2, 3, 2), torch.zeros(2, 3, 2), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"vertices must have shape \(B, V, 3\)"):
        normalize_to_unit_cube(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="predicted and target must both have shape"):
        shape3d_loss(torch.zeros(1, 4, 3), torch.zeros(1, 5, 3), [(torch.arange(3), 1.0)])
    with pytest.raises(ValueError, match="predicted and target must both have shape"):
        reprojection_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), [(torch.arange(3), 1.0)])
    with pytest.raises(ValueError, match=r"target_euler must have shape \(2, 3\)"):
        euler_loss(torch.eye(3).expand(2, 3, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"target_rotation must have shape \(2, 3, 3\)"):
        geodesic_loss(torch.eye(3).expand(2, 3, 3), torch.eye(3).expand(1, 3, 3))
    with pytest.raises(ValueError, match="beta must be > 0, got beta=0.0"):
        geodesic_loss(torch.eye(3).expand(2, 3, 3), torch.eye(3).expand(2, 3, 3), beta=0.0)
    with pytest.raises(ValueError, match="beta must be > 0, got beta=-1.0"):
        euler_loss(torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3), beta=-1.0)
    with pytest.raises(ValueError, match="logits and target must both have shape"):
        soft_iou_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match="radius >= 0"):
        gaussian_heatmaps(torch.zeros(1, 2, 2), torch.ones(1, 2), height=4, width=4, radius=-1)

"""benchmarks/flip_test.py: the left-right renumbering of the 68 landmarks, the mirrored rotation, and the
flip-averaged prediction on stand-in models whose answers are known."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from benchmark_scripts import load_benchmark

from trans3dhead.flame import embedded_assets
from trans3dhead.geometry import euler_to_matrix, rotation_distance

SIZE = 32


def _yaw(degrees: torch.Tensor) -> torch.Tensor:
    """(B,) yaw angles -> (B, 3, 3) rotations about y."""
    c, s = torch.cos(torch.deg2rad(degrees)), torch.sin(torch.deg2rad(degrees))
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rows = [torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1), torch.stack([-s, zero, c], -1)]
    return torch.stack(rows, -2)


@dataclasses.dataclass(frozen=True)
class _Flame:
    rotation: torch.Tensor
    landmarks_2d: torch.Tensor


@dataclasses.dataclass
class _Output:
    flame: _Flame
    landmarks: torch.Tensor


class _Equivariant(torch.nn.Module):
    """Yaw and landmark shift proportional to how much brighter the image's left half is than its right:
    the mirrored image gives exactly the mirrored prediction."""

    has_landmark_branch = True

    def __init__(self, template: torch.Tensor) -> None:
        super().__init__()
        self.template = template  # (68, 2) crop pixels, left-right symmetric under LANDMARK_MIRROR

    def forward(self, images: torch.Tensor) -> _Output:
        half = images.shape[-1] // 2
        lean = images[..., :half].mean(dim=(1, 2, 3)) - images[..., half:].mean(dim=(1, 2, 3))
        points = self.template.expand(len(images), -1, -1).clone()
        points[..., 0] += 3.0 * lean[:, None]
        return _Output(flame=_Flame(_yaw(20.0 * lean), points), landmarks=points / SIZE)


class _Fixed(torch.nn.Module):
    """The same yaw of 10 degrees whatever the image: not mirror-consistent."""

    has_landmark_branch = False

    def forward(self, images: torch.Tensor) -> _Output:
        rotation = _yaw(torch.full((len(images),), 10.0))
        return _Output(flame=_Flame(rotation, torch.zeros(len(images), 68, 2)), landmarks=torch.zeros(0))


def test_the_landmark_renumbering_matches_the_head_models_symmetry():
    bench = load_benchmark("flip_test")
    mirror = np.array(bench.LANDMARK_MIRROR)
    assert sorted(mirror) == list(range(68)) and (mirror[mirror] == np.arange(68)).all()  # an involution
    assets = embedded_assets(num_vertices_target=1500, num_shape=20, num_expression=10)
    points = assets.landmarks(assets.model.v_template)  # the neutral head, facing +z, x its left-right axis
    reflected = points * np.array([-1.0, 1.0, 1.0])
    nearest = np.linalg.norm(reflected[:, None] - points[None], axis=-1).argmin(axis=1)
    np.testing.assert_array_equal(nearest, mirror)


def test_mirrored_rotations_and_their_mean():
    bench = load_benchmark("flip_test")
    euler = torch.tensor([[5.0, -12.0, 30.0], [-20.0, 8.0, -60.0]], dtype=torch.float64)
    rotation = euler_to_matrix(euler)
    mirrored = bench.mirror_rotation(rotation)
    assert torch.allclose(bench.mirror_rotation(mirrored), rotation)
    assert torch.allclose(torch.linalg.det(mirrored), torch.ones(2, dtype=torch.float64))
    yaw = _yaw(torch.tensor([10.0, 25.0, 30.0, -15.0]))
    assert torch.allclose(bench.mirror_rotation(yaw[1]), _yaw(torch.tensor(-25.0)), atol=1e-6)
    assert torch.allclose(bench.mean_rotation(yaw[0], yaw[2]), _yaw(torch.tensor(20.0)), atol=1e-5)
    assert math.isclose(rotation_distance(yaw[0], yaw[3]).item(), 25.0, rel_tol=1e-4)


def test_flip_averaging_keeps_a_mirror_consistent_prediction_and_averages_out_a_fixed_one():
    bench = load_benchmark("flip_test")
    mirror = list(bench.LANDMARK_MIRROR)
    torch.manual_seed(0)
    left = torch.rand(68, 2) * SIZE
    template = left.clone()  # symmetric: each point's partner is its reflection across the crop
    for i, j in enumerate(mirror):
        if i < j:
            template[j] = torch.stack([SIZE - left[i, 0], left[i, 1]])
        elif i == j:
            template[i, 0] = SIZE / 2
    assert torch.allclose(bench.mirror_points(template[None], SIZE)[0], template)
    images = torch.rand(4, 3, SIZE, SIZE)
    model = _Equivariant(template)
    averaged = bench.FlipAveraged(model, SIZE)
    plain, out = model(images), averaged(images)
    assert torch.allclose(out.flame.rotation, plain.flame.rotation, atol=1e-5)
    assert torch.allclose(out.flame.landmarks_2d, plain.flame.landmarks_2d, atol=1e-4)
    assert torch.allclose(out.landmarks, plain.landmarks, atol=1e-5)
    assert max(averaged.disagreement_deg) < 0.05
    fixed = bench.FlipAveraged(_Fixed(), SIZE)
    out = fixed(images)
    assert torch.allclose(out.flame.rotation, torch.eye(3).expand(4, 3, 3), atol=1e-5)  # +10 and -10 cancel
    np.testing.assert_allclose(fixed.disagreement_deg, 20.0, rtol=1e-4)

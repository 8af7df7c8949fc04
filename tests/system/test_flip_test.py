"""benchmarks/flip_test.py: the flip-averaged pass (the library's averaging) and how far the two passes
disagree, on stand-in networks whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from benchmark_scripts import load_benchmark

from trans3dhead.flame import embedded_assets
from trans3dhead.flame.layer import FlameLayer
from trans3dhead.geometry import euler_to_matrix, rotation_distance
from trans3dhead.geometry.rotation import matrix_to_rotation_6d
from trans3dhead.models.flip import FlipMirror
from trans3dhead.types import HeadOutput

SIZE = 32


@pytest.fixture(scope="module")
def flame():
    assets = embedded_assets(num_vertices_target=1500, num_shape=20, num_expression=10)
    return FlameLayer(assets=assets, image_size=SIZE)


def _yaw(degrees: torch.Tensor) -> torch.Tensor:
    """(B,) yaw angles in degrees -> (B, 3, 3) rotations (reference (roll, pitch, yaw) order)."""
    zero = torch.zeros_like(degrees)
    return euler_to_matrix(torch.stack([zero, zero, degrees], -1))


class _Net(torch.nn.Module):
    """Parameters from a yaw: ``yaw(images)`` degrees, the rest a fixed head."""

    has_landmark_branch = False

    def __init__(self, flame, yaw) -> None:
        super().__init__()
        self.flame, self.yaw = flame, yaw

    def forward(self, images: torch.Tensor) -> HeadOutput:
        layout = self.flame.layout
        params = torch.zeros(len(images), layout.total)
        params[:, layout.slices["rotation"]] = matrix_to_rotation_6d(_yaw(self.yaw(images)))
        params[:, layout.slices["scale"]] = -0.2
        lmk = torch.zeros(len(images), 68, 2)
        return HeadOutput(params=params, flame=self.flame(params), landmarks=lmk, landmark_layers=lmk[None])


def _lean(images: torch.Tensor) -> torch.Tensor:
    """How much brighter the left half is than the right: negated by a mirror."""
    half = images.shape[-1] // 2
    return images[..., :half].mean(dim=(1, 2, 3)) - images[..., half:].mean(dim=(1, 2, 3))


def test_a_mirror_consistent_network_keeps_its_answer_and_the_passes_agree(flame):
    bench = load_benchmark("flip_test")
    net = _Net(flame, lambda images: 60.0 * _lean(images))  # the mirror image: the mirrored yaw
    images = torch.rand(4, 3, SIZE, SIZE)
    averaged = bench.FlipAveraged(net)
    out, plain = averaged(images), net(images)
    assert torch.allclose(out.flame.rotation, plain.flame.rotation, atol=1e-5)
    assert max(averaged.disagreement_deg) < 0.05


def test_a_network_blind_to_the_mirror_disagrees_by_twice_its_yaw_and_averages_it_out(flame):
    bench = load_benchmark("flip_test")
    net = _Net(flame, lambda images: torch.full((len(images),), 10.0))  # 10 degrees whatever it sees
    averaged = bench.FlipAveraged(net)
    assert isinstance(averaged.mirror, FlipMirror)
    out = averaged(torch.rand(3, 3, SIZE, SIZE))
    np.testing.assert_allclose(averaged.disagreement_deg, 20.0, rtol=1e-4)  # +10 against -10
    frontal = _yaw(torch.zeros(3))
    assert rotation_distance(out.flame.rotation, frontal).max() < 1e-3  # +10 and -10 cancel

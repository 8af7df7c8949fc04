"""Mirrored training items (``data.flip``): targets that describe the mirror image, which items are drawn,
and a training run with it."""

from __future__ import annotations

import pytest
import torch
from dataset_files import write_split
from train_helpers import TINY_MODEL

from trans3dhead.config import ConfigError, load_config
from trans3dhead.data.flip_augment import FlipAugment, mirror_targets
from trans3dhead.errors import InputError
from trans3dhead.flame.files import embedded_assets
from trans3dhead.flame.layer import FlameLayer
from trans3dhead.geometry.rotation import euler_to_matrix, matrix_to_euler, matrix_to_rotation_6d
from trans3dhead.models.flip import FlipMirror
from trans3dhead.types import HeadTargets

SIZE = 64
SMALL = {"num_vertices_target": 1500, "num_shape": 20, "num_expression": 10}


@pytest.fixture(scope="module")
def flame():
    return FlameLayer(assets=embedded_assets(**SMALL), image_size=SIZE)


@pytest.fixture(scope="module")
def mirror(flame):
    return FlipMirror.from_flame(flame)


def _params(flame, yaw_deg):
    layout, batch = flame.layout, len(yaw_deg)
    g = torch.Generator().manual_seed(4)
    p = torch.zeros(batch, layout.total)
    p[:, layout.slices["shape"]] = torch.randn(batch, layout.num_shape, generator=g) * 0.5
    p[:, layout.slices["expression"]] = torch.randn(batch, layout.num_expression, generator=g) * 0.5
    p[:, layout.slices["jaw"]] = torch.tensor([0.15, 0.02, -0.04])
    angles = torch.tensor([[4.0, 9.0, y] for y in yaw_deg])  # (roll, pitch, yaw) degrees
    p[:, layout.slices["rotation"]] = matrix_to_rotation_6d(euler_to_matrix(angles))
    p[:, layout.slices["translation"]] = torch.tensor([-0.12, 0.06, 0.0])
    p[:, layout.slices["scale"]] = -0.1
    return p


def _targets(flame, params) -> HeadTargets:
    """Targets as the dataset builds them, from a head the FLAME layer draws."""
    out = flame(params)
    landmarks = out.landmarks_2d / SIZE
    return HeadTargets(
        landmarks=landmarks,
        presence=(landmarks[..., 0] > 0.3),  # any pattern: it must move with the landmarks
        vertices=out.vertices,
        projected=out.projected,
        rotation=out.rotation,
        euler=matrix_to_euler(out.rotation),
    )


def test_mirrored_targets_are_those_of_the_mirrored_head(flame, mirror):
    """The targets of a head, mirrored, are the targets of the head that its mirror image shows (drawn by
    the FLAME layer from the mapped parameters): the same points, pixels and rotation."""
    params = _params(flame, (15.0, -40.0))
    seen = mirror_targets(_targets(flame, params), mirror)
    truth = _targets(flame, mirror.unmirror_params(params, flame.layout))
    assert torch.allclose(seen.landmarks * SIZE, truth.landmarks * SIZE, atol=0.1)  # pixels
    assert torch.allclose(seen.projected, truth.projected, atol=0.1)
    assert torch.allclose(seen.vertices, truth.vertices, atol=1e-3 * truth.vertices.abs().max())
    assert torch.allclose(seen.rotation, truth.rotation, atol=1e-5)
    assert torch.allclose(seen.euler, truth.euler, atol=1e-3)
    # yaw and roll change sign, pitch stays (reference (roll, pitch, yaw) order)
    before = _targets(flame, params).euler
    assert torch.allclose(seen.euler, before * torch.tensor([-1.0, 1.0, -1.0]), atol=1e-3)
    landmarks = _targets(flame, params).landmarks
    presence = landmarks[..., 0] > 0.3
    assert torch.equal(seen.presence, presence[:, mirror.landmark_perm])


def test_the_drawn_items_are_mirrored_and_the_others_kept(flame, mirror):
    params = _params(flame, (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0))
    targets = _targets(flame, params)
    images = torch.rand(8, 3, SIZE, SIZE)
    augment = FlipAugment(mirror=mirror, probability=0.5, seed=3)
    chosen = augment.mask(8, step=11)
    assert torch.equal(chosen, augment.mask(8, step=11))  # the same items on a resumed run
    assert 0 < int(chosen.sum()) < 8  # this seed and step draw some of each
    out_images, out_targets = augment(images, targets, step=11)
    mirrored = mirror_targets(targets, mirror)
    for i in range(8):
        expected_image = images[i].flip(-1) if chosen[i] else images[i]
        expected = mirrored if chosen[i] else targets
        assert torch.equal(out_images[i], expected_image)
        for name in ("landmarks", "presence", "vertices", "projected", "rotation", "euler"):
            assert torch.equal(getattr(out_targets, name)[i], getattr(expected, name)[i]), name


def test_probability_zero_and_one(flame, mirror):
    targets = _targets(flame, _params(flame, (5.0, 25.0)))
    images = torch.rand(2, 3, SIZE, SIZE)
    never = FlipAugment(mirror=mirror, probability=0.0, seed=0)
    always = FlipAugment(mirror=mirror, probability=1.0, seed=0)
    assert not any(never.mask(64, s).any() for s in range(5))
    assert all(always.mask(64, s).all() for s in range(5))
    same, _ = never(images, targets, step=1)
    flipped, _ = always(images, targets, step=1)
    assert torch.equal(same, images) and torch.equal(flipped, images.flip(-1))
    half = torch.cat([FlipAugment(mirror=mirror, probability=0.5, seed=0).mask(100, s) for s in range(20)])
    assert 0.4 < half.float().mean() < 0.6


def test_bad_probabilities_and_sizes_are_refused(flame, mirror):
    with pytest.raises(InputError, match=r"data.flip must be a probability in \[0, 1\], got 1.5"):
        FlipAugment(mirror=mirror, probability=1.5, seed=0)
    with pytest.raises(ConfigError, match=r"data.flip must be a probability in \[0, 1\], got -0.1"):
        load_config(None, ["data.flip=-0.1"])
    targets = _targets(flame, _params(flame, (5.0,)))
    with pytest.raises(InputError, match="the crops are 32 px, the FLAME layer projects to 64 px"):
        FlipAugment(mirror=mirror, probability=1.0, seed=0)(torch.rand(1, 3, 32, 32), targets, step=1)


def test_training_with_mirrored_items(tmp_path):
    """A run with data.flip trains (the embedded head model is symmetric); one with a head model that is
    not is refused before any step, naming the model."""
    from train_helpers import make_training_setup

    from trans3dhead.engine.fit import fit

    assets = embedded_assets(**SMALL)
    data = tmp_path / "data"
    write_split(data, "train", assets, items=4)
    write_split(data, "val", assets, items=2)
    embedded = [f"flame.embedded_vertices={SMALL['num_vertices_target']}", "flame.embedded_shape=20"]
    embedded += ["flame.embedded_expression=10", f"data.root={data}"]
    config = load_config(None, [*TINY_MODEL, *embedded, "train.epochs=1", "data.flip=0.5"])
    result = fit(config, tmp_path / "run")
    assert result.step == 2 and (tmp_path / "run" / "last.pt").is_file()
    asymmetric = make_training_setup(tmp_path / "tiny")
    with pytest.raises(InputError, match=r"data.flip: .*need a left-right symmetric"):
        fit(load_config(None, [*asymmetric, "train.epochs=1", "data.flip=0.5"]), tmp_path / "run2")

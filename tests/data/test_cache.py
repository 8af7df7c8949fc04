"""The crop cache (``trans3dhead data cache``) and the augmentation that runs on the training device: the
cache gives the file loader's tensors, its training items the file loader's targets, and the writer
resumes, refuses what it should and says why."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from train_helpers import make_training_setup

from trans3dhead.cli import main
from trans3dhead.config import load_config
from trans3dhead.data import cache as cache_module
from trans3dhead.data.cache import CachedDataset, write_cache
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
from trans3dhead.data.device_augment import batch_to_device, blur_batch, photometric_batch, warp_batch
from trans3dhead.data.io import DataError
from trans3dhead.data.transforms import Augmentation, photometric, warp
from trans3dhead.engine.fit import fit
from trans3dhead.errors import InputError
from trans3dhead.models.build import build_assets

SIZE = 64
TARGET_KEYS = ("landmarks", "presence", "vertices", "projected", "rotation", "euler")


def textured(height: int = 120, width: int = 160) -> np.ndarray:
    """A smooth, varied RGB image (the test split's own images are flat colours)."""
    yy, xx = np.mgrid[0:height, 0:width]
    channels = [127 + 100 * np.sin(xx / 7.0), 127 + 100 * np.cos(yy / 5.0), (xx + yy) % 256]
    return np.stack(channels, axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    overrides = make_training_setup(root)
    config = load_config(None, overrides)
    for path in (Path(config.data.root) / "train" / "images").glob("*.png"):
        cv2.imwrite(str(path), textured())
    assets = build_assets(config.flame)
    summary = write_cache(root=config.data.root, split="train", out=root / "cache", size=SIZE, assets=assets)
    return root, overrides, config, assets, summary


def test_cache_gives_the_file_loaders_evaluation_tensors(setup):
    root, _, config, assets, summary = setup
    assert (summary.items, summary.skipped, summary.written) == (6, [], 6)
    files = DAD3DHeadsDataset(root=config.data.root, split="train", assets=assets, input_size=SIZE)
    cached = CachedDataset(root / "cache", input_size=SIZE, split="train", assets=assets)
    assert len(cached) == len(files) == 6
    a, b = collate([files[i] for i in range(6)]), collate([cached[i] for i in range(6)])
    assert a.images.dtype == b.images.dtype == torch.float32
    assert torch.equal(a.images, b.images)
    for key in TARGET_KEYS:
        assert torch.equal(getattr(a.targets, key), getattr(b.targets, key)), key
    assert a.crops == b.crops and a.item_ids == b.item_ids and a.attributes == b.attributes


@pytest.mark.parametrize("augment", [False, True])
def test_training_items_augmented_on_the_device_match_the_file_loader(setup, augment):
    """Same seed, epoch and item: the same random box and similarity, so the same targets; the image
    agrees inside the evaluation crop (it is resampled twice, and zeros replace what lies beyond)."""
    root, _, config, assets, _ = setup
    aug = Augmentation(blur_prob=0.5, noise_std=0.0) if augment else None
    files = DAD3DHeadsDataset(
        root=config.data.root,
        split="train",
        assets=assets,
        input_size=SIZE,
        train=True,
        augmentation=aug,
        seed=3,
    )
    cached = CachedDataset(root / "cache", train=True, augmentation=aug, seed=3)
    for epoch in (0, 1):
        a = collate([files[(epoch, i)] for i in range(6)])
        b = collate([cached[(epoch, i)] for i in range(6)])
        assert b.images.dtype == torch.uint8 and b.augment is not None
        images, targets = batch_to_device(b, torch.device("cpu"))
        assert torch.equal(a.targets.presence, targets.presence)
        for key in ("landmarks", "projected", "rotation", "euler", "vertices"):
            torch.testing.assert_close(getattr(targets, key), getattr(a.targets, key), rtol=0, atol=1e-4)
        inside = (a.images - images).abs()[..., 16:48, 16:48]
        assert float(inside.mean()) < 0.01, float(inside.mean())
    assert not torch.equal(collate([cached[(0, 0)]]).augment.matrix, collate([cached[(1, 0)]]).augment.matrix)


def test_warp_and_photometric_on_the_device_agree_with_opencv():
    rng = np.random.default_rng(0)
    image = textured(SIZE, SIZE).astype(np.float32) / 255.0
    matrix = Augmentation().sample_matrix(rng, SIZE)
    ours = warp_batch(torch.from_numpy(image.transpose(2, 0, 1))[None], torch.from_numpy(matrix)[None])
    theirs = warp(image, matrix, SIZE).transpose(2, 0, 1)
    assert float((ours[0] - torch.from_numpy(theirs)).abs().mean()) < 2e-3
    for sigma in (0.5, 1.0, 1.5):
        blurred = blur_batch(torch.from_numpy(image.transpose(2, 0, 1))[None], torch.tensor([sigma]))[0]
        expected = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma).transpose(2, 0, 1)
        torch.testing.assert_close(blurred, torch.from_numpy(expected), rtol=0, atol=2e-3)
    aug = Augmentation(noise_std=0.0, blur_prob=1.0)
    state = np.random.default_rng(5)
    expected = photometric(image, aug, np.random.default_rng(5))
    from trans3dhead.data.transforms import photometric_params

    brightness, contrast, saturation, sigma, _ = photometric_params(aug, state)
    params = torch.tensor([[brightness, contrast, saturation, sigma, 0.0]], dtype=torch.float32)
    out = photometric_batch(torch.from_numpy(image.transpose(2, 0, 1))[None], params)[0]
    torch.testing.assert_close(out, torch.from_numpy(expected.transpose(2, 0, 1)), rtol=0, atol=3e-3)


def test_training_from_the_cache(setup, tmp_path):
    root, overrides, *_ = setup
    config = load_config(
        None, [*overrides, "train.epochs=1", f"data.cache={root / 'cache'}", "model.marr=learned_mean"]
    )
    result = fit(config, tmp_path / "run")
    assert result.step == 3 and (tmp_path / "run" / "last.pt").is_file()


def test_cache_that_does_not_fit_the_run_is_refused(setup):
    root, _, config, assets, _ = setup
    with pytest.raises(DataError, match=r"made with size=64, this run needs 128"):
        CachedDataset(root / "cache", input_size=128)
    with pytest.raises(DataError, match=r"made with split='train', this run needs 'val'"):
        CachedDataset(root / "cache", split="val")
    with pytest.raises(DataError, match=r"not a cache; no manifest.json"):
        CachedDataset(Path(config.data.root))


def killed_after(count: int):
    """A progress wrapper that interrupts the writer after ``count`` items."""

    def wrap(items):
        for n, item in enumerate(items):
            if n == count:
                raise KeyboardInterrupt
            yield item

    return wrap


def test_writer_resumes_after_a_kill_and_gives_the_same_cache(setup, tmp_path, monkeypatch):
    root, _, config, assets, _ = setup
    monkeypatch.setattr(cache_module, "FLUSH_EVERY", 2)
    args = {"root": config.data.root, "split": "train", "size": SIZE, "assets": assets}
    out = tmp_path / "c"
    with pytest.raises(KeyboardInterrupt):
        write_cache(**args, out=out, progress=killed_after(3))
    assert json.loads((out / "progress.json").read_text())["done"] == 2  # the last record before the kill
    assert not (out / "manifest.json").exists()
    with pytest.raises(DataError, match="incomplete"):
        CachedDataset(out)
    summary = write_cache(**args, out=out)
    assert (summary.items, summary.written) == (6, 4) and not (out / "progress.json").exists()
    for name in ("images", "projected", "box"):
        assert np.array_equal(np.load(out / f"{name}.npy"), np.load(root / "cache" / f"{name}.npy")), name
    assert write_cache(**args, out=out).written == 0
    with pytest.raises(InputError, match=r"made with other settings \(size\)"):
        write_cache(**{**args, "size": 32}, out=out)
    # killed before any row: the folder is still this cache's, and starts again
    early = tmp_path / "early"
    with pytest.raises(KeyboardInterrupt):
        write_cache(**args, out=early, progress=killed_after(0))
    assert json.loads((early / "progress.json").read_text())["done"] == 0
    assert write_cache(**args, out=early).written == 6


def test_writer_refuses_bad_input_with_clear_errors(setup, tmp_path):
    _, _, config, assets, _ = setup
    args = {"root": config.data.root, "split": "train", "assets": assets}
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        write_cache(out=tmp_path / "file", size=SIZE, **args)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="holds other files"):
        write_cache(out=tmp_path / "busy", size=SIZE, **args)
    with pytest.raises(InputError, match="--size must be a positive"):
        write_cache(out=tmp_path / "c", size=0, **args)
    with pytest.raises(DataError, match=r"test\.json: file not found"):
        write_cache(root=config.data.root, split="test", assets=assets, out=tmp_path / "c", size=SIZE)


def test_bad_item_stops_the_writer_or_is_left_out(tmp_path, tiny_assets):
    from dataset_files import write_split

    write_split(tmp_path / "data", "train", tiny_assets, items=3)
    (tmp_path / "data" / "train" / "images" / "train_001.png").write_bytes(b"not a png")
    args = {"root": tmp_path / "data", "split": "train", "size": SIZE, "assets": tiny_assets}
    with pytest.raises(DataError, match=r"train_001\.png: not a decodable image"):
        write_cache(out=tmp_path / "strict", **args)
    summary = write_cache(out=tmp_path / "lenient", skip_bad=True, **args)
    assert (summary.items, summary.skipped) == (2, ["train_001"])
    cached = CachedDataset(tmp_path / "lenient", train=True)
    assert [cached[i].item_id for i in range(len(cached))] == ["train_000", "train_002"]
    files = DAD3DHeadsDataset(
        root=tmp_path / "data", split="train", assets=tiny_assets, input_size=SIZE, train=True
    )
    # the random streams follow the item's index in the split, as the file loader's do
    file_box = files[2].crop.box
    cached_box = cached[1].crop.points_to_image(
        collate([cached[1]]).augment.box.reshape(2, 2).double().numpy()
    )
    np.testing.assert_allclose(cached_box.reshape(4), file_box, atol=1e-3)


def test_cli_data_cache(setup, tmp_path, capsys):
    _, overrides, config, *_ = setup
    values = dict(o.split("=", 1) for o in overrides if o.startswith("flame."))
    args = [config.data.root, "--flame", values["flame.file"], "--aux", values["flame.aux"]]
    out = str(tmp_path / "cli")
    assert main(["data", "cache", *args, "--split", "train", "--size", "64", "--out", out]) == 0
    assert "6 items (6 written now)" in capsys.readouterr().out
    assert main(["data", "cache", *args, "--size", "32", "--out", out]) == 2
    assert "made with other settings (size)" in capsys.readouterr().err

"""DAD-3DHeads reader on a hand-built mini dataset (tiny FLAME model): targets, crop, augmentation, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from dataset_files import HEIGHT, WIDTH, camera, write_split

from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
from trans3dhead.data.io import DataError, image_size
from trans3dhead.data.transforms import Augmentation
from trans3dhead.geometry.rotation import matrix_to_euler


@pytest.fixture
def mini(tmp_path, tiny_assets):
    write_split(tmp_path, "val", tiny_assets)
    return tmp_path


def expected_image_points(assets, points):
    mv, proj = camera()
    homo = np.concatenate([points, np.ones((len(points), 1))], 1) @ mv.T
    clip = homo @ proj.T
    xy = clip[:, :2] / clip[:, 3:]
    return np.stack([xy[:, 0], HEIGHT - xy[:, 1]], 1)


def test_eval_item_targets(mini, tiny_assets):
    ds = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64)
    sample = ds[1]
    assert sample.image.shape == (3, 64, 64) and sample.image.dtype == np.float32
    t = sample.targets
    lmk_image = expected_image_points(tiny_assets, tiny_assets.landmarks(tiny_assets.model.v_template))
    np.testing.assert_allclose(t["landmarks"] * 64, sample.crop.points_to_crop(lmk_image), atol=1e-3)
    vert_image = expected_image_points(tiny_assets, tiny_assets.model.v_template)
    np.testing.assert_allclose(t["projected"], sample.crop.points_to_crop(vert_image), atol=1e-3)
    np.testing.assert_allclose(t["rotation"], np.diag([1.0, -1.0, -1.0]), atol=1e-7)
    np.testing.assert_allclose(t["euler"], [0.0, 0.0, 0.0], atol=1e-4)  # frontal
    x0, y0, x1, y1 = sample.crop.box
    inside = (lmk_image[:, 0] > x0) & (lmk_image[:, 0] < x1) & (lmk_image[:, 1] > y0) & (lmk_image[:, 1] < y1)
    np.testing.assert_array_equal(t["presence"], inside)
    # fixed evaluation extension: 0.1 of w/h on every side
    assert sample.crop.box == pytest.approx((44.0, 24.0, 116.0, 96.0))
    assert sample.attributes == {"pose": "front", "quality": "hq"}


def test_collate_batch(mini, tiny_assets):
    ds = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64)
    batch = collate([ds[0], ds[1], ds[2]])
    assert batch.images.shape == (3, 3, 64, 64)
    assert batch.targets.landmarks.shape == (3, 68, 2)
    assert batch.targets.vertices.shape == (3, 40, 3)
    assert batch.targets.presence.dtype == torch.bool
    assert batch.item_ids == ["val_000", "val_001", "val_002"] and batch.num_skipped == 0


def test_training_extension_is_random_but_seeded(mini, tiny_assets):
    a = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64, train=True, seed=3)
    b = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64, train=True, seed=3)
    assert a[0].crop.box == b[0].crop.box
    a.set_epoch(1)
    assert a[0].crop.box != b[0].crop.box
    x0, y0, x1, y1 = a[0].crop.box
    assert 50 - 0.15 * 60 <= x0 <= 50 - 0.05 * 60 and 110 + 0.05 * 60 <= x1 <= 110 + 0.15 * 60


def test_augmentation_is_consistent(mini, tiny_assets):
    plain = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64, train=True, seed=5)
    aug = Augmentation(rotate_deg=30.0, scale=(0.8, 1.2), shift=0.1, color=0.0, blur_prob=0.0, noise_std=0.0)
    augmented = DAD3DHeadsDataset(
        root=mini, split="val", assets=tiny_assets, input_size=64, train=True, seed=5, augmentation=aug
    )
    p, q = plain[0], augmented[0]
    assert p.crop == q.crop  # the same random extension: augmentation draws after it
    # recover the similarity from the two landmark sets and check it maps every projected vertex too
    src, dst = p.targets["landmarks"] * 64, q.targets["landmarks"] * 64
    design = np.concatenate([src, np.ones((68, 1))], 1)
    matrix, *_ = np.linalg.lstsq(design, dst, rcond=None)
    mapped = np.concatenate([p.targets["projected"], np.ones((40, 1))], 1) @ matrix
    np.testing.assert_allclose(mapped, q.targets["projected"], atol=1e-3)
    # the GT rotation turned by the same in-plane rotation: roll changes, R stays a rotation
    r = q.targets["rotation"].astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)
    lin = matrix[:2].T / np.sqrt(abs(np.linalg.det(matrix[:2].T)))
    np.testing.assert_allclose(r[:2, :2], lin @ p.targets["rotation"][:2, :2], atol=1e-4)
    angle = np.degrees(np.arctan2(lin[1, 0], lin[0, 0]))
    roll_change = matrix_to_euler(torch.from_numpy(r))[0].item() - p.targets["euler"][0]
    assert abs(abs(roll_change) - abs(angle)) < 1e-2


def test_png_size_from_header(mini):
    assert image_size(mini / "val" / "images" / "val_000.png") == (HEIGHT, WIDTH)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing_image", r"field 'img_path' names a missing file: val/images/val_001\.png"),
        ("corrupt_png", r"val_001\.png: not a decodable image"),
        ("truncated_json", r"val_001\.json: invalid JSON"),
        ("wrong_shape", r"val_001\.json: field 'vertices' has shape \(39, 3\), expected 40x3"),
        ("nan", r"val_001\.json: field 'model_view_matrix' contains non-finite values"),
    ],
)
def test_bad_items_name_file_and_field(mini, tiny_assets, damage, message):
    image = mini / "val" / "images" / "val_001.png"
    ann = mini / "val" / "annotations" / "val_001.json"
    data = json.loads(ann.read_text())
    if damage == "missing_image":
        image.unlink()
    elif damage == "corrupt_png":
        image.write_bytes(image.read_bytes()[:40])
    elif damage == "truncated_json":
        ann.write_text(ann.read_text()[:100])
    elif damage == "wrong_shape":
        ann.write_text(json.dumps({**data, "vertices": data["vertices"][:39]}))
    elif damage == "nan":
        data["model_view_matrix"][0][0] = float("nan")
        ann.write_text(json.dumps(data).replace("NaN", "NaN"))
    ds = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64)
    with pytest.raises(DataError, match=message):
        ds[1]
    skipping = DAD3DHeadsDataset(root=mini, split="val", assets=tiny_assets, input_size=64, skip_bad=True)
    batch = collate([skipping[i] for i in range(3)])
    assert batch.item_ids == ["val_000", "val_002"] and batch.num_skipped == 1
    assert collate([skipping[1]]) is None


def test_bad_metadata(tmp_path, tiny_assets):
    entries = write_split(tmp_path, "val", tiny_assets, items=2)
    meta = tmp_path / "val" / "val.json"
    meta.write_text(json.dumps([entries[0], {**entries[1], "bbox": [1, 2, 0, 4]}]))
    with pytest.raises(DataError, match=r"val\.json: entry 1 \(val_001\): field 'bbox'"):
        DAD3DHeadsDataset(root=tmp_path, split="val", assets=tiny_assets)
    meta.write_text(json.dumps([entries[0], entries[0]]))
    with pytest.raises(DataError, match="duplicate item_id 'val_000'"):
        DAD3DHeadsDataset(root=tmp_path, split="val", assets=tiny_assets)
    meta.write_text(json.dumps([{k: v for k, v in entries[0].items() if k != "img_path"}]))
    with pytest.raises(DataError, match="entry 0: missing field 'img_path'"):
        DAD3DHeadsDataset(root=tmp_path, split="val", assets=tiny_assets)


def test_split_without_annotations(tmp_path, tiny_assets):
    entries = write_split(tmp_path, "test", tiny_assets, items=2)
    (tmp_path / "test" / "test.json").write_text(
        json.dumps([{k: v for k, v in e.items() if k != "annotation_path"} for e in entries])
    )
    ds = DAD3DHeadsDataset(root=tmp_path, split="test", assets=tiny_assets, input_size=64, annotations=False)
    batch = collate([ds[0], ds[1]])
    assert batch.targets is None and batch.images.shape == (2, 3, 64, 64)


def test_one_image_reader_applies_exif_orientation(tmp_path):
    from PIL import Image

    from trans3dhead.data.io import ImageReadError, read_image
    from trans3dhead.inference.inputs import read_image as predict_read_image

    assert predict_read_image is read_image
    pixels = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.png"
    image.save(path, exif=exif.tobytes())
    np.testing.assert_array_equal(read_image(path), np.rot90(pixels, k=-1))
    with pytest.raises(ImageReadError, match=r"missing\.png: image file not found"):
        read_image(tmp_path / "missing.png")

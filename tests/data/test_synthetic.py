"""``trans3dhead synth``: format, GT landmarks on the rendered faces, determinism, resume, attributes, errors.

A reduced embedded head model and 96 px images keep the file fast; one dataset is generated per module
and shared (tests that write copy it first).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from trans3dhead.cli import main
from trans3dhead.cli import synth as cli_synth
from trans3dhead.data.check import check_split
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset
from trans3dhead.data.io import ATTRIBUTE_VALUES, read_annotation, read_image, read_metadata
from trans3dhead.data.synthetic import (
    MIN_SIZE,
    DatasetStore,
    HeadSynthesizer,
    SceneOptions,
    generate_dataset,
    item_seed,
)
from trans3dhead.data.synthetic import attributes as rules
from trans3dhead.data.synthetic.camera import PinholeCamera, model_view_matrix, screen_points
from trans3dhead.data.synthetic.encoding import annotation_text, format_rows, quantize
from trans3dhead.data.synthetic.gallery import gt_landmarks, make_gallery
from trans3dhead.data.synthetic.sampling import POSE_MIX, check_pose_mix, sample_light, sample_pose
from trans3dhead.data.synthetic.store import BOOKKEEPING_DIR
from trans3dhead.data.synthetic.video import VideoOptions, VideoSynthesizer
from trans3dhead.errors import InputError
from trans3dhead.flame import embedded_assets
from trans3dhead.geometry import euler_to_matrix, gt_project, gt_rotation
from trans3dhead.render import Light

SIZE = 96
SEED = 7
COUNTS = {"train": 4, "val": 2, "test": 2}
OPTIONS = SceneOptions(size=SIZE)


@pytest.fixture(scope="module")
def assets():
    return embedded_assets(num_vertices_target=1500, num_shape=20, num_expression=10)


def generate(root, assets, counts=COUNTS, workers=1, seed=SEED, options=OPTIONS):
    return list(
        generate_dataset(root, assets=assets, counts=counts, seed=seed, options=options, workers=workers)
    )


def tree(root: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under root (hidden bookkeeping included)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, assets):
    root = tmp_path_factory.mktemp("synth") / "data"
    events = generate(root, assets)
    assert len(events) == sum(COUNTS.values()) and not any(e.skipped for e in events)
    return root


def test_dataset_passes_check_and_reads(dataset, assets):
    for split, count in COUNTS.items():
        assert (
            check_split(dataset, split, num_vertices=assets.model.num_vertices) == []
        )  # no errors or warnings
        entries = read_metadata(dataset, split)
        assert [e["item_id"] for e in entries] == [f"{split}_{i:06d}" for i in range(count)]
        for entry in entries:
            assert entry["img_path"] == f"{split}/images/{entry['item_id']}.png"
            assert entry["annotation_path"] == f"{split}/annotations/{entry['item_id']}.json"
            assert set(entry["attributes"]) == set(ATTRIBUTE_VALUES)
            assert all(entry["attributes"][k] in v for k, v in ATTRIBUTE_VALUES.items())
    assert main(["data", "check", str(dataset)]) == 0
    train = DAD3DHeadsDataset(root=dataset, split="train", assets=assets, input_size=64)
    sample = train[0]
    assert sample.image.shape == (3, 64, 64) and sample.targets["vertices"].shape == (
        assets.model.num_vertices,
        3,
    )
    # the test split has annotations too; readers can also ignore them (the real test split has none)
    blind = DAD3DHeadsDataset(root=dataset, split="test", assets=assets, input_size=64, annotations=False)
    assert blind[1].targets is None and blind[1].attributes["pose"] in ATTRIBUTE_VALUES["pose"]


def _landmarks_on_face(item, landmarks: np.ndarray, assets) -> tuple[int, int]:
    """(landmarks checked, landmarks on the rendered face) over the visible, unoccluded ones.

    The 51 inner points must fall on a pixel of the face region (triangles of the face / eyeball subsets);
    the 17 contour points sit on the face's border, so for them any head pixel counts.  One pixel of
    slack (a 3 x 3 window) absorbs rounding at silhouettes.
    """
    corners = assets.model.faces[assets.aux.landmark_faces]  # (68, 3) vertices of each landmark's triangle
    face, head = np.pad(item.face_mask, 1), np.pad(item.head_mask, 1)
    checked = hits = 0
    for k, ((x, y), tri) in enumerate(zip(landmarks, corners, strict=True)):
        col, row = int(round(x)), int(round(y))
        if not (0 <= col < SIZE and 0 <= row < SIZE) or not item.visible[tri].all():
            continue
        if item.occluder_mask[row, col]:
            continue
        checked += 1
        region = head if k < 17 else face
        hits += bool(region[row : row + 3, col : col + 3].any())  # 3 x 3 window (padded frame)
    return checked, hits


def test_gt_landmarks_fall_on_the_rendered_face(dataset, assets):
    synth = HeadSynthesizer(assets=assets, options=OPTIONS)
    checked = hits = shifted_hits = 0
    for split, count in COUNTS.items():
        reader = DAD3DHeadsDataset(root=dataset, split=split, assets=assets, input_size=SIZE)
        for index in range(count):
            item = synth.generate(item_seed(SEED, split, index))
            sample = reader[index]
            saved = read_image(dataset / split / "images" / f"{sample.item_id}.png")
            np.testing.assert_array_equal(saved, item.image)  # the masks below belong to the saved image
            # GT landmarks as the reader computes them (crop frame), back to original pixels
            landmarks = sample.crop.points_to_image(sample.targets["landmarks"].astype(np.float64) * SIZE)
            c, h = _landmarks_on_face(item, landmarks, assets)
            checked, hits = checked + c, hits + h
            shifted_hits += _landmarks_on_face(item, landmarks + [SIZE / 6, 0.0], assets)[1]
    assert checked >= 100  # enough visible landmarks for the check to mean something
    assert hits == checked
    assert shifted_hits < 0.5 * checked  # the check does catch landmarks off the face


def test_annotation_matches_render_exactly(dataset, assets):
    synth = HeadSynthesizer(assets=assets, options=OPTIONS)
    item = synth.generate(item_seed(SEED, "train", 1))
    ann = read_annotation(dataset / "train" / "annotations" / "train_000001.json")
    np.testing.assert_array_equal(ann.vertices, item.vertices)  # file numbers == rendered numbers
    np.testing.assert_array_equal(ann.model_view, item.model_view)
    pixels = gt_project(
        torch.from_numpy(ann.vertices),
        torch.from_numpy(ann.model_view),
        torch.from_numpy(ann.projection),
        SIZE,
    )
    np.testing.assert_allclose(pixels.numpy(), item.screen[:, :2], atol=1e-9)
    head = item.screen[assets.aux.subsets["head"], :2].clip(0, SIZE)
    box = [*head.min(0), *(head.max(0) - head.min(0))]
    entry = read_metadata(dataset, "train")[1]
    np.testing.assert_allclose(entry["bbox"], box, atol=0.011)  # rounded to 2 decimals
    # pose attribute recomputed from the stored model-view matrix
    angles = rules.pose_angles(gt_rotation(torch.from_numpy(ann.model_view)).numpy())
    assert entry["attributes"]["pose"] == rules.pose_attribute(*angles)


def test_camera_conventions():
    camera = PinholeCamera(focal=200.0, height=80, width=100)
    rotation = euler_to_matrix(torch.tensor([10.0, -20.0, 35.0], dtype=torch.float64)).numpy()
    centre = np.array([0.0, 0.01, 0.05])
    target = camera.unproject(30.0, 50.0, 1.5)
    mv = model_view_matrix(rotation=rotation, centre=centre, translation=target)
    np.testing.assert_allclose(gt_rotation(torch.from_numpy(mv)).numpy(), rotation, atol=1e-12)
    np.testing.assert_allclose(
        screen_points(centre[None], mv, camera.projection_matrix(), 80)[0], [30, 50, 1.5]
    )
    frontal = model_view_matrix(rotation=np.diag([1.0, -1.0, -1.0]), centre=centre, translation=target)
    np.testing.assert_allclose(frontal[:3, :3], np.eye(3))  # a frontal head: identity MV rotation
    nose = screen_points(centre[None] + [0, 0, 0.1], frontal, camera.projection_matrix(), 80)[0]
    assert nose[2] < 1.5  # FLAME +z (the face) points at the camera
    with pytest.raises(ValueError, match="focal must be a positive number"):
        PinholeCamera(focal=0.0, height=8, width=8)


def test_quantized_numbers_round_trip_exactly():
    values = np.random.default_rng(0).normal(size=(50, 3)) * np.array([1e-4, 0.05, 300.0])
    values[0] = [0.0, -1.0, 123456789.0]
    values[1, 0] = 1e-310  # subnormal: written as 0
    q = quantize(values, 6)
    np.testing.assert_array_equal(np.array(json.loads(format_rows(q, 6))), q)
    np.testing.assert_array_equal(quantize(q, 6), q)
    np.testing.assert_allclose(q, values, rtol=5e-6, atol=1e-300)
    text = annotation_text(vertices=q, model_view=np.eye(4), projection=np.eye(4))
    assert list(json.loads(text)) == ["vertices", "model_view_matrix", "projection_matrix"]


def test_same_output_whatever_the_workers(dataset, assets, tmp_path):
    generate(tmp_path / "two", assets, workers=2)
    assert tree(tmp_path / "two") == tree(dataset)


def test_resume_after_interruption(dataset, assets, tmp_path):
    root = tmp_path / "resumed"
    events = generate_dataset(root, assets=assets, counts=COUNTS, seed=SEED, options=OPTIONS)
    done = [next(events) for _ in range(3)]
    events.close()  # interrupted after three items
    assert not (root / "train" / "train.json").exists()  # no split file lists an incomplete split
    store = DatasetStore(root)
    assert [store.is_complete("train", e.item_id) for e in done] == [True] * 3
    # a half-written fourth item: image renamed into place, annotation still a temporary file
    shutil.copy(
        dataset / "train" / "images" / "train_000003.png", root / "train" / "images" / "train_000003.png"
    )
    (root / "train" / "annotations" / ".train_000003.json.123.tmp").write_text('{"vertic')
    assert not store.is_complete("train", "train_000003")
    before = (root / "train" / "images" / "train_000000.png").stat().st_mtime_ns
    events = generate(root, assets)
    assert [e.skipped for e in events[:4]] == [True, True, True, False]
    assert (root / "train" / "images" / "train_000000.png").stat().st_mtime_ns == before  # not regenerated
    assert tree(root) == tree(dataset)


def test_rerun_regenerates_items_damaged_since(dataset, assets, tmp_path):
    root = tmp_path / "damaged"
    shutil.copytree(dataset, root)
    image = root / "train" / "images" / "train_000001.png"
    image.write_bytes(image.read_bytes()[:-100])  # truncated after the run finished
    annotation = root / "val" / "annotations" / "val_000001.json"
    annotation.write_text(annotation.read_text()[:-10])
    events = generate(root, assets)
    assert [e.item_id for e in events if not e.skipped] == ["train_000001", "val_000001"]
    assert tree(root) == tree(dataset)


def test_records_without_sizes_are_checked_by_content(dataset, assets, tmp_path):
    """Datasets written before the records held file sizes: an intact item is kept, a damaged one redone."""
    root = tmp_path / "older"
    shutil.copytree(dataset, root)
    for record in (root / ".synth").glob("*/*.json"):
        entry = json.loads(record.read_text())
        del entry["_files"]
        record.write_text(json.dumps(entry, separators=(",", ":")))
    image = root / "test" / "images" / "test_000000.png"
    image.write_bytes(image.read_bytes()[:-12])  # no IEND chunk
    events = generate(root, assets)
    assert [e.item_id for e in events if not e.skipped] == ["test_000000"]
    assert tree(root / "test" / "images") == tree(dataset / "test" / "images")


def test_killed_process_resumes(dataset, assets, tmp_path):
    model = tmp_path / "assets.pkl"
    model.write_bytes(pickle.dumps(assets))
    root = tmp_path / "killed"
    script = (
        "import pickle, sys\n"
        "from trans3dhead.data.synthetic import SceneOptions, generate_dataset\n"
        f"assets = pickle.loads(open({str(model)!r}, 'rb').read())\n"
        f"for e in generate_dataset({str(root)!r}, assets=assets, counts={COUNTS!r}, seed={SEED},"
        f" options=SceneOptions(size={SIZE})):\n"
        "    print(e.item_id, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(5)]  # train done, one val item done
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lines[-1].strip() == "val_000000"
    listed = read_metadata(root, "train")  # the finished split's file lists only complete items
    assert all((root / e["img_path"]).is_file() and (root / e["annotation_path"]).is_file() for e in listed)
    assert not (root / "val" / "val.json").exists()
    generate(root, assets)
    assert tree(root) == tree(dataset)


def test_pose_angles_and_pose_rule():
    rng = np.random.default_rng(1)
    for _ in range(50):
        euler = np.array([rng.uniform(-45, 45), rng.uniform(-70, 70), rng.uniform(-180, 180)])
        rotation = euler_to_matrix(torch.from_numpy(euler)).numpy()
        np.testing.assert_allclose(rules.pose_angles(rotation), euler, atol=1e-6)
    assert rules.pose_attribute(0.0, 0.0, 120.0) == "atypical"  # the back of the head
    assert rules.pose_attribute(0.0, 0.0, -91.0) == "atypical"
    assert rules.pose_attribute(5.0, 50.0, 0.0) == "atypical"
    assert rules.pose_attribute(41.0, 0.0, 0.0) == "atypical"
    assert rules.pose_attribute(20.0, -25.0, 29.0) == "front"
    assert rules.pose_attribute(0.0, 10.0, 60.0) == "sided"


def test_pose_sampling_covers_the_circle_weighted_to_frontal():
    rng = np.random.default_rng(0)
    roll, pitch, yaw = np.array([sample_pose(rng) for _ in range(3000)]).T
    assert np.abs(roll).max() <= 45 and np.abs(pitch).max() <= 70 and np.abs(yaw).max() <= 180
    assert 0.04 < np.mean(np.abs(yaw) > 90) < 0.12  # back views: 15% draw yaw over the full circle
    assert np.mean(np.abs(yaw) < 30) > 0.45 and np.abs(pitch).max() > 60 and np.abs(roll).max() > 40
    assert np.histogram(yaw, bins=12, range=(-180, 180))[0].min() > 0  # every 30-degree sector occurs


def _reference_pose(rng: np.random.Generator) -> np.ndarray:
    """The sampler as it was before ``pose_mix`` existed (fixed 0.55 / 0.85 thresholds)."""
    mode = rng.uniform()
    if mode < 0.55:
        roll, pitch, yaw = rng.normal(0.0, 10.0), rng.normal(0.0, 15.0), rng.normal(0.0, 25.0)
    elif mode < 0.85:
        roll, pitch, yaw = rng.normal(0.0, 20.0), rng.normal(0.0, 30.0), rng.uniform(-90.0, 90.0)
    else:
        roll, pitch, yaw = rng.uniform(-45.0, 45.0), rng.uniform(-70.0, 70.0), rng.uniform(-180.0, 180.0)
    return np.array([np.clip(roll, -45.0, 45.0), np.clip(pitch, -70.0, 70.0), np.clip(yaw, -180.0, 180.0)])


def test_pose_mix_sets_the_mode_shares_and_its_default_draws_as_before():
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(2000):  # existing datasets stay reproducible: the default mix draws the same poses
        np.testing.assert_array_equal(sample_pose(a), _reference_pose(b))
    rng = np.random.default_rng(0)
    yaw = np.array([sample_pose(rng, (0.4, 0.3, 0.3)) for _ in range(4000)])[:, 2]
    assert 0.12 < np.mean(np.abs(yaw) > 90) < 0.18  # half of the 30% "anything" draws: back views
    yaw = np.array([sample_pose(rng, (0.0, 0.0, 1.0)) for _ in range(2000)])[:, 2]
    assert 0.45 < np.mean(np.abs(yaw) > 90) < 0.55
    yaw = np.array([sample_pose(rng, (1.0, 0.0, 0.0)) for _ in range(2000)])[:, 2]
    assert np.mean(np.abs(yaw) > 90) < 0.002 and 20 < yaw.std() < 30  # near-frontal only: N(0, 25)
    assert check_pose_mix([0.4, 0.3, 0.3]) == (0.4, 0.3, 0.3) and SceneOptions().pose_mix == POSE_MIX
    assert SceneOptions(size=SIZE, pose_mix=[0.2, 0.3, 0.5]).pose_mix == (0.2, 0.3, 0.5)  # JSON lists
    bad_mixes = ([0.5, 0.5], [0.5, 0.6, 0.1], [-0.1, 0.6, 0.5], [float("nan"), 0.5, 0.5], "abc")
    bad_mixes += ([True, 0, 0], 3)
    for bad in bad_mixes:
        with pytest.raises(InputError, match=r"pose_mix"):
            SceneOptions(size=SIZE, pose_mix=bad)


def test_pose_mix_is_a_dataset_setting(assets, tmp_path, capsys):
    root = tmp_path / "mix"
    mixed = SceneOptions(size=SIZE, pose_mix=(0.4, 0.3, 0.3))
    generate(root, assets, counts={"train": 1}, options=mixed)
    manifest = json.loads((root / BOOKKEEPING_DIR / "manifest.json").read_text())
    assert manifest["pose_mix"] == [0.4, 0.3, 0.3]
    with pytest.raises(InputError, match=r"other settings \(pose_mix: \[0.4, 0.3, 0.3\] -> None\)"):
        generate(root, assets, counts={"train": 1})
    plain = tmp_path / "plain"  # the default mix is not written: datasets made before the option resume
    generate(plain, assets, counts={"train": 1})
    assert "pose_mix" not in json.loads((plain / BOOKKEEPING_DIR / "manifest.json").read_text())
    with pytest.raises(InputError, match="pose_mix .* applies to image datasets"):
        VideoSynthesizer(assets=assets, scene=mixed, video=VideoOptions(frames=3))


def test_back_view_item_is_atypical(assets):
    synth = HeadSynthesizer(assets=assets, options=SceneOptions(size=MIN_SIZE))
    items = (synth.generate(item_seed(0, "x", i)) for i in range(300))
    item = next(it for it in items if abs(it.head.euler[2]) > 100)  # sampled yaw: the back of the head
    assert item.attributes["pose"] == "atypical"
    roll, pitch, yaw = rules.pose_angles(gt_rotation(torch.from_numpy(item.model_view)).numpy())
    assert abs(yaw) > 90 and abs(pitch) <= 90
    np.testing.assert_allclose([roll, pitch, yaw], item.head.euler, atol=1e-4)


def test_other_attribute_rules():
    assert rules.expression_attribute(np.full(10, 1.2), np.zeros(3)) == "true"
    assert rules.expression_attribute(np.full(10, 0.5), np.array([0.2, 0.0, 0.0])) == "true"  # open jaw
    assert rules.expression_attribute(np.full(10, 0.5), np.array([0.05, 0.0, 0.0])) == "false"
    assert [rules.gender_attribute(np.array([v, 0.0])) for v in (0.6, -0.6, 0.1)] == [
        "male",
        "female",
        "undefined",
    ]
    assert [rules.age_attribute(np.array([0.0, v])) for v in (-1.5, 0.0, 1.0, 2.0)] == [
        "child",
        "young",
        "middle_aged",
        "senior",
    ]
    assert rules.occlusion_attribute(0.2) == "true" and rules.occlusion_attribute(0.19) == "false"
    rng = np.random.default_rng(0)
    assert all(rules.is_standard_light(Light.random(rng)) for _ in range(200))
    assert not rules.is_standard_light(Light(color=(0.9, 0.3, 0.3)))
    assert not rules.is_standard_light(Light(direction=(1.0, 0.0, 0.0)))  # grazing
    lights = [sample_light(rng) for _ in range(300)]
    share = np.mean([rules.is_standard_light(light) for light in lights])
    assert 0.6 < share < 0.8


def test_occlusion_attribute_follows_hidden_fraction(assets):
    synth = HeadSynthesizer(assets=assets, options=SceneOptions(size=64, occluder_prob=1.0))
    fractions = []
    for index in range(12):
        item = synth.generate(item_seed(3, "occ", index))
        face = item.face_mask.sum()
        hidden = (item.face_mask & item.occluder_mask).sum() / face if face else 0.0
        assert item.hidden_fraction == pytest.approx(hidden)
        assert item.attributes["occlusions"] == ("true" if hidden >= 0.2 else "false")
        fractions.append(hidden)
    assert max(fractions) >= 0.2 and min(fractions) < 0.2  # both outcomes occur


def test_bad_arguments(tmp_path, assets, capsys):
    afile = tmp_path / "file"
    afile.write_text("x")
    for argv, message in [
        (["--train", "-1"], "argument --train: must be an integer >= 0, got -1"),
        (["--train", "2", "--size", "8"], f"argument --size: must be an integer >= {MIN_SIZE}, got 8"),
        (["--train", "2", "--workers", "0"], "argument --workers: must be an integer >= 1, got 0"),
        (["--train", "2", "--seed", "-3"], "argument --seed: must be an integer >= 0, got -3"),
        (["--val", "x"], "argument --val: must be an integer >= 0, got 'x'"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["synth", str(tmp_path / "out"), *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert cli_synth.MIN_SIZE == MIN_SIZE  # the CLI's copy (kept import-free for a fast --help)
    assert main(["synth", str(tmp_path / "out")]) == 2
    assert "nothing to generate" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "out"), "--train", "1", "--pose-mix", "0.5", "0.6", "0.1"]) == 2
    assert "pose_mix shares ('near-frontal', 'wide', 'anything') must lie in [0, 1] and sum to 1" in (
        capsys.readouterr().err
    )
    assert main(["synth", str(tmp_path / "out"), "--video", "1", "--pose-mix", "0.4", "0.3", "0.3"]) == 2
    assert "--pose-mix sets the poses of image datasets" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["synth", str(afile), "--train", "1"]) == 2  # checked before the head model is loaded
    assert f"OUT {afile}: it is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"is a file, not a directory"):
        generate(afile, assets)
    with pytest.raises(ValueError, match=r"item count of split 'train' must be an integer >= 0, got -2"):
        generate(tmp_path / "a", assets, counts={"train": -2})
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        generate(tmp_path / "a", assets, workers=0)
    with pytest.raises(ValueError, match="size must be an integer >= 32 pixels, got 16"):
        SceneOptions(size=16)


def test_cli_synth(tmp_path, assets, monkeypatch, capsys, dataset):
    monkeypatch.setattr("trans3dhead.flame.load_assets", lambda flame=None, aux=None: assets)
    out = tmp_path / "cli"
    argv = [
        "synth",
        str(out),
        "--train",
        "4",
        "--val",
        "2",
        "--test",
        "2",
        "--size",
        str(SIZE),
        "--seed",
        str(SEED),
    ]
    assert main(argv) == 0
    assert "8 images generated, 0 already complete" in capsys.readouterr().out
    assert tree(out) == tree(dataset)
    assert main(argv) == 0  # a finished dataset: nothing to do
    assert "0 images generated, 8 already complete" in capsys.readouterr().out
    assert main([*argv[:-1], "8"]) == 2  # another seed in the same folder
    assert "generated with other settings (seed: 7 -> 8)" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    (foreign / "val").mkdir(parents=True)
    (foreign / "val" / "val.json").write_text("[]")
    assert main(["synth", str(foreign), "--val", "1"]) == 2
    assert "holds a dataset not made by trans3dhead synth" in capsys.readouterr().err


def test_gallery(dataset, assets, tmp_path):
    path = make_gallery(dataset, tmp_path / "g.png", assets=assets, split="train", count=3, columns=2)
    sheet = read_image(path)
    assert sheet.shape[1] == 2 * SIZE and sheet.shape[0] > 2 * SIZE
    ann = read_annotation(dataset / "train" / "annotations" / "train_000000.json")
    points = gt_landmarks(assets, ann.vertices, ann.model_view, ann.projection, SIZE)
    expected = gt_project(
        torch.from_numpy(assets.landmarks(ann.vertices)),
        torch.from_numpy(ann.model_view),
        torch.from_numpy(ann.projection),
        SIZE,
    )
    np.testing.assert_allclose(points, expected.numpy(), atol=1e-9)
    assert os.path.getsize(path) > 0


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError, match=r"expected a finite \(N, C\) array"):
        format_rows(np.array([[0.0, np.nan]]), 6)


def test_quantize_is_exact_for_tiny_and_huge_values():
    """quantize(v) must equal parsing the digits format_rows prints, also where 10**k is not exact."""
    import json as stdjson

    from trans3dhead.data.synthetic.encoding import format_rows, quantize

    rng = np.random.default_rng(0)
    values = rng.normal(size=(4000, 3)) * 10.0 ** rng.integers(-30, 26, size=(4000, 3))
    for digits in (6, 9):
        q = quantize(values, digits)
        np.testing.assert_array_equal(np.array(stdjson.loads(format_rows(q, digits))), q)
